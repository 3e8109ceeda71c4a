"""The dashboard's panels: what each one shows and the SQL that computes it (pure).

Every panel is one read over the raw tables, counted by event id (a replayed event is one
event, as in the views of ``analytics.schema``): by a 64-bit hash of the id, which counts twice
as fast as the 32-character string and is exact unless two events of the range share a hash
(odds about 1 in 10 million at a million events; measured on a million completions, the
counts equal the string ids'). The tenant is never named here: the engine
confines every read to the key's tenant (``analytics.scope``), so the same SQL serves an
analyst (one tenant) and an operator (all of them). Filter values are checked against a plain
pattern and quoted with :func:`analytics.scope.literal` before they reach the text.

Definitions (shown under each panel, and in docs/ANALYTICS.md):

- *active user*: sent at least one request (completion or task) that day; weekly and monthly
  count the users active in the 7 and 30 days up to that day;
- *acceptance rate*: accepted (``accepted`` + ``partial``) / (accepted + not accepted
  (``rejected`` + ``dismissed``)), as the ``acceptance_daily`` view defines it, over the
  feedback on completions only (the view also counts the feedback on tasks).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from analytics.schema import (
    COMPLETIONS_TABLE,
    FEEDBACK_TABLE,
    PERSISTENCE_TABLE,
    SUGGESTIONS_TABLE,
)
from analytics.scope import literal
from schemas.editors import EDITORS
from schemas.errors import AssistantError

#: The longest range one request may ask for (the store keeps 400 days by default).
MAX_DAYS = 400
DEFAULT_DAYS = 28
_VALUE = re.compile(r"^[A-Za-z0-9_.:+#\-]{1,64}$")
ACCEPTED = "('accepted', 'partial')"
NOT_ACCEPTED = "('rejected', 'dismissed')"


class FilterError(AssistantError, ValueError):
    """A filter parameter is malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What every panel is narrowed to: UTC days ``since``..``until`` (both included) and,
    optionally, one language, editor and model."""

    since: date
    until: date
    language: str | None = None
    editor: str | None = None
    model: str | None = None

    @property
    def days(self) -> list[date]:
        return [self.since + timedelta(days=n) for n in range((self.until - self.since).days + 1)]


def parse_filters(query: Mapping[str, str], today: date) -> Filters:
    """Filters from a request's query string (``since``, ``until``: ``YYYY-MM-DD``; default the
    last 28 days up to ``today``), or a :class:`FilterError` naming the bad parameter."""
    def day(name: str, default: date) -> date:
        raw = query.get(name, "").strip()
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise FilterError(f"{name}: {raw[:40]!r} is not a date (YYYY-MM-DD)") from None

    until = day("until", today)
    since = day("since", until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        raise FilterError(f"since: {since} is after until ({until})")
    if (until - since).days + 1 > MAX_DAYS:
        raise FilterError(f"since: the range is {(until - since).days + 1} days; at most "
                          f"{MAX_DAYS} may be asked at once")
    values: dict[str, str | None] = {}
    for name in ("language", "editor", "model"):
        raw = query.get(name, "").strip()
        if raw and not _VALUE.fullmatch(raw):
            raise FilterError(f"{name}: {raw[:40]!r} is not a plain name (letters, digits, "
                              "._:+#-, at most 64)")
        values[name] = raw or None
    if values["editor"] is not None and values["editor"] not in EDITORS:
        raise FilterError(f"editor: {values['editor']!r} is not one of {', '.join(EDITORS)}")
    return Filters(since, until, values["language"], values["editor"], values["model"])


def day_range(filters: Filters, column: str = "received_at", before: int = 0) -> str:
    """``column`` inside the filters' days (``before`` more days ahead of ``since``)."""
    start = filters.since - timedelta(days=before)
    end = filters.until + timedelta(days=1)
    return (f"{column} >= toDateTime64({literal(start.isoformat())}, 3, 'UTC') "
            f"AND {column} < toDateTime64({literal(end.isoformat())}, 3, 'UTC')")


def _where(filters: Filters, dimensions: Mapping[str, str], before: int = 0,
           time_column: str = "received_at") -> str:
    """The range and whichever of ``language`` / ``editor`` / ``model`` is set and this table
    has (``dimensions``: filter name -> column)."""
    parts = [day_range(filters, time_column, before)]
    for name, column in dimensions.items():
        value = getattr(filters, name)
        if value is not None:
            parts.append(f"{column} = {literal(value)}")
    return " AND ".join(parts)


