"""``python -m evaluation.injected``: bugs injected into real, released files of nine languages,
one kind at a time inside a function's body (up to ``--per-kind`` of each, in up to five passes
over the files), and ``find_bugs`` (the default answer: likely bugs
only) on each copy. Per language and kind: the bugs injected, recall (a new finding within a line
of the change) and precision (new findings that are on it); and per language the likely-bug
findings on the clean files per 1,000 lines (every one a false alarm: the code is released).

The files: the non-test sources of the git mirrors ``evaluation.real_bugs`` reads
(``/work/.mirror/<owner>+<name>/repo``, at their newest commit: click, express, zod, gson,
cJSON, serde_json, fmt for C++), Go's standard library from the Go on PATH, and the shell
scripts of this machine's ``/usr/bin``; a language whose files are missing is left out and said.
The kinds (evaluation/task_scores.py): a variable used in place of another, swapped arguments, a
wrong operator, a loop one step too far, a ``return`` dropped, a closing parenthesis dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from evaluation.task_scores import BUG_KINDS, inject
from schemas.tasks import TaskFinding
from tasks.engine import TaskInput, run_task
from tasks.offsets import Offsets
from tasks.structure import Definition, definitions

MIRRORS = Path("/work/.mirror")
#: language: (mirror, folder, extensions), the folder's non-test files.
MIRRORED = {
    "python": ("pallets+click", "src/click/", (".py",)),
    "javascript": ("expressjs+express", "lib/", (".js",)),
    "typescript": ("colinhacks+zod", "packages/zod/src/v4/", (".ts",)),
    "java": ("google+gson", "gson/src/main/java/", (".java",)),
    "c": ("DaveGamble+cJSON", "", (".c",)),
    "cpp": ("fmtlib+fmt", "include/fmt/", (".h",)),
    "rust": ("serde-rs+json", "src/", (".rs",)),
}
GO_PACKAGES = ("strings", "bufio", "sort", "bytes", "strconv", "container/list", "text/tabwriter",
               "unicode/utf8", "path", "encoding/csv", "net/url", "html")
MAX_FILES = 40
_TESTS = ("test", "spec", "bench", "example", "fuzz")


def _mirrored(language: str) -> list[tuple[str, str]]:
    mirror, folder, extensions = MIRRORED[language]
    repo = MIRRORS / mirror / "repo"
    try:
        names = subprocess.run(["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only",
                                "HEAD", folder or "."], capture_output=True, text=True,
                               check=True).stdout.split()
    except (subprocess.CalledProcessError, OSError):
        return []
    found = []
    for name in sorted(names):
        if not name.endswith(extensions) or any(t in name.lower() for t in _TESTS):
            continue
        text = subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{name}"],
                              capture_output=True, text=True, check=False).stdout
        if text:
            found.append((f"file:///{mirror}/{name}", text))
    return found[:MAX_FILES]


def _go() -> list[tuple[str, str]]:
    try:
        root = Path(subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True,
                                   check=True).stdout.strip()) / "src"
    except (subprocess.CalledProcessError, OSError):
        return []
    return [(f"file:///go/{package}/{path.name}", path.read_text())
            for package in GO_PACKAGES for path in sorted((root / package).glob("*.go"))
            if not path.name.endswith("_test.go")][:MAX_FILES]


def _shell() -> list[tuple[str, str]]:
    found = []
    for path in sorted(Path("/usr/bin").iterdir()):
        try:
            head = path.read_bytes()[:64]
        except OSError:
            continue
        if head.startswith((b"#!/bin/sh", b"#!/bin/bash", b"#! /bin/sh", b"#!/usr/bin/env bash")):
            found.append((f"file:///usr/bin/{path.name}", path.read_text(errors="replace")))
    return found[:MAX_FILES]


def corpus() -> dict[str, list[tuple[str, str]]]:
    files = {language: _mirrored(language) for language in MIRRORED}
    files["go"] = _go()
    files["shellscript"] = _shell()
    return files


def _functions(text: str, language: str) -> list[tuple[int, int]]:
    """(first body line, last line), 0-based, of each function of four or more lines."""
    offsets = Offsets(text)
    found: list[tuple[int, int]] = []
    pending: list[Definition] = list(definitions(text, language, 0, len(text)))
    while pending:
        definition = pending.pop()
        pending.extend(definition.members)
        if definition.kind == "function":
            first = offsets.line_of(definition.body_start) + 1
            last = offsets.line_of(definition.end) - 1
            if last - first >= 3:
                found.append((first, last))
    return sorted(found)


def _likely(text: str, language: str, uri: str) -> list[TaskFinding]:
    items = run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None)
    return [i for i in items if isinstance(i, TaskFinding) and i.severity != "hint"]


def evaluate(language: str, files: list[tuple[str, str]], per_kind: int, rng: random.Random,
             passes: int = 5) -> dict[str, Any]:
    """Up to ``per_kind`` bugs of each kind, one per file and kind in each of ``passes`` passes
    over the files (a random function each time)."""
    kinds: dict[str, Counter[str]] = {k: Counter() for k in BUG_KINDS}
    clean_lines = clean_findings = 0
    usable: list[tuple[str, str, list[tuple[int, int]], Counter[tuple[str, str]]]] = []
    for uri, text in files:
        functions = _functions(text, language)
        if not functions:
            continue
        clean = _likely(text, language, uri)
        clean_lines += text.count("\n") + 1
        clean_findings += len(clean)
        usable.append((uri, text, functions, Counter((f.rule, f.message) for f in clean)))
    for _ in range(passes):
        for uri, text, functions, before in usable:
            for kind in BUG_KINDS:
                if kinds[kind]["bugs"] >= per_kind:
                    continue
                first, last = rng.choice(functions)
                bug = inject(kind, text, first, last, rng, language)
                if bug is None:
                    continue
                remaining = before.copy()
                new = []
                for finding in _likely(bug.text, language, uri):
                    key = (finding.rule, finding.message)
                    if remaining[key] > 0:
                        remaining[key] -= 1
                    else:
                        new.append(finding)
                hits = sum(abs(bug.text.count("\n", 0, f.start) - bug.line) <= 1 for f in new)
                stats = kinds[kind]
                stats["bugs"] += 1
                stats["new"] += len(new)
                stats["hits"] += hits
                stats["found"] += hits > 0
    return {"kinds": {k: dict(v) for k, v in kinds.items()}, "clean_lines": clean_lines,
            "clean_findings": clean_findings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.injected",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--languages", default="")
    parser.add_argument("--json", help="also write the scores here")
    args = parser.parse_args(argv)
    wanted = {name for name in args.languages.split(",") if name}
    started = time.perf_counter()
    results: dict[str, Any] = {}
    print(f"{'language':11s} {'kind':18s} {'bugs':>4s} {'recall':>6s} {'precision':>9s}")
    for language, files in corpus().items():
        if wanted and language not in wanted:
            continue
        if not files:
            print(f"{language:11s} no files (its mirror is missing: bring it with fetch)")
            continue
        rng = random.Random(args.seed)  # noqa: S311 - a reproducible sample, not a secret
        result = evaluate(language, files, args.per_kind, rng)
        results[language] = result
        for kind, stats in result["kinds"].items():
            bugs = stats.get("bugs", 0)
            precision = (f"{stats.get('hits', 0) / stats['new']:9.3f}" if stats.get("new")
                         else f"{'-':>9s}")
            print(f"{language:11s} {kind:18s} {bugs:4d} "
                  f"{stats.get('found', 0) / max(1, bugs):6.3f} {precision}")
        per_1000 = 1000 * result["clean_findings"] / max(1, result["clean_lines"])
        print(f"{language:11s} clean: {result['clean_findings']} likely-bug findings on "
              f"{result['clean_lines']} lines ({per_1000:.2f} per 1,000)")
    print(f"{time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
