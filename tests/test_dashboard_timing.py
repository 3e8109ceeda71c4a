"""The dashboard's timing target in a real browser: first paint <= 1 s and every panel <= 2 s
on a million completion events (apart from the other browser tests: chDB holds one store per
process, and this one is big)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.history import Spec
from tests.browser import chromium, needs_chromium, settled, shot, sign_in
from tests.dashboard_server import serve_board

pytestmark = needs_chromium
TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_first_paint_and_every_panel_in_time_on_a_million_completions(
        browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The issue's target: first paint <= 1 s, every panel <= 2 s, on 1M completion events
    (plus their ~1.4M feedback, ~0.7M persistence and ~60k suggestion events)."""
    spec = Spec(1_000_000, 30, TODAY, users_per_tenant=2000, seed=3)
    with serve_board(tmp_path_factory.mktemp("million"), spec,
                     time.time_ns() // 1_000_000) as big:
        assert big.written["completion_events"] == 1_000_000
        timings: dict[str, list[float]] = {}
        for who in ("acme", "operator"):
            page = sign_in(browser, big, big.keys[who])
            settled(page, 60_000)  # the first view warms the engine's caches
            for _ in range(5):
                page.reload()
                states = settled(page, 60_000)
                assert set(states.values()) == {"ready"}, states
                paint = page.evaluate("() => performance.getEntriesByName("
                                      "'first-contentful-paint')[0].startTime")
                slowest = max(page.eval_on_selector_all(
                    ".panel", "els => els.map(e => Number(e.dataset.renderedMs))"))
                timings.setdefault(f"{who} first paint", []).append(paint)
                timings.setdefault(f"{who} slowest panel", []).append(slowest)
            shot(page, f"million-{who}")
            page.close()
        medians = {name: sorted(values)[2] for name, values in timings.items()}
        print("dashboard timings on 1M completions (median of 5, ms):", medians)
        assert medians["acme first paint"] <= 1000 and medians["operator first paint"] <= 1000
        assert medians["acme slowest panel"] <= 2000, medians
        assert medians["operator slowest panel"] <= 2000, medians