def _fill(filters: Filters) -> str:
    """Days without rows still appear (zeros), so a chart's gaps are real gaps."""
    return (f"WITH FILL FROM toDate({literal(filters.since.isoformat())}) "
            f"TO toDate({literal((filters.until + timedelta(days=1)).isoformat())})")


_COMPLETION_DIMENSIONS = {"language": "language_id", "editor": "editor", "model": "model"}
#: A request's identity as one integer: joining feedback to its request on it builds a hash
#: table of integers instead of one of three strings (0.29 s instead of 0.6 s for a million
#: completions, measured). Two requests of a range would need the same 64-bit hash to swap
#: models: odds about 3e-8 at a million.
REQUEST_KEY = "cityHash64(tenant_id, session_id, request_id)"


def _feedback_source(filters: Filters, with_model: bool) -> str:
    """Completions' feedback events of the range (as ``f``), each with its request's model (as
    ``c.model``) when ``with_model`` or a model filter asks for it: the join costs a pass over
    the completions of the range."""
    where = _where(filters, {"language": "language_id", "editor": "editor"})
    feedback = (f"(SELECT event_id, kind, language_id, editor, received_at, {REQUEST_KEY} AS "
                f"request FROM {FEEDBACK_TABLE} WHERE {where} "
                "AND request_kind = 'completion') AS f")
    if not (with_model or filters.model):
        return feedback
    # A request's feedback comes after it: its completion row is in the range or a day before.
    requests = day_range(filters, before=1)
    if filters.model:
        requests += f" AND model = {literal(filters.model)}"
    return (f"{feedback} {'SEMI LEFT' if filters.model else 'ANY LEFT'} JOIN "
            f"(SELECT {REQUEST_KEY} AS request, model FROM {COMPLETIONS_TABLE} "
            f"WHERE {requests} AND kind = 'completion') AS c USING request")


def _verdicts(ids: str, kinds: str) -> str:
    """Accepted, not accepted and the acceptance rate, counting distinct ``ids`` by the
    feedback ``kinds`` column (every panel's one definition of acceptance)."""
    return (f"uniqExactIf(cityHash64({ids}), {kinds} IN {ACCEPTED}) AS accepted, "
            f"uniqExactIf(cityHash64({ids}), {kinds} IN {NOT_ACCEPTED}) AS not_accepted, "
            "round(accepted / greatest(accepted + not_accepted, 1), 4) AS acceptance_rate")


_ACCEPTANCE = (f"uniqExactIf(cityHash64(f.event_id), f.kind = 'shown') AS shown, "
               f"{_verdicts('f.event_id', 'f.kind')}")


def active_users(filters: Filters, _: Mapping[str, int]) -> str:
    # Each (day, user) counts toward the 30 days whose window holds it.
    where = _where(filters, _COMPLETION_DIMENSIONS, before=29)
    since, until = literal(filters.since.isoformat()), literal(filters.until.isoformat())
    # A user is a tenant's user: an operator's view must not merge ann@acme with ann@globex
    # (one 64-bit hash of the two, as for event ids).
    return (f"SELECT d AS day, uniqExactIf(who, seen = d) AS daily, "
            f"uniqExactIf(who, seen > d - 7) AS weekly, uniqExact(who) AS monthly "
            f"FROM (SELECT DISTINCT toDate(received_at) AS seen, cityHash64(tenant_id, user_id) "
            f"AS who FROM {COMPLETIONS_TABLE} WHERE {where}) "
            f"ARRAY JOIN arrayFilter(x -> x >= toDate({since}) AND x <= toDate({until}), "
            f"arrayMap(i -> seen + i, range(30))) AS d "
            f"GROUP BY day ORDER BY day {_fill(filters)}")


def acceptance_by_day(filters: Filters, _: Mapping[str, int]) -> str:
    return (f"SELECT toDate(f.received_at) AS day, {_ACCEPTANCE} "
            f"FROM {_feedback_source(filters, False)} GROUP BY day ORDER BY day {_fill(filters)}")


def _acceptance_by(column: str, name: str) -> Callable[[Filters, Mapping[str, int]], str]:
    def panel(filters: Filters, _: Mapping[str, int]) -> str:
        return (f"SELECT {column} AS {name}, {_ACCEPTANCE} "
                f"FROM {_feedback_source(filters, name == 'model')} GROUP BY {name} "
                f"ORDER BY shown DESC, {name} LIMIT 50")
    return panel


