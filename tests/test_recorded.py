"""Benchmarks' comparison with their last recorded figures: pure arithmetic and verdicts."""

from __future__ import annotations

from pathlib import Path

from bench import recorded


def test_lower_is_better_for_latencies_and_costs_higher_for_rates() -> None:
    lines = recorded.compare({"p99_ms": 300.0, "answered_per_s": 5.0, "triton_cpu_ms": 100.0},
                             {"p99_ms": 200.0, "answered_per_s": 10.0, "triton_cpu_ms": 150.0})
    assert "+50%: WORSE" in lines[0]
    assert "-50%: WORSE" in lines[1]
    assert "-33%: better" in lines[2]


def test_a_change_within_the_machines_noise_is_no_verdict() -> None:
    [line] = recorded.compare({"p50_ms": 105.0}, {"p50_ms": 100.0})
    assert "same within noise" in line
    [line] = recorded.compare({"new_ms": 1.0}, {})
    assert "nothing recorded" in line


def test_recording_replaces_the_reference_and_keeps_the_others(tmp_path: Path, capsys: object) -> None:
    path = tmp_path / "recorded.json"
    recorded.report("a", {"x_ms": 1.0}, record=True, path=path)
    recorded.report("b", {"y_per_s": 2.0}, record=True, path=path)
    recorded.report("a", {"x_ms": 3.0}, record=True, path=path)
    entries = recorded.load(path)
    assert entries["a"]["figures"] == {"x_ms": 3.0} and entries["b"]["figures"] == {"y_per_s": 2.0}
    assert entries["a"]["date"]
