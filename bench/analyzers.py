"""find_bugs with the type checkers and analyzers (mypy, tsc, staticcheck, cppcheck, Clippy,
Error Prone) against find_bugs without them (Java: javac's own process, ``ERRORPRONE=off``), on
one real file of about 1,000 lines per language, rounds alternating in the same run: time to the
answer's end (the engine, no socket), p50 and p90, and the likely-bug findings each adds on
released code (every one counts as a false alarm).

``python -m bench.analyzers [--rounds N]``

The files: Go's ``strings/strings.go`` from the Go on PATH; the others from the git mirrors
that ``evaluation.real_bugs`` reads (``/work/.mirror/<owner>+<name>/repo``; a language whose
mirror is missing is left out and said): click's ``termui.py``, express's ``response.js``,
zod's ``v4/core/util.ts``, gson's ``GsonBuilder.java``, cJSON's ``cJSON.c`` (3,191 lines) and
serde_json's ``lexical/math.rs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

from bench.measure import percentile
from schemas.tasks import TaskFinding
from tasks import analyzers, compilers
from tasks.engine import TaskInput, run_task

MIRRORS = Path("/work/.mirror")
FILES = {
    "python": ("pallets+click", "src/click/termui.py"),
    "javascript": ("expressjs+express", "lib/response.js"),
    "typescript": ("colinhacks+zod", "packages/zod/src/v4/core/util.ts"),
    "java": ("google+gson", "gson/src/main/java/com/google/gson/GsonBuilder.java"),
    "c": ("DaveGamble+cJSON", "cJSON.c"),
    "rust": ("serde-rs+json", "src/lexical/math.rs"),
}


def corpus() -> dict[str, tuple[str, str]]:
    root = Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True,
                               check=True).stdout.strip())
    found = {"go": ("file:///go/strings/strings.go",
                    (root / "src" / "strings" / "strings.go").read_text())}
    for language, (mirror, path) in FILES.items():
        repo = MIRRORS / mirror / "repo"
        try:
            text = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"],
                                  capture_output=True, text=True, check=True).stdout
        except (subprocess.CalledProcessError, OSError):
            print(f"{language}: no mirror at {repo} (bring it with the session's fetch tool)")
            continue
        found[language] = (f"file:///{mirror}/{path}", text)
    return found


def likely(uri: str, text: str, language: str) -> list[TaskFinding]:
    items = run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None)
    return [i for i in items if isinstance(i, TaskFinding) and i.severity != "hint"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analyzers")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print("warming:", analyzers.warm())
    every = dict(analyzers.ANALYZERS)
    print(f"{'language':10s} {'lines':>5s} {'p50 ms':>7s} {'p90 ms':>7s} {'without p50':>11s} "
          f"{'without p90':>11s} {'findings':>8s} {'without':>7s}")
    for language, (uri, text) in corpus().items():
        with_times: list[float] = []
        without_times: list[float] = []
        counts: dict[str, int] = {}
        for _ in range(args.rounds):
            for label, table, times in (("with", every, with_times), ("without", {}, without_times)):
                analyzers.ANALYZERS.clear()
                analyzers.ANALYZERS.update(table)
                groups = compilers.CLIPPY_GROUPS
                if label == "without":  # Clippy runs as Rust's compiler: its lints off
                    compilers.CLIPPY_GROUPS = ("-A", "clippy::all")
                    os.environ["ERRORPRONE"] = "off"  # and Error Prone in Java's
                started = time.perf_counter()
                found = likely(uri, text, language)
                times.append((time.perf_counter() - started) * 1000)
                compilers.CLIPPY_GROUPS = groups
                os.environ.pop("ERRORPRONE", None)
                counts[label] = len(found)
        analyzers.ANALYZERS.clear()
        analyzers.ANALYZERS.update(every)
        print(f"{language:10s} {text.count(chr(10)) + 1:5d} {statistics.median(with_times):7.0f} "
              f"{percentile(with_times, 0.9):7.0f} {statistics.median(without_times):11.0f} "
              f"{percentile(without_times, 0.9):11.0f} {counts['with']:8d} {counts['without']:7d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
