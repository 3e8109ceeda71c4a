"""100,000 mutated inputs through the socket and every topic consumer: no crash, every bad one
answered with a clear error (``python -m tests.fuzzing --inputs N`` runs more)."""

from __future__ import annotations

from typing import Any

import pytest

import tests.fuzzing as fuzzing
import ws_edge.session
from schemas.topics import FeedbackEvent


def test_100k_inputs_break_nothing() -> None:
    report = fuzzing.run(100_000, seed=20261123)
    assert report.inputs >= 100_000
    assert report.failures == []
    assert 0.3 * report.inputs < report.refused < report.inputs, (
        "the mix holds both refused and accepted inputs")


def test_the_fuzzer_finds_planted_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: a crash on one odd string is found at each boundary."""
    real_redact = ws_edge.session.redact

    def fragile_redact(text: str) -> str:
        if "\u202e" in text:
            raise IndexError("planted")
        return real_redact(text)

    def fragile_row(event: FeedbackEvent) -> tuple[Any, ...]:
        if event.language_id == "":
            raise KeyError("planted")
        return ()

    monkeypatch.setattr(ws_edge.session, "redact", fragile_redact)
    monkeypatch.setattr(fuzzing, "feedback_row", fragile_row)
    report = fuzzing.run(50_000, seed=7)
    kinds = {failure.split(":")[0] for failure in report.failures}
    assert kinds == {"socket", "feedback-events"}, report.failures[:3]