def retained_chars(filters: Filters, _: Mapping[str, int]) -> str:
    where = _where(filters, {"language": "language_id"})
    return (f"SELECT toDate(received_at) AS day, checkpoint_s, "
            f"sum(accepted_chars) AS accepted_chars, sum(surviving_chars) AS retained_chars, "
            f"round(retained_chars / greatest(accepted_chars, 1), 4) AS retained_share "
            f"FROM (SELECT * FROM {PERSISTENCE_TABLE} FINAL WHERE {where}) "
            f"GROUP BY day, checkpoint_s ORDER BY day, checkpoint_s")


def latency(filters: Filters, _: Mapping[str, int]) -> str:
    # Counted by id; the percentiles are over the rows as stored, without FINAL (half the
    # time): a request reported twice (a replay, until the engine merges) weighs twice in
    # them, which moves no percentile of a real day's volume.
    where = _where(filters, _COMPLETION_DIMENSIONS)
    return (f"SELECT toDate(received_at) AS day, model, uniqExact(cityHash64(event_id)) AS answered, "
            f"quantileExact(0.5)(first_chunk_latency_ms) AS p50_ms, "
            f"quantileExact(0.95)(first_chunk_latency_ms) AS p95_ms, "
            f"quantileExact(0.99)(first_chunk_latency_ms) AS p99_ms "
            f"FROM {COMPLETIONS_TABLE} WHERE {where} "
            f"AND kind = 'completion' AND first_chunk_latency_ms IS NOT NULL "
            f"GROUP BY day, model ORDER BY day, model")


def quota_by_plan(filters: Filters, _: Mapping[str, int]) -> str:
    where = _where(filters, _COMPLETION_DIMENSIONS)
    return (f"SELECT toDate(received_at) AS day, plan, "
            f"uniqExact(cityHash64(tenant_id, user_id)) AS users, "
            f"uniqExactIf(cityHash64(event_id), admitted) AS admitted, "
            f"uniqExactIf(cityHash64(event_id), reason = 'quota') AS refused_for_quota, "
            f"round(admitted / greatest(users, 1), 1) AS admitted_per_user "
            f"FROM {COMPLETIONS_TABLE} WHERE {where} GROUP BY day, plan ORDER BY day, plan")


def quota_nearest(filters: Filters, limits: Mapping[str, int]) -> str:
    """The users closest to their daily limit on the range's last day (``limits``: the daily
    completions of each tenant that has a limit, from the tenants file). A limit counts every
    request of the day, so the language, editor and model filters do not apply."""
    last = Filters(filters.until, filters.until)
    where = _where(last, {})
    tenants = sorted(limits)
    if not tenants:
        return ("SELECT '' AS tenant_id, '' AS user_id, '' AS plan, 0 AS admitted, "
                "0 AS daily_limit, 0.0 AS used_share WHERE 0")
    names = "[" + ", ".join(literal(t) for t in tenants) + "]"
    caps = "[" + ", ".join(str(int(limits[t])) for t in tenants) + "]"
    return (f"SELECT tenant_id, user_id, any(plan) AS plan, "
            f"uniqExactIf(cityHash64(event_id), admitted) AS admitted, "
            f"transform(tenant_id, {names}, {caps}, 0) AS daily_limit, "
            f"round(admitted / greatest(daily_limit, 1), 3) AS used_share "
            f"FROM {COMPLETIONS_TABLE} WHERE {where} AND has({names}, tenant_id) "
            f"GROUP BY tenant_id, user_id ORDER BY used_share DESC, admitted DESC, tenant_id, "
            f"user_id LIMIT 20")


def tasks(filters: Filters, _: Mapping[str, int]) -> str:
    where = _where(filters, _COMPLETION_DIMENSIONS)
    feedback = day_range(filters)
    return (f"SELECT c.kind AS kind, uniqExact(cityHash64(c.event_id)) AS requests, "
            f"uniqExactIf(cityHash64(c.event_id), c.first_chunk_latency_ms IS NOT NULL) AS answered, "
            f"{_verdicts('c.event_id', 'f.kind')} "
            f"FROM (SELECT event_id, kind, first_chunk_latency_ms, {REQUEST_KEY} AS request "
            f"FROM {COMPLETIONS_TABLE} WHERE {where} AND kind != 'completion') AS c "
            f"LEFT JOIN (SELECT {REQUEST_KEY} AS request, kind FROM {FEEDBACK_TABLE} "
            f"WHERE {feedback} AND request_kind != 'completion' AND kind != 'shown') AS f "
            f"USING request GROUP BY kind ORDER BY requests DESC, kind")


