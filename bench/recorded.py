"""The last recorded figures of each benchmark (``bench/recorded.json``, committed with the docs
that quote them), so a run prints how far today's numbers are from them and a regression shows
the day it happens, not when someone next reads the docs.

A bench calls :func:`report` with its headline figures; ``--record`` (on the benches that offer
it) writes them as the new reference with the date, the machine's core count and the git
revision. Lower or higher being better is part of each figure's name (``*_ms`` lower, ``*_per_s``
higher); a change beyond :data:`NOISE` (this machine varies that much run to run) is called out.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

RECORDED = Path(__file__).resolve().parent / "recorded.json"
#: Relative change under which two runs of this machine are the same (its run-to-run spread).
NOISE = 0.15


def better_when_lower(name: str) -> bool:
    """Latencies, costs and shares are better lower; rates and quality better higher."""
    return name.endswith(("_ms", "_share", "_mib"))


def compare(figures: dict[str, float], recorded: dict[str, float]) -> list[str]:
    """One line per figure: today's value, the recorded one and the verdict."""
    lines = []
    for name, value in figures.items():
        before = recorded.get(name)
        if before is None or before == 0:
            lines.append(f"  {name}: {value:,.2f} (nothing recorded)")
            continue
        change = (value - before) / abs(before)
        worse = change > 0 if better_when_lower(name) else change < 0
        verdict = "same within noise" if abs(change) <= NOISE else ("WORSE" if worse else "better")
        lines.append(f"  {name}: {value:,.2f} against {before:,.2f} recorded ({change:+.0%}: {verdict})")
    return lines


def load(path: Path = RECORDED) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text()) if path.exists() else {}


def report(bench: str, figures: dict[str, float], record: bool = False, path: Path = RECORDED) -> None:
    """Prints the comparison with ``bench``'s recorded figures; with ``record``, replaces them."""
    entries = load(path)
    entry = entries.get(bench, {})
    recorded = entry.get("figures", {})
    assert isinstance(recorded, dict)
    print(f"{bench} against its last recorded figures ({entry.get('date', 'none')}, "
          f"revision {entry.get('revision', '-')}):")
    for line in compare(figures, recorded):
        print(line)
    if record:
        entries[bench] = {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(),
                          "revision": _revision(), "figures": figures}
        path.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
        print(f"recorded in {path.name}")


def _revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=RECORDED.parent, timeout=10, check=False)
    except OSError:
        return ""
    return out.stdout.strip()
