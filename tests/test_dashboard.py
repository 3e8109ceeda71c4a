"""The dashboard's API and the Copilot-shaped metrics over a known history in a real engine:
every number equals what the generated rows say (counted here in Python, independently of the
panels' SQL), a tenant's key sees its tenant only, bad keys and filters are refused with the
reason, and a panel whose query fails fails alone."""

from __future__ import annotations

import csv
import io
import socket
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from analytics.panels import FilterError, parse_filters, to_csv
from analytics.schema import COMPLETIONS_TABLE, FEEDBACK_TABLE, SUGGESTIONS_TABLE
from analytics.sink import AnalyticsSink, start_dashboard
from bench.history import Spec, generate
from schemas.editors import editor_of
from tests.dashboard_server import Board, board_settings, serve_board

TODAY = datetime.now(UTC).date()
SPEC = Spec(3000, 10, TODAY, users_per_tenant=12, seed=11)
RANGE = {"since": str(TODAY - timedelta(days=9)), "until": str(TODAY)}
ACCEPTED = ("accepted", "partial")
NOT_ACCEPTED = ("rejected", "dismissed")


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    with serve_board(tmp_path_factory.mktemp("board"), SPEC, time.time_ns() // 1_000_000) as b:
        yield b


def get(board: Board, path: str, key: str | None, **params: str) -> tuple[int, Any]:
    query = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in params.items())
    request = urllib.request.Request(f"{board.url}{path}{'?' + query if query else ''}")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, body.decode() if "csv" in kind else orjson.loads(body)
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def panel(board: Board, name: str, key: str = "acme", **params: str) -> list[dict[str, Any]]:
    status, body = get(board, f"/dashboard/api/panels/{name}", board.keys[key],
                       **{**RANGE, **params})
    assert status == 200, body
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def rows(table: str, tenant: str | None) -> list[tuple[Any, ...]]:
    """The generated rows of ``table`` (all tenants when ``tenant`` is None)."""
    found = []
    for name, _, batch in generate(SPEC):
        if name == table:
            found += [row for row in batch if tenant is None or row[2] == tenant]
    return found


def acceptance(tenant: str | None, dimension: int) -> dict[Any, tuple[int, int, int]]:
    """shown, accepted, not accepted per value of feedback column ``dimension`` (-1: day)."""
    counts: dict[Any, Counter[str]] = defaultdict(Counter)
    for row in rows(FEEDBACK_TABLE, tenant):
        if row[12] != "completion":
            continue
        key = row[10].date() if dimension < 0 else row[dimension]
        counts[key][row[6]] += 1
    return {key: (c["shown"], c["accepted"] + c["partial"], c["rejected"] + c["dismissed"])
            for key, c in counts.items()}


