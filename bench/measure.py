"""Small measuring helpers the benchmarks share: percentiles and a process's CPU and memory."""

from __future__ import annotations

import os
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN if there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process (from ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of a running process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process in process group ``pgid`` (a component and its children,
    such as Triton's python stubs); 0 if none is left."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def group_rss_kib(pgid: int, command: str) -> list[int]:
    """Resident memory (KiB) of each live process of group ``pgid`` whose command name starts
    with ``command`` (``triton_python`` for Triton's python stubs: one per model instance)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            name = (entry / "comm").read_text().strip()
            if int(fields[2]) == pgid and name.startswith(command[:15]):
                found.append(rss_kib(int(entry.name)))
        except (OSError, RuntimeError):
            continue  # exited meanwhile
    return found


def stack_cpu_seconds(run_dir: Path) -> dict[str, float]:
    """CPU seconds so far of each component of a stack instance (by its pid file)."""
    found = {}
    for pid_file in sorted(run_dir.glob("*.pid")):
        try:
            found[pid_file.stem] = group_cpu_seconds(int(pid_file.read_text()))
        except (OSError, ValueError):
            continue
    return found
