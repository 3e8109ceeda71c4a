"""Mutated frames on the live socket of the test stack (``tests.socket_fuzzing``; the long run
is ``python -m tests.socket_fuzzing --frames 100000``): every intact ``complete`` gets exactly one
``end``, sessions close only with documented codes, an honest completion after every batch."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.conftest import KEYRING
from tests.socket_fuzzing import run, summary

pytestmark = pytest.mark.stack


async def test_3000_mutated_frames_on_the_live_socket(stack: Settings) -> None:
    keys = [KEYRING.take("pro").api_key for _ in range(3)]
    report = await run(stack.edge_url(), keys, KEYRING.take("pro").api_key, 3000, seed=11)
    print(summary(report, 0))
    assert report.frames >= 3000 and report.mutated > 500 and report.requests > 300
    assert report.errors > 300, "mutated frames are answered with error frames"
    assert report.problems == [] and report.unanswered == 0 and report.repeated_ends == 0
