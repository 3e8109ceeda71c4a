"""Our usage in the JSON shape of GitHub Copilot's metrics API (pure), so tools that read
``GET /orgs/{org}/copilot/metrics`` can read ours (``analytics.dashboard`` serves it).

One object per UTC day with activity, oldest first::

    {"date": "2026-12-01", "total_active_users": 12, "total_engaged_users": 9,
     "copilot_ide_code_completions": {
         "total_engaged_users": 8,
         "languages": [{"name": "python", "total_engaged_users": 6}],
         "editors": [{"name": "vscode", "total_engaged_users": 7, "models": [
             {"name": "code_fim", "is_custom_model": false, "custom_model_training_date": null,
              "total_engaged_users": 7, "languages": [
                  {"name": "python", "total_engaged_users": 5, "total_code_suggestions": 120,
                   "total_code_acceptances": 41}]}]}]}}

What the fields mean here:

- ``total_active_users``: users who sent any request (completion or task) that day;
- ``total_engaged_users``: users who accepted a completion (fully or in part) or asked for a
  task; inside ``copilot_ide_code_completions``, users who accepted a completion;
- ``total_code_suggestions`` / ``total_code_acceptances``: completions shown / accepted
  (``accepted`` or ``partial`` feedback), counted by event id;
- ``is_custom_model``: ``false`` for every model: none is trained on a tenant's code, which is
  what GitHub means by a custom model (and ``custom_model_training_date`` is then ``null``).

Left out because we do not measure them (absent, never invented): ``total_code_lines_suggested``
and ``total_code_lines_accepted`` (lines are not recorded), ``copilot_ide_chat``,
``copilot_dotcom_chat`` and ``copilot_dotcom_pull_requests`` (no such features).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from analytics.panels import ACCEPTED, REQUEST_KEY, FilterError, Filters, day_range
from analytics.schema import COMPLETIONS_TABLE, FEEDBACK_TABLE

#: GitHub's page size: 28 days by default, at most 100.
DEFAULT_PER_PAGE = 28
MAX_PER_PAGE = 100


def parse_window(query: dict[str, str], today: date) -> tuple[Filters, int, int]:
    """``since`` / ``until`` (ISO 8601 date or time, as GitHub takes them; default the 28 days
    up to ``today``, one default page; at most 100 days), ``page`` (from 1) and ``per_page``
    (1..100, default 28)."""
    def moment(name: str, default: date) -> date:
        raw = query.get(name, "").strip()
        if not raw:
            return default
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
        except ValueError:
            raise FilterError(f"{name}: {raw[:40]!r} is not an ISO 8601 date or time") from None

    def number(name: str, default: int, most: int) -> int:
        raw = query.get(name, "").strip() or str(default)
        if not raw.isdigit() or not 1 <= int(raw) <= most:
            raise FilterError(f"{name}: {raw[:20]!r} is not a whole number in 1..{most}")
        return int(raw)

    until = moment("until", today)
    since = moment("since", until - timedelta(days=DEFAULT_PER_PAGE - 1))
    if since > until:
        raise FilterError(f"since: {since} is after until ({until})")
    if (until - since).days + 1 > MAX_PER_PAGE:
        raise FilterError(f"since: at most {MAX_PER_PAGE} days may be asked at once")
    return (Filters(since, until), number("page", 1, 10_000),
            number("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE))


def activity_sql(filters: Filters) -> str:
    """Per day: active and engaged users (``day, active, engaged``)."""
    return (f"SELECT day, uniqExact(user_id) AS active, uniqExactIf(user_id, engaged) AS engaged "
            f"FROM (SELECT toDate(received_at) AS day, user_id, kind != 'completion' AS engaged "
            f"FROM {COMPLETIONS_TABLE} WHERE {day_range(filters)} "
            f"UNION ALL SELECT toDate(received_at) AS day, user_id, kind IN {ACCEPTED} AS engaged "
            f"FROM {FEEDBACK_TABLE} WHERE {day_range(filters)}) GROUP BY day ORDER BY day")


def completions_sql(filters: Filters) -> str:
    """Completion feedback per day at each level of the breakdown (``day, level, editor,
    model, language, engaged, suggestions, acceptances``; ``level``: 0 the day, 1 a
    language, 2 an editor, 3 an editor's model, 4 a model's language)."""
    requests = day_range(filters, before=1)
    return (
        "SELECT day, multiIf(grouping(language) = 0 AND grouping(editor) = 1, 1, "
        "grouping(editor) = 1, 0, grouping(model) = 1, 2, grouping(language) = 1, 3, 4) "
        "AS level, editor, model, language, "
        f"uniqExactIf(user_id, kind IN {ACCEPTED}) AS engaged, "
        "uniqExactIf(event_id, kind = 'shown') AS suggestions, "
        f"uniqExactIf(event_id, kind IN {ACCEPTED}) AS acceptances "
        "FROM (SELECT toDate(f.received_at) AS day, f.editor AS editor, "
        "if(c.model = '', 'unknown', c.model) AS model, f.language_id AS language, "
        "f.user_id AS user_id, f.kind AS kind, f.event_id AS event_id "
        f"FROM (SELECT event_id, kind, language_id, editor, user_id, received_at, {REQUEST_KEY} "
        f"AS request FROM {FEEDBACK_TABLE} WHERE {day_range(filters)} "
        "AND request_kind = 'completion') AS f "
        f"ANY LEFT JOIN (SELECT {REQUEST_KEY} AS request, model FROM {COMPLETIONS_TABLE} "
        f"WHERE {requests} AND kind = 'completion') AS c USING request) "
        "GROUP BY GROUPING SETS ((day), (day, language), (day, editor), (day, editor, model), "
        "(day, editor, model, language)) ORDER BY day, level, editor, model, language")


def _day(row_day: Any) -> str:
    return row_day.isoformat() if isinstance(row_day, date) else str(row_day)


def metrics(activity: Sequence[Sequence[Any]], completions: Sequence[Sequence[Any]]
            ) -> list[dict[str, Any]]:
    """The per-day objects from the two queries' rows, oldest day first."""
    days: dict[str, dict[str, Any]] = {}
    for day, active, engaged in activity:
        days[_day(day)] = {"date": _day(day), "total_active_users": int(active),
                           "total_engaged_users": int(engaged)}
    editors: dict[tuple[str, str], dict[str, Any]] = {}
    models: dict[tuple[str, str, str], dict[str, Any]] = {}
    for day, level, editor, model, language, engaged, suggestions, acceptances in sorted(
            completions, key=lambda row: (_day(row[0]), row[1], row[2], row[3], row[4])):
        key = _day(day)
        entry = days.setdefault(key, {"date": key, "total_active_users": 0,
                                      "total_engaged_users": 0})
        code = entry.setdefault("copilot_ide_code_completions",
                                {"total_engaged_users": 0, "languages": [], "editors": []})
        if level == 0:
            code["total_engaged_users"] = int(engaged)
        elif level == 1:
            code["languages"].append({"name": language, "total_engaged_users": int(engaged)})
        elif level == 2:
            editors[key, editor] = {"name": editor, "total_engaged_users": int(engaged),
                                    "models": []}
            code["editors"].append(editors[key, editor])
        elif level == 3:
            models[key, editor, model] = {
                "name": model, "is_custom_model": False, "custom_model_training_date": None,
                "total_engaged_users": int(engaged), "languages": []}
            editors[key, editor]["models"].append(models[key, editor, model])
        else:
            models[key, editor, model]["languages"].append({
                "name": language, "total_engaged_users": int(engaged),
                "total_code_suggestions": int(suggestions),
                "total_code_acceptances": int(acceptances)})
    return [days[day] for day in sorted(days)]


def page(days: list[dict[str, Any]], number: int, per_page: int) -> list[dict[str, Any]]:
    """One page of days (GitHub pages the oldest first)."""
    return days[(number - 1) * per_page:number * per_page]
