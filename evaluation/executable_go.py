"""One-line infilling in held-out Go packages, scored by running their own tests (``go test``).

The Go half of ``python -m evaluation.executable``. In the held-out Go modules fetched by
``python -m corpus.registries`` (they have no dependencies, so their tests run offline), one
single-line statement inside a function body of a non-test file is taken out, the cursor put after
its indentation, and each system fills it; the package's tests run on a private copy with the line
in place. Only lines the tests reach count: with ``panic(...)`` in their place the package must
still build and its tests must fail. The server never runs code; this is the offline evaluation.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from corpus import registries
from corpus.infill_tasks import Task

RUN_TIMEOUT_S = 120
#: Packages whose tests take longer than this (sleeps, timeouts) are left out: every task reruns
#: them. chi's root package takes 4-6 s here depending on the day (its tests sleep): at 5 s it was
#: in one run and out of the next, and the sample changed with the machine's speed.
PACKAGE_TEST_S = 12.0
PANIC = 'panic("the tests reach this line")'
_SKIP_START = ("//", "}", "case ", "default:", "go func", "defer func", "/*", "*")
_SKIP_END = ("{", "(", ",", "`", "+", "&&", "||", ":")
_ENV = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
        "GOWORK": "off", "CGO_ENABLED": "0"}


@dataclass(frozen=True, slots=True)
class GoInfill:
    task: Task
    #: The private copy of the module and the file (relative to it) the line is in.
    module: Path
    file: str


def go_test(module: Path, package: str) -> tuple[bool, bool]:
    """(built, passed) for ``go test`` of ``package`` (a directory of ``module``)."""
    process = subprocess.Popen(["go", "test", "-count=1", f"./{package}" if package else "."],
                               cwd=module, env=_ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # go and the test binary it started
        process.communicate()
        return False, False  # not known to build and fail: never counted as reached
    done = process
    built = "[build failed]" not in output and "[setup failed]" not in output
    return built, done.returncode == 0


def with_line(infill: GoInfill, line: str) -> tuple[bool, bool]:
    """Runs the package's tests with ``line`` in place, then puts the file back."""
    path = infill.module / infill.file
    original = path.read_bytes()
    try:
        path.write_text(infill.task.prefix + line + infill.task.suffix)
        return go_test(infill.module, str(Path(infill.file).parent).strip("."))
    finally:
        path.write_bytes(original)


def passes(infill: GoInfill, completion: str) -> bool:
    built, passed = with_line(infill, completion.split("\n")[0].rstrip())
    return built and passed


def candidates(text: str) -> list[int]:
    """0-based lines that are whole single-line statements inside a function body."""
    lines = text.split("\n")
    inside = False
    found = []
    for number, line in enumerate(lines):
        if line.startswith("func ") and line.rstrip().endswith("{"):
            inside = True
            continue
        if line.startswith("}"):
            inside = False
            continue
        stripped = line.strip()
        previous = lines[number - 1].rstrip() if number else ""
        if inside and line.startswith("\t") and len(stripped) >= 4 and \
                not stripped.startswith(_SKIP_START) and not stripped.endswith(_SKIP_END) and \
                not previous.endswith(_SKIP_END[1:]) and not re.match(r"^\w+:$", stripped):
            found.append(number)
    return found


def build_infills(limit: int, seed: int, scratch: Path) -> list[GoInfill]:
    """Up to ``limit`` reached lines from the held-out Go modules, copied into ``scratch``."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample
    modules = [Path(str(r["directory"])) for r in registries.load()
               if r["language"] == "go" and r["heldout"]]
    pool: list[tuple[Path, Path, str, int]] = []
    for source in modules:
        copy = scratch / source.name
        shutil.copytree(source, copy)
        for path in sorted(copy.rglob("*.go")):
            if path.name.endswith("_test.go"):
                continue
            relative = str(path.relative_to(copy))
            pool += [(source, copy, relative, n) for n in candidates(path.read_text())]
    rng.shuffle(pool)
    packages_ok: dict[tuple[Path, str], bool] = {}
    infills: list[GoInfill] = []
    for source, module, relative, number in pool:
        if len(infills) >= limit:
            break
        package = (module, str(Path(relative).parent))
        if package not in packages_ok:  # its tests pass as it is, and quickly enough to rerun
            passing = go_test(module, package[1].strip(".")) == (True, True)  # builds it
            started = time.perf_counter()
            passing = passing and go_test(module, package[1].strip(".")) == (True, True)
            packages_ok[package] = passing and time.perf_counter() - started <= PACKAGE_TEST_S
        if not packages_ok[package]:
            continue
        text = (module / relative).read_text()
        lines = text.split("\n")
        line = lines[number]
        indent = line[:len(line) - len(line.lstrip())]
        start = sum(len(x) + 1 for x in lines[:number])
        # The task names the corpus file (the open-files context finds its package by it).
        task = Task("line", "go", str(source / relative), text[:start] + indent,
                    text[start + len(line):], line.strip())
        infill = GoInfill(task, module, relative)
        built, passed = with_line(infill, PANIC)
        if built and not passed:
            infills.append(infill)
    return infills


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="go-infill-")
