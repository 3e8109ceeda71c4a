"""Restarting crashed components: the policy (pure), and the watchdog on real processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.processes import ProcessSpec, Supervisor, Watchdog
from infra.restarts import GiveUp, Restart, RestartPolicy, Restarts

POLICY = RestartPolicy(first_backoff_ms=500, max_backoff_ms=4000, healthy_after_ms=60_000,
                       max_exits=5, window_ms=120_000)


class TestPolicy:
    def test_backoff_doubles_while_it_keeps_crashing(self) -> None:
        restarts = Restarts(POLICY)
        restarts.started("edge", 0)
        waits = []
        now = 1000
        for _ in range(5):
            decision = restarts.exited("edge", now)
            assert isinstance(decision, Restart)
            waits.append(decision.at_ms - now)
            now = decision.at_ms
            restarts.started("edge", now)
            now += 100
        assert waits == [500, 1000, 2000, 4000, 4000]

    def test_a_crash_loop_gives_up_by_name(self) -> None:
        restarts = Restarts(POLICY)
        restarts.started("broker", 0)
        decisions = [restarts.exited("broker", 1000 * n) for n in range(1, 7)]
        assert all(isinstance(d, Restart) for d in decisions[:5])
        assert decisions[5] == GiveUp("broker exited 6 times in the last 120 s: a crash loop")

    def test_healthy_run_resets_the_backoff_and_old_exits_age_out(self) -> None:
        restarts = Restarts(POLICY)
        restarts.started("worker-0", 0)
        for n in range(5):
            restarts.exited("worker-0", n * 30_000)
            restarts.started("worker-0", n * 30_000 + 1)
        # Ran two minutes since its last start: a fresh streak, and early exits have aged out.
        decision = restarts.exited("worker-0", 4 * 30_000 + 120_001)
        assert decision == Restart(4 * 30_000 + 120_001 + 500, 1)

    def test_components_are_counted_apart(self) -> None:
        restarts = Restarts(POLICY)
        for n in range(5):
            restarts.exited("edge-0", n)
        assert isinstance(restarts.exited("edge-1", 10), Restart)


def test_watchdog_restarts_a_killed_process_and_stops_a_crash_loop(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "run", tmp_path / "logs")
    sleeper = ProcessSpec("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], {},
                          ready=lambda: True)
    crasher = ProcessSpec("crasher", [sys.executable, "-c", "raise SystemExit(3)"], {},
                          ready=lambda: True)
    said: list[str] = []
    try:
        supervisor.start_together([sleeper, crasher], 10)
        watchdog = Watchdog(supervisor, Restarts(RestartPolicy(
            first_backoff_ms=50, max_backoff_ms=100, max_exits=3, window_ms=60_000)), said.append)
        first = supervisor.procs["sleeper"].pid
        supervisor.procs["sleeper"].kill()
        give_up = None
        deadline = time.monotonic() + 20
        while give_up is None and time.monotonic() < deadline:
            give_up = watchdog.tick(time.time_ns() // 1_000_000)
            time.sleep(0.02)
        assert give_up is not None and give_up.reason.startswith("crasher exited 4 times")
        assert supervisor.procs["sleeper"].pid != first
        assert supervisor.procs["sleeper"].poll() is None, "the killed one runs again"
        assert any(line.startswith("[sleeper] exited with code -9") for line in said)
        assert "[sleeper] started again" in said
    finally:
        supervisor.stop_all()
