"""find_bugs from the compilers on real, released code no one here wrote: false alarms per 1,000
lines (every finding on such code counts as one) and the time to an answer, with tree-sitter's
syntax check (what these languages had before) timed on the same files in the same run. (No
C corpus yet: real C files include their project's headers, which are not compiled here.)

``python -m bench.compilers [--java-sources JAR [JAR ...]] [--java-count N] [--rounds N]``

- Go: files of the standard library of the Go on PATH (non-test files of a few packages);
- Java: the classes of a sources jar, e.g. commons-lang3 3.14.0 from Maven Central
  (``curl -O https://repo1.maven.org/maven2/org/apache/commons/commons-lang3/3.14.0/
  commons-lang3-3.14.0-sources.jar``), the first ``--java-count`` of each; left out without
  ``--java-sources``.

Java runs twice per file, alternating: javac resident with Error Prone (the default) and javac's
own process with Error Prone off (``ERRORPRONE=off``, what Java had before), both timed.

Beside the findings it prints, per analyzer, on how many files it said it could not run (a
staticcheck or Error Prone that needs the rest of a package), so a quiet analyzer is told from
one that did not look.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
import zipfile
from pathlib import Path

from bench.measure import percentile
from schemas.tasks import TaskFinding, TaskText
from tasks.compilers import warm_go
from tasks.engine import TaskInput, run_task
from tasks.errorprone import warm_errorprone
from tasks.syntax import syntax_findings

GO_PACKAGES = ("strings", "bufio", "sort", "bytes", "strconv", "container/list", "text/tabwriter",
               "unicode/utf8", "path", "encoding/csv")


def go_files() -> list[tuple[str, str]]:
    root = Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True,
                               check=True).stdout.strip()) / "src"
    found = []
    for package in GO_PACKAGES:
        for path in sorted((root / package).glob("*.go")):
            if not path.name.endswith("_test.go"):
                found.append((f"file:///go/{package}/{path.name}", path.read_text()))
    return found


def java_files(jars: list[Path], count: int = 25) -> list[tuple[str, str]]:
    found = []
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".java")
                           and not n.endswith(("package-info.java", "module-info.java")))[:count]
            found += [(f"file:///{n}", archive.read(n).decode("utf-8")) for n in names]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compilers")
    parser.add_argument("--java-sources", type=Path, nargs="*", default=[])
    parser.add_argument("--java-count", type=int, default=25, help="classes taken of each jar")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    warm_go()
    warm_errorprone()
    corpora = {"go": go_files(), "java": java_files(args.java_sources, args.java_count)}
    print(f"{'language':8s} {'files':>5s} {'lines':>6s} {'findings':>8s} {'per kLOC':>8s} "
          f"{'p50 ms':>7s} {'p90 ms':>7s} {'syntax-only p50 ms':>18s}")
    for language, files in corpora.items():
        if not files:
            continue
        lines = sum(text.count("\n") + 1 for _, text in files)
        times: list[float] = []
        baseline: list[float] = []
        javac_alone: list[float] = []
        found: list[tuple[str, TaskFinding]] = []
        not_run: dict[str, int] = {}
        for _ in range(args.rounds):
            for uri, text in files:
                started = time.perf_counter()
                syntax_findings(text, language)
                baseline.append((time.perf_counter() - started) * 1000)
                if language == "java":
                    os.environ["ERRORPRONE"] = "off"
                    started = time.perf_counter()
                    list(run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None))
                    javac_alone.append((time.perf_counter() - started) * 1000)
                    del os.environ["ERRORPRONE"]
                started = time.perf_counter()
                items = list(run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None))
                times.append((time.perf_counter() - started) * 1000)
                if len(found) < len(files):
                    found += [(uri, i) for i in items if isinstance(i, TaskFinding)]
                summary = "".join(i.text for i in items if isinstance(i, TaskText))
                for tool in set(re.findall(r"([\w ]+?) not run\b", summary)):
                    not_run[tool.strip()] = not_run.get(tool.strip(), 0) + 1
        print(f"{language:8s} {len(files):5d} {lines:6d} {len(found):8d} "
              f"{len(found) * 1000 / lines:8.2f} {statistics.median(times):7.0f} "
              f"{percentile(times, 0.9):7.0f} {statistics.median(baseline):18.1f}")
        if javac_alone:
            print(f"    javac's own process, Error Prone off (same files, alternating): p50 "
                  f"{statistics.median(javac_alone):.0f} ms, p90 "
                  f"{percentile(javac_alone, 0.9):.0f} ms")
        if not_run:
            print("    not run on: " + ", ".join(
                f"{tool} {n // args.rounds} of {len(files)} files"
                for tool, n in sorted(not_run.items())))
        for uri, finding in found[:10]:
            print(f"    {uri}: {finding.rule}: {finding.message[:100]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
