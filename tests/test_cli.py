"""The run command as a user runs it: ``python -m infra up`` / ``down`` in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.settings import REPO_ROOT, Settings
from infra.processes import free_port, pid_alive
from tests.conftest import stack_settings


def cli_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.to_env(), "PYTHONPATH": str(REPO_ROOT)}


def group_members(pgids: set[int]) -> set[int]:
    """Live (non-zombie) processes whose process group is one of ``pgids``."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        state, pgid = fields[0], int(fields[2])
        if pgid in pgids and state != "Z":
            found.add(int(stat.parent.name))
    return found


def test_taken_port_names_the_component_and_the_fix() -> None:
    settings = stack_settings().replace(stack_instance=f"cli-port-{os.getpid()}")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", settings.broker_port))
        holder.listen()
        result = subprocess.run([sys.executable, "-m", "infra", "up"], env=cli_env(settings),
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"[broker] port 127.0.0.1:{settings.broker_port} is already in use" in result.stderr
    assert "fix:" in result.stderr


def test_bad_setting_names_the_variable() -> None:
    env = {**os.environ, "EDGE_PORT": "eighty", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-m", "infra", "up"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "EDGE_PORT='eighty'" in result.stderr


@pytest.mark.stack
def test_up_prints_how_to_connect_and_ctrl_c_leaves_no_process() -> None:
    """Also covers the Redis fallback: REDIS_URL does not answer, so redis-server is started."""
    settings = stack_settings().replace(stack_instance=f"cli-{os.getpid()}",
                                        redis_url=f"redis://127.0.0.1:{free_port()}/0")
    proc = subprocess.Popen([sys.executable, "-m", "infra", "up"], env=cli_env(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if "is up" in line:
            break
    try:
        assert any("is up" in line for line in output), "".join(output)
        rest = "".join(output + [proc.stdout.readline() for _ in range(2)])
        assert settings.edge_url(0) in rest
        names = sorted(p.stem for p in settings.run_dir.glob("*.pid"))
        assert names == ["analytics", "broker", "edge-0", "redis", "triton", "usage", "worker-0"]
        pids = {int(p.read_text()) for p in settings.run_dir.glob("*.pid")}
        members = group_members(pids)
        assert len(members) > len(pids), "tritonserver's python stub runs in triton's group"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == 0
    time.sleep(0.5)
    assert not any(pid_alive(p) for p in pids)
    assert group_members(pids) == set(), "no child (e.g. a Triton stub) outlives the stack"
    assert list(settings.run_dir.glob("*.pid")) == []