def next_edits(filters: Filters, _: Mapping[str, int]) -> str:
    where = _where(filters, {"language": "language_id"})
    return (f"SELECT toDate(received_at) AS day, "
            f"uniqExactIf(cityHash64(suggestion_id), kind = 'shown') AS shown, "
            f"{_verdicts('suggestion_id', 'kind')} "
            f"FROM {SUGGESTIONS_TABLE} WHERE {where} GROUP BY day ORDER BY day {_fill(filters)}")


Chart = Literal["line", "bar", "table"]


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: a title, how its rows are drawn (``x`` against ``y``; with ``group``, one
    series per value of that column), a definition shown under it, and its SQL."""

    name: str
    title: str
    chart: Chart
    x: str
    y: tuple[str, ...]
    note: str
    sql: Callable[[Filters, Mapping[str, int]], str]
    group: str | None = None
    #: The filters that narrow this panel (the others do not apply to its table).
    filtered_by: tuple[str, ...] = ("language", "editor", "model")

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "chart": self.chart, "x": self.x,
                "y": list(self.y), "group": self.group, "note": self.note,
                "filtered_by": list(self.filtered_by)}


PANELS: tuple[Panel, ...] = (
    Panel("active_users", "Active users", "line", "day", ("daily", "weekly", "monthly"),
          "Users who sent at least one request (completion or task) that day; weekly and "
          "monthly: in the 7 and 30 days up to it.", active_users),
    Panel("acceptance_by_day", "Suggestions shown and accepted", "line", "day",
          ("shown", "accepted", "not_accepted"),
          "Completion feedback by day. Acceptance rate = accepted (incl. partial) / (accepted "
          "+ rejected or dismissed).", acceptance_by_day),
    Panel("acceptance_by_language", "Acceptance by language", "bar", "language",
          ("shown", "accepted"), "Top 50 languages by suggestions shown.",
          _acceptance_by("f.language_id", "language")),
    Panel("acceptance_by_editor", "Acceptance by editor", "bar", "editor",
          ("shown", "accepted"), "The editor named by the plugin at hello.",
          _acceptance_by("f.editor", "editor")),
    Panel("acceptance_by_model", "Acceptance by model", "bar", "model", ("shown", "accepted"),
          "The model that answered the request the feedback is about.",
          _acceptance_by("if(c.model = '', 'unknown', c.model)", "model")),
    Panel("retained_chars", "Accepted and retained characters", "line", "day",
          ("retained_share",),
          "Characters of accepted completions still in the document at each checkpoint "
          "(seconds after acceptance).", retained_chars, group="checkpoint_s",
          filtered_by=("language",)),
    Panel("latency", "First-token latency", "line", "day", ("p50_ms", "p95_ms", "p99_ms"),
          "Edge receipt of a completion request to its first chunk, answered completions only.",
          latency, group="model"),
    Panel("quota_by_plan", "Quota use by plan", "bar", "day", ("admitted",),
          "Admitted completions and tasks (what quotas and billing count) per plan and day.",
          quota_by_plan, group="plan"),
    Panel("quota_nearest", "Users nearest their daily limit", "table", "user_id", ("admitted",),
          "On the range's last day; plans with a daily limit only (free: 100).", quota_nearest,
          filtered_by=()),
    Panel("tasks", "Tasks by kind", "bar", "kind", ("requests", "answered", "accepted"),
          "Explain, find bugs, fix, refactor, tests, docs: requests, answered, accepted.", tasks),
    Panel("next_edits", "Next-edit suggestions", "line", "day",
          ("shown", "accepted", "not_accepted"),
          "Next-edit suggestions shown and what became of them.", next_edits,
          filtered_by=("language",)),
)
BY_NAME: dict[str, Panel] = {panel.name: panel for panel in PANELS}


def options_sql(filters: Filters) -> str:
    """The languages, editors and models seen in the range (the filters' choices)."""
    where = day_range(filters)
    return (f"SELECT groupUniqArray(64)(language_id), groupUniqArray(64)(editor), "
            f"groupUniqArray(64)(model) FROM {COMPLETIONS_TABLE} WHERE {where}")


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A panel as CSV. A text cell that a spreadsheet would run as a formula (``=``, ``+``,
    ``-``, ``@``, tab, CR) is prefixed with ``'``: language ids come from editors."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["'" + cell if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@",
                                                                                "\t", "\r")
                         else "" if cell is None else cell for cell in row])
    return out.getvalue()
