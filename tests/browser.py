"""Driving Debian's chromium with Playwright (headless) for the browser tests, and what they
share: sign in to the dashboard, wait for its panels, read a panel's table, screenshots (in
``.stack/screenshots/``: look at them)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from config.settings import REPO_ROOT
from tests.dashboard_server import Board

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: "
                                    "`make install` brings it (Debian's chromium)")
SHOTS = REPO_ROOT / ".stack" / "screenshots"


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Root in a container: chromium's sandbox needs user namespaces it may not have.
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def shot(page: Any, name: str, prefix: str = "dashboard") -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{prefix}-{name}.png"), full_page=True)


def sign_in(browser: Any, board: Board, key: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{board.url}/dashboard/")
    page.fill("#key", key)
    page.click("#login-form button[type=submit]")
    return page


def settled(page: Any, timeout_ms: int = 30_000) -> dict[str, str]:
    """Wait until no panel is loading; each panel's state."""
    # Functions, not expressions: the page's CSP forbids eval, which a string predicate needs.
    page.wait_for_function(
        "() => document.querySelectorAll('.panel').length > 0 && "
        "document.querySelectorAll('.panel[data-state=loading]').length === 0",
        timeout=timeout_ms)
    states: dict[str, str] = page.eval_on_selector_all(
        ".panel", "els => Object.fromEntries(els.map(e => [e.dataset.panel, e.dataset.state]))")
    return states


def table(page: Any, panel: str) -> list[dict[str, str]]:
    """A panel's table as the page shows it."""
    shown: list[dict[str, str]] = page.eval_on_selector(
        f'[data-panel="{panel}"] table', """t => {
            const head = [...t.tHead.rows[0].cells].map(c => c.textContent);
            return [...t.tBodies[0].rows].map(r => Object.fromEntries(
                [...r.cells].map((c, i) => [head[i], c.textContent])));
        }""")
    return shown
