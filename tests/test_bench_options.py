"""The benchmarks' own options: bad values get a clear error, not a traceback mid-run."""

from __future__ import annotations

import argparse
import sys

import pytest

from bench.line_search import widths_of


def test_widths_are_parsed_in_order() -> None:
    assert widths_of("1,3,8") == [1, 3, 8]


@pytest.mark.parametrize(("text", "message"), [
    ("x", "not comma-separated integers"),
    ("3,", "not comma-separated integers"),
    ("0,3", "must be 1 or more"),
])
def test_bad_widths_are_refused(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        widths_of(text)


@pytest.mark.stack
def test_pipeline_starts_the_redis_it_needs(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh machine has no Redis on 6379: the benchmark starts its own and stops it after."""
    from bench import pipeline
    from infra.processes import Supervisor
    from infra.stack import forget_instance, private_settings

    monkeypatch.delenv("BENCH_REDIS_URL", raising=False)
    monkeypatch.setattr(sys, "argv", ["bench.pipeline", "--sessions", "1", "--seconds", "1",
                                      "--idle", "0"])
    settings = private_settings("bench-pipeline")
    try:
        assert pipeline.main() == 0
        assert "== 1 concurrent session(s)" in capsys.readouterr().out
        assert Supervisor(settings.run_dir, settings.log_dir).running_pids() == {}
    finally:
        forget_instance(settings)