def test_filters_are_parsed_and_bad_ones_named() -> None:
    today = date(2026, 12, 7)
    filters = parse_filters({}, today)
    assert (filters.since, filters.until) == (date(2026, 11, 10), today)
    assert parse_filters({"editor": "vscode", "language": "c++"}, today).language == "c++"
    for query, named in (({"since": "2026-13-01"}, "since"), ({"until": "yesterday"}, "until"),
                         ({"since": "2026-12-08"}, "since"), ({"since": "2024-01-01"}, "since"),
                         ({"editor": "notepad"}, "editor"),
                         ({"language": "python' OR 1=1 --"}, "language"),
                         ({"model": "x" * 65}, "model")):
        with pytest.raises(FilterError, match=f"^{named}:"):
            parse_filters(query, today)


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    text = to_csv(["language", "shown"], [["=HYPERLINK(1)", 3], ["python", None], ["-x", 1]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["language", "shown"], ["'=HYPERLINK(1)", "3"], ["python", ""], ["'-x", "1"]]


def test_editors_fold_onto_a_short_list() -> None:
    assert editor_of("vscode") == "vscode"
    assert editor_of("code-server/4.100.3") == "vscode"
    assert editor_of("Neovim 0.10") == "neovim"
    assert editor_of("emacs") == "emacs"
    assert editor_of("PyCharm@2025.1") == "jetbrains"
    assert editor_of("code-assistant-ls") == "lsp"
    assert editor_of("'; DROP TABLE x") == "other"
    assert editor_of("") == "other"


def test_acceptance_panels_equal_the_rows(board: Board) -> None:
    by_day = {r["day"]: (r["shown"], r["accepted"], r["not_accepted"])
              for r in panel(board, "acceptance_by_day")}
    expected = acceptance("acme", -1)
    assert {day: v for day, v in by_day.items() if v != (0, 0, 0)} == {
        str(day): v for day, v in expected.items()}
    for name, column in (("acceptance_by_language", 7), ("acceptance_by_editor", 11)):
        got = {r[name.rsplit("_", 1)[1]]: (r["shown"], r["accepted"], r["not_accepted"])
               for r in panel(board, name)}
        assert got == acceptance("acme", column), name
    for r in panel(board, "acceptance_by_editor"):
        assert r["acceptance_rate"] == pytest.approx(
            r["accepted"] / max(r["accepted"] + r["not_accepted"], 1), abs=1e-4)


def test_model_panel_joins_each_feedback_to_its_request(board: Board) -> None:
    models = {row[5]: row[6] for row in rows(COMPLETIONS_TABLE, "acme")}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows(FEEDBACK_TABLE, "acme"):
        if row[12] == "completion":
            counts[models[row[5]]][row[6]] += 1
    got = {r["model"]: (r["shown"], r["accepted"]) for r in panel(board, "acceptance_by_model")}
    assert got == {m: (c["shown"], c["accepted"] + c["partial"]) for m, c in counts.items()}
    filtered = panel(board, "acceptance_by_day", model="qwen_coder")
    assert sum(r["shown"] for r in filtered) == counts["qwen_coder"]["shown"]


def test_active_users_tasks_quota_and_next_edits_equal_the_rows(board: Board) -> None:
    completions = rows(COMPLETIONS_TABLE, "acme")
    seen: dict[date, set[str]] = defaultdict(set)
    for row in completions:
        seen[row[13].date()].add(row[3])
    for r in panel(board, "active_users"):
        day = date.fromisoformat(r["day"])
        assert r["daily"] == len(seen.get(day, set()))
        assert r["weekly"] == len(set().union(*(seen.get(day - timedelta(days=n), set())
                                                  for n in range(7))))
        assert r["monthly"] == len(set().union(*(seen.get(day - timedelta(days=n), set())
                                                   for n in range(30))))
    tasks: dict[str, Counter[str]] = defaultdict(Counter)
    verdicts = {row[5]: row[6] for row in rows(FEEDBACK_TABLE, "acme") if row[12] != "completion"}
    for row in completions:
        if row[16] != "completion":
            tasks[row[16]]["requests"] += 1
            tasks[row[16]]["answered"] += row[15] is not None
            tasks[row[16]]["accepted"] += verdicts.get(row[5]) in ACCEPTED
    got = {r["kind"]: {"requests": r["requests"], "answered": r["answered"],
                       "accepted": r["accepted"]} for r in panel(board, "tasks")}
    assert got == {kind: dict(c) | {"accepted": c["accepted"]} for kind, c in tasks.items()}
    admitted = Counter((row[13].date(), row[4]) for row in completions if row[9])
    got_quota = {(date.fromisoformat(r["day"]), r["plan"]): r["admitted"]
                 for r in panel(board, "quota_by_plan")}
    assert got_quota == admitted
    refused = sum(1 for row in completions if row[10] == "quota")
    assert sum(r["refused_for_quota"] for r in panel(board, "quota_by_plan")) == refused > 0
    suggestions: dict[date, Counter[str]] = defaultdict(Counter)
    for row in rows(SUGGESTIONS_TABLE, "acme"):
        suggestions[row[11].date()][row[8]] += 1
    for r in panel(board, "next_edits"):
        c = suggestions.get(date.fromisoformat(r["day"]), Counter())
        assert (r["shown"], r["accepted"], r["not_accepted"]) == (
            c["shown"], c["accepted"], c["rejected"] + c["dismissed"])


def test_users_nearest_their_limit(board: Board) -> None:
    last = [row for row in rows(COMPLETIONS_TABLE, "acme") if row[13].date() == TODAY and row[9]]
    per_user = Counter(row[3] for row in last)
    got = panel(board, "quota_nearest")
    assert got and {r["tenant_id"] for r in got} == {"acme"}
    assert [(r["user_id"], r["admitted"], r["daily_limit"]) for r in got] == [
        (user, n, 100) for user, n in sorted(per_user.items(), key=lambda p: (-p[1], p[0]))][:20]
    # globex is on pro (no limit): nobody of it is near a limit.
    assert panel(board, "quota_nearest", key="globex") == []


def test_an_analyst_sees_its_tenant_and_an_operator_every_tenant(board: Board) -> None:
    mine = {r["editor"]: r["shown"] for r in panel(board, "acceptance_by_editor", key="globex")}
    assert mine == {k: v[0] for k, v in acceptance("globex", 11).items()}
    everyone = {r["editor"]: r["shown"]
                for r in panel(board, "acceptance_by_editor", key="operator")}
    assert everyone == {k: v[0] for k, v in acceptance(None, 11).items()}
    assert {r["plan"] for r in panel(board, "quota_by_plan", key="globex")} == {"pro"}
    assert {r["plan"] for r in panel(board, "quota_by_plan", key="operator")} == {"free", "pro"}
    # An operator counts a tenant's user as that tenant's: user007 of acme and of globex are two.
    seen: dict[date, set[tuple[str, str]]] = defaultdict(set)
    for row in rows(COMPLETIONS_TABLE, None):
        seen[row[13].date()].add((row[2], row[3]))
    for r in panel(board, "active_users", key="operator"):
        assert r["daily"] == len(seen.get(date.fromisoformat(r["day"]), set()))
    status, who = get(board, "/dashboard/api/whoami", board.keys["operator"])
    assert status == 200 and who["scope"] == "every tenant"
    status, who = get(board, "/dashboard/api/whoami", board.keys["acme"])
    assert status == 200 and who["scope"] == "tenant acme"


def test_refused_keys_get_the_reason_and_no_data(board: Board) -> None:
    for key, status_wanted, reason in (
            (None, 401, "missing key"), ("ck_nope_nope", 401, "unknown API key"),
            (board.keys["expired"], 403, "expired"), (board.keys["revoked"], 403, "revoked"),
            (board.keys["developer"], 403, "role")):
        for path in ("/dashboard/api/whoami", "/dashboard/api/panels/acceptance_by_day",
                     "/dashboard/api/options"):
            status, body = get(board, path, key)
            assert (status, sorted(body)) == (status_wanted, ["error"]), (path, body)
            assert reason in body["error"]
        status, body = get(board, "/orgs/acme/copilot/metrics", key)
        assert status == status_wanted and reason in body["message"]


def test_bad_filters_and_unknown_panels_are_named(board: Board) -> None:
    status, body = get(board, "/dashboard/api/panels/acceptance_by_day", board.keys["acme"],
                       language="python' OR '1'='1")
    assert status == 400 and body["error"].startswith("language:")
    status, body = get(board, "/dashboard/api/panels/nope", board.keys["acme"])
    assert status == 404 and "acceptance_by_day" in body["error"]


def test_a_range_without_data_is_empty_not_an_error(board: Board) -> None:
    for name in ("active_users", "acceptance_by_day", "acceptance_by_editor", "latency",
                 "retained_chars", "quota_nearest", "tasks", "next_edits"):
        got = panel(board, name, since="2026-01-01", until="2026-01-31")
        assert all(not any(v for k, v in r.items() if k != "day") for r in got), name


def test_csv_export_equals_the_panel(board: Board) -> None:
    status, text = get(board, "/dashboard/api/panels/acceptance_by_language",
                       board.keys["acme"], format="csv", **RANGE)
    assert status == 200
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["language", "shown", "accepted", "not_accepted", "acceptance_rate"]
    assert [[r["language"], str(r["shown"])] for r in panel(board, "acceptance_by_language")] \
        == [row[:2] for row in table[1:]]


def test_copilot_metrics_have_githubs_shape_and_our_numbers(board: Board) -> None:
    status, days = get(board, "/orgs/acme/copilot/metrics", board.keys["acme"],
                       since=f"{RANGE['since']}T00:00:00Z", per_page="100")
    assert status == 200 and len(days) == 10
    models = {row[5]: row[6] for row in rows(COMPLETIONS_TABLE, "acme")}
    shown: Counter[tuple[str, str, str, str]] = Counter()
    taken: Counter[tuple[str, str, str, str]] = Counter()
    for row in rows(FEEDBACK_TABLE, "acme"):
        if row[12] == "completion":
            key = (str(row[10].date()), row[11], models[row[5]], row[7])
            shown[key] += row[6] == "shown"
            taken[key] += row[6] in ACCEPTED
    active: dict[str, set[str]] = defaultdict(set)
    for row in rows(COMPLETIONS_TABLE, "acme"):
        active[str(row[13].date())].add(row[3])
    got_shown: Counter[tuple[str, str, str, str]] = Counter()
    got_taken: Counter[tuple[str, str, str, str]] = Counter()
    for day in days:
        assert day["total_active_users"] == len(active[day["date"]])
        code = day["copilot_ide_code_completions"]
        assert set(code) == {"total_engaged_users", "languages", "editors"}
        for editor in code["editors"]:
            for model in editor["models"]:
                assert model["is_custom_model"] is False
                assert model["custom_model_training_date"] is None
                for language in model["languages"]:
                    assert "total_code_lines_suggested" not in language  # not measured: absent
                    key = (day["date"], editor["name"], model["name"], language["name"])
                    got_shown[key] = language["total_code_suggestions"]
                    got_taken[key] = language["total_code_acceptances"]
        assert "copilot_ide_chat" not in day
    assert +got_shown == +shown and +got_taken == +taken
    status, page = get(board, "/orgs/acme/copilot/metrics", board.keys["acme"],
                       since=RANGE["since"], per_page="3", page="2")
    assert status == 200 and [d["date"] for d in page] == [d["date"] for d in days[3:6]]
    # Another tenant's org is not there for this key; an operator may read it.
    assert get(board, "/orgs/globex/copilot/metrics", board.keys["acme"])[0] == 404
    assert get(board, "/orgs/globex/copilot/metrics", board.keys["operator"])[0] == 200
    status, body = get(board, "/orgs/acme/copilot/metrics", board.keys["acme"], per_page="500")
    assert status == 422 and body["message"].startswith("per_page:")


def test_a_failing_panel_fails_alone(board: Board) -> None:
    client = board.client()
    client.command("RENAME TABLE persistence_events TO persistence_events_away")
    try:
        status, body = get(board, "/dashboard/api/panels/retained_chars", board.keys["acme"])
        assert status == 500 and "persistence_events" in body["error"]
        for name in ("acceptance_by_day", "latency", "tasks"):
            assert get(board, f"/dashboard/api/panels/{name}", board.keys["acme"])[0] == 200
    finally:
        client.command("RENAME TABLE persistence_events_away TO persistence_events")
        client.close()
    assert get(board, "/dashboard/api/panels/retained_chars", board.keys["acme"])[0] == 200


def test_a_broken_tenants_file_names_nobody(board: Board) -> None:
    path = board.settings.tenants_path
    good = path.read_bytes()
    path.write_bytes(good.replace(b'"acme"', b'"acme-typo"', 1))
    try:
        status, body = get(board, "/dashboard/api/whoami", "ck_anything")
        assert status == 503 and "try again" in body["error"]
        assert "acme" not in body["error"] and str(path) not in body["error"]
    finally:
        path.write_bytes(good)
    assert get(board, "/dashboard/api/whoami", board.keys["acme"])[0] == 200


async def test_a_dashboard_that_cannot_start_leaves_the_sink_running(tmp_path: Path) -> None:
    settings = board_settings(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = settings.replace(dashboard_port=taken.getsockname()[1])
        assert await start_dashboard(busy, AnalyticsSink(busy, None)) is None  # type: ignore[arg-type]
