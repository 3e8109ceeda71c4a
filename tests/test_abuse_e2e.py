"""Abuse on loopback, small and short (``python -m bench.abuse`` is the heavier run): a
connection flood, a message flood, oversized frames, a decompression bomb, slow handshakes and
never-reading clients, all at once against the test stack's edge."""

from __future__ import annotations

import statistics

import pytest

from bench.abuse import abuse, broken_guarantees, report
from config.settings import Settings
from tests.conftest import KEYRING

pytestmark = pytest.mark.stack


async def test_the_edge_stays_up_bounded_and_serving(stack: Settings) -> None:
    result = await abuse(stack, KEYRING, seconds=6, scale=1, probe_requests=20)
    report(result)
    assert broken_guarantees(result) == []
    # The 2x latency target is measured by the benchmark. Here the attackers share the 2-core
    # test machine with the whole stack (unloaded p50 is already 60-80 ms on it; loaded 140 ms
    # once flooders are cut off, 310-375 ms when they were not), so the suite holds the honest
    # session to a bound that only a stalled edge breaks.
    assert statistics.median(result.loaded_ms) < 500
