"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright): sign in
with an analyst's key, every panel renders with data, the numbers on the page equal the rows,
one tenant's page never shows another's, an empty range says so, a failing panel says why
while the rest render, CSV export, and the timing target on a million completions.

Screenshots land in ``.stack/screenshots/`` (look at them)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.panels import PANELS
from analytics.schema import FEEDBACK_TABLE
from bench.history import Spec, generate
from tests.browser import chromium, needs_chromium, settled, shot, sign_in, table
from tests.dashboard_server import Board, serve_board

pytestmark = needs_chromium
TODAY = datetime.now(UTC).date()
SPEC = Spec(4000, 14, TODAY, users_per_tenant=15, seed=5)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    with serve_board(tmp_path_factory.mktemp("browser-board"), SPEC,
                     time.time_ns() // 1_000_000) as b:
        yield b


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def shown_by_editor(tenant: str) -> dict[str, tuple[int, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for name, _, rows in generate(SPEC):
        for row in rows if name == FEEDBACK_TABLE else ():
            if row[2] == tenant and row[12] == "completion":
                counts[row[11]][row[6]] += 1
    return {editor: (c["shown"], c["accepted"] + c["partial"]) for editor, c in counts.items()}


def test_bad_keys_get_a_login_page_that_says_why(browser: Any, board: Board) -> None:
    for key, reason in (("ck_nothing_here", "unknown API key"),
                        (board.keys["expired"], "API key expired"),
                        (board.keys["developer"], "role may not")):
        page = sign_in(browser, board, key)
        page.wait_for_function("() => document.getElementById('login-error').textContent !== ''")
        assert reason in page.inner_text("#login-error")
        assert page.is_hidden("#board") and page.locator(".panel").count() == 0
        page.close()
    page = sign_in(browser, board, board.keys["expired"])
    page.wait_for_selector("#login-error:has-text('expired')")
    shot(page, "refused-key")
    page.close()


def test_an_analyst_sees_every_panel_with_its_tenants_numbers(browser: Any, board: Board) -> None:
    page = sign_in(browser, board, board.keys["acme"])
    states = settled(page)
    assert states == {panel.name: "ready" for panel in PANELS}, states
    assert "tenant acme" in page.inner_text("#who")
    got = {row["editor"]: (int(row["shown"]), int(row["accepted"]))
           for row in table(page, "acceptance_by_editor")}
    assert got == shown_by_editor("acme")
    # Charts are drawn (Chart.js from the same server), not only tables.
    assert page.eval_on_selector('[data-panel="acceptance_by_day"] canvas',
                                 "c => c.width > 0 && !!window.Chart.getChart(c)")
    shot(page, "acme")
    page.close()


def test_a_tenants_page_never_shows_another_tenant(browser: Any, board: Board) -> None:
    page = sign_in(browser, board, board.keys["globex"])
    states = settled(page)
    # globex is on pro (no daily limit): nobody is near one; everything else has its data.
    assert states.pop("quota_nearest") == "empty"
    assert set(states.values()) == {"ready"}
    got = {row["editor"]: (int(row["shown"]), int(row["accepted"]))
           for row in table(page, "acceptance_by_editor")}
    assert got == shown_by_editor("globex") != shown_by_editor("acme")
    assert "acme" not in page.inner_text("#panels")
    assert {row["plan"] for row in table(page, "quota_by_plan")} == {"pro"}
    shot(page, "globex")
    page.close()


def test_an_empty_range_says_so_and_a_failing_panel_says_why(browser: Any, board: Board
                                                               ) -> None:
    page = sign_in(browser, board, board.keys["operator"])
    settled(page)
    page.fill("#since", "2026-01-01")
    page.fill("#until", "2026-01-31")
    page.click("#filters button[type=submit]")
    page.wait_for_timeout(100)
    states = settled(page)
    assert set(states.values()) == {"empty"}, states
    assert page.locator(".panel .status:has-text('No data')").count() == len(PANELS)
    shot(page, "empty-range")
    client = board.client()
    client.command("RENAME TABLE persistence_events TO persistence_events_away")
    try:
        page.fill("#since", str(TODAY - timedelta(days=13)))
        page.fill("#until", str(TODAY))
        page.click("#filters button[type=submit]")
        page.wait_for_timeout(100)
        states = settled(page)
        assert states.pop("retained_chars") == "error"
        assert set(states.values()) == {"ready"}
        status = page.inner_text('[data-panel="retained_chars"] .status')
        assert "could not load" in status and "persistence_events" in status
        shot(page, "failing-panel")
    finally:
        client.command("RENAME TABLE persistence_events_away TO persistence_events")
        client.close()
    page.close()


def test_csv_export_downloads_the_panel(browser: Any, board: Board, tmp_path: Path) -> None:
    page = sign_in(browser, board, board.keys["acme"])
    settled(page)
    with page.expect_download() as download:
        page.click('[data-panel="acceptance_by_language"] button.csv')
    saved = tmp_path / "panel.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0] == "language,shown,accepted,not_accepted,acceptance_rate"
    shown = [[row["language"], row["shown"]] for row in table(page, "acceptance_by_language")]
    assert [line.split(",")[:2] for line in lines[1:]] == shown
    assert download.value.suggested_filename.startswith("acceptance_by_language_")
    page.close()
