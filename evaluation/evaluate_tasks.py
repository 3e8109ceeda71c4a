"""``python -m evaluation.evaluate_tasks``: the assistant tasks' engines on held-out code,
each beside a trivial baseline in the same run.

- ``find_bugs``: one bug of each kind injected into held-out Python functions (variable misuse,
  swapped arguments, wrong operator, off-by-one, missing return, syntax error); a finding that
  was not there before the injection and lies within a line of it is a hit. Precision (hits /
  new findings) and recall (bugs with a hit) per kind; findings per 1,000 lines of the clean
  files. Baseline: one finding on a random line of the function.
- ``docs``: held-out documented functions with their docstring taken out: how many get a
  summary line (the rest are left without one), none copied from another function, and BLEU-4
  and ROUGE-L of those written against the real first line. Baselines: the name's words and a
  sentence read from the name, on the same functions.
- ``tests``: tests written for held-out functions of pure standard-library modules, run here by
  pytest in a subprocess (offline, in a temporary directory: the evaluation executes the
  held-out code, which the server never does): how many fail on the unmodified code (must be
  none), and the share of functions with a passing test.

The engines run in this process, as the task routes run them in Triton (``tasks.engine``).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from corpus import files as corpus_files
from evaluation.task_scores import BUG_KINDS, bleu4, inject, rouge_l
from schemas.tasks import TaskFinding
from tasks.docs import doc_comment, name_words, summaries
from tasks.engine import TaskInput, run_task
from tasks.filler import ModelFiller
from tasks.structure import definitions
from tasks.testgen import NoTest, write_tests
from training import model_dir

#: Standard-library modules whose functions are pure enough to call with sample arguments.
SAFE_MODULES = frozenset({
    "textwrap", "colorsys", "statistics", "fractions", "difflib", "calendar", "heapq", "bisect",
    "base64", "html", "string", "keyword", "fnmatch", "posixpath", "ntpath", "operator",
    "shlex", "quopri", "uu", "binascii", "graphlib", "numbers", "decimal", "copy", "pprint",
    "reprlib", "json.encoder", "json.decoder", "email.utils", "email.quoprimime",
    "email.base64mime", "urllib.parse", "html.parser", "encodings.idna", "ipaddress", "locale",
    "gettext", "glob", "stringprep", "datetime", "_pydecimal", "_strptime", "tokenize",
})
TEST_TIMEOUT_S = 20


def _lines(text: str) -> int:
    return text.count("\n") + 1


def _functions(text: str) -> list[tuple[int, int, str]]:
    """(first body line, last line, name) of each function, 0-based, from Python's parser."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            found.append((node.body[0].lineno - 1, node.end_lineno - 1, node.name))
    return found


def _find(text: str, uri: str) -> list[TaskFinding]:
    items = run_task(TaskInput("find_bugs", text, "python", uri, 0, 0), None)
    return [i for i in items if isinstance(i, TaskFinding)]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset)


def evaluate_find_bugs(files: list[corpus_files.SourceFile], per_kind: int,
                       rng: random.Random) -> dict[str, Any]:
    clean_findings = Counter[str]()
    clean_lines = 0
    kinds: dict[str, Counter[str]] = {k: Counter() for k in BUG_KINDS}
    started = time.perf_counter()
    for file in files:
        if all(kinds[k]["bugs"] >= per_kind for k in BUG_KINDS):
            break
        functions = [f for f in _functions(file.text) if f[1] - f[0] >= 3]
        if not functions:
            continue
        clean = _find(file.text, "file:///heldout.py")
        clean_lines += _lines(file.text)
        for finding in clean:
            clean_findings[finding.severity] += 1
        before = Counter((f.rule, f.message) for f in clean)
        for kind in BUG_KINDS:
            if kinds[kind]["bugs"] >= per_kind:
                continue
            first, last, _ = rng.choice(functions)
            bug = inject(kind, file.text, first, last, rng)
            if bug is None:
                continue
            found = _find(bug.text, "file:///heldout.py")
            remaining = before.copy()
            new = []
            for finding in found:
                key = (finding.rule, finding.message)
                if remaining[key] > 0:
                    remaining[key] -= 1
                else:
                    new.append(finding)
            hits = sum(abs(_line(bug.text, f.start) - bug.line) <= 1 for f in new)
            guess = rng.randint(first, last)
            stats = kinds[kind]
            stats["bugs"] += 1
            stats["new_findings"] += len(new)
            stats["hits"] += hits
            stats["found"] += hits > 0
            stats["baseline_hits"] += abs(guess - bug.line) <= 1
    table = {}
    for kind, stats in kinds.items():
        bugs = stats["bugs"] or 1
        table[kind] = {
            "bugs": int(stats["bugs"]),
            "precision": stats["hits"] / stats["new_findings"] if stats["new_findings"] else None,
            "recall": stats["found"] / bugs,
            "baseline_precision": stats["baseline_hits"] / bugs,
            "baseline_recall": stats["baseline_hits"] / bugs,
        }
    return {"kinds": table, "clean_lines": clean_lines,
            "findings_per_1000_clean_lines": {k: 1000 * v / max(1, clean_lines)
                                              for k, v in clean_findings.items()},
            "seconds": time.perf_counter() - started}


def _documented(files: list[corpus_files.SourceFile], limit: int, rng: random.Random
                ) -> list[tuple[str, int, str, str]]:
    """(text without the docstring, offset of the def, name, real first line)."""
    found: list[tuple[str, int, str, str]] = []
    order = list(files)
    rng.shuffle(order)
    for file in order:
        if len(found) >= limit:
            break
        try:
            tree = ast.parse(file.text)
        except (SyntaxError, ValueError):
            continue
        lines = file.text.split("\n")
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node)
            first = doc.strip().split("\n")[0].strip() if doc else ""
            expr = node.body[0]
            if len(first.split()) < 3 or len(node.body) < 2 or expr.end_lineno is None:
                continue
            kept = lines[:expr.lineno - 1] + lines[expr.end_lineno:]
            text = "\n".join(kept)
            offset = sum(len(line) + 1 for line in kept[:node.lineno - 1]) + node.col_offset
            found.append((text, offset, node.name, first))
            break  # one function per file: the sample spans files
    return found


_VERBS = frozenset({"get", "set", "compute", "calculate", "make", "build", "create", "parse",
                    "load", "save", "read", "write", "find", "check", "validate", "convert",
                    "format", "update", "add", "remove", "delete", "send", "handle", "open",
                    "close", "run", "start", "stop", "render", "apply", "reset", "merge", "split",
                    "count", "sort", "filter", "map", "fetch", "encode", "decode", "normalize"})


def name_sentence(name: str) -> str:
    """The baseline a name gives: ``parse_config`` -> "Parse the config." (what the engine once
    wrote when the model's line failed; it says nothing the name does not)."""
    words = name_words(name) or ["this"]
    head, rest = words[0], " ".join(words[1:])
    if head in _VERBS:
        return f"{head.capitalize()} the {rest}." if rest else f"{head.capitalize()} it."
    return f"Return the {' '.join(words)}."


def evaluate_docs(files: list[corpus_files.SourceFile], limit: int, filler: ModelFiller,
                  rng: random.Random) -> dict[str, Any]:
    """Summaries written (the model's line that passed the check) or left out; any written
    that is another function's summary in the same file (must be 0); BLEU-4 and ROUGE-L of
    those written against the real first line, beside the name's words and the name sentence
    on the same functions."""
    scores: dict[str, list[float]] = defaultdict(list)
    written = copied = 0
    started = time.perf_counter()
    samples = _documented(files, limit, rng)
    for text, offset, name, reference in samples:
        at = offset + 4
        found = [d for d in definitions(text, "python", at, at) if d.name == name]
        if not found:
            continue
        comment = doc_comment(text, "python", found[0], filler)
        scores["sampled"].append(1.0)
        if comment is None or comment.summary is None:
            continue
        written += 1
        copied += comment.summary in summaries(text, "python", found[0])
        baseline = " ".join(name_words(name))
        for system, line in (("engine", comment.summary), ("name_words", baseline),
                             ("name_sentence", name_sentence(name))):
            scores[f"{system}_bleu4"].append(bleu4(line, reference))
            scores[f"{system}_rouge_l"].append(rouge_l(line, reference))
    return {"functions": len(scores.pop("sampled", [])), "summaries_written": written,
            "copied_from_another_function": copied,
            **{k: statistics.fmean(v) for k, v in scores.items() if v},
            "seconds": time.perf_counter() - started}


def _module_of(path: str) -> str | None:
    match = re.search(r"/lib/python3\.\d+/(.+)\.py$", path)
    if not match or "site-packages" in path or "/test" in path:
        return None
    module = match.group(1).replace("/", ".").removesuffix(".__init__")
    return module if module in SAFE_MODULES else None


def _pytest_counts(output: str) -> tuple[int, int]:
    passed = sum(int(n) for n in re.findall(r"(\d+) passed", output))
    failed = sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", output))
    return passed, failed


def evaluate_tests(files: list[corpus_files.SourceFile], limit: int,
                   rng: random.Random) -> dict[str, Any]:
    """Functions sampled; those given a test file (the rest are told why not); the test
    functions written, passed and failed on the unmodified code (failed must be 0); the share
    of sampled functions with a passing test."""
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    order = [f for f in files if _module_of(f.path)]
    rng.shuffle(order)
    with tempfile.TemporaryDirectory() as scratch:
        for file in order:
            if counts["functions"] >= limit:
                break
            module = _module_of(file.path)
            assert module is not None
            candidates = [f for f in _functions(file.text) if not f[2].startswith("_")]
            rng.shuffle(candidates)
            for first, _, name in candidates:
                at = sum(len(line) + 1 for line in file.text.split("\n")[:first]) - 2
                found = [d for d in definitions(file.text, "python", max(0, at), max(0, at))
                         if d.name == name and d.kind == "function"]
                if not found or counts["functions"] >= limit:
                    continue
                counts["functions"] += 1
                tests = write_tests(file.text, f"file:///x/{module}.py", "python", found[0], [])
                if isinstance(tests, NoTest):
                    continue
                counts["with_a_test_file"] += 1
                counts["example_cases"] += tests.examples
                counts["round_trips"] += tests.round_trips
                stem = f"{module}.py".rsplit(".", 2)[-2]
                body = tests.text.replace(f"from {stem} import ", f"from {module} import ")
                path = Path(scratch) / f"test_generated_{counts['functions']}.py"
                path.write_text(body)
                try:
                    done = subprocess.run(
                        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                         str(path)], cwd=scratch, capture_output=True, text=True,
                        timeout=TEST_TIMEOUT_S, check=False)
                    passed, failed = _pytest_counts(done.stdout)
                except subprocess.TimeoutExpired:
                    passed, failed = 0, tests.examples + tests.round_trips
                counts["passed"] += passed
                counts["failed"] += failed
                counts["functions_with_a_pass"] += passed > 0
                if failed:
                    print(f"  FAILED on the unmodified code: {module}.{name}\n{done.stdout[-800:]}")
    return {**counts, "share_with_a_pass": counts["functions_with_a_pass"] / counts["functions"]
            if counts["functions"] else None, "seconds": time.perf_counter() - started}


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bugs-per-kind", type=int, default=100)
    parser.add_argument("--docs", type=int, default=150)
    parser.add_argument("--tests", type=int, default=10_000,
                        help="at most this many functions for tests (default: all of them)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--only", default="find_bugs,docs,tests",
                        help="the evaluations to run, comma-separated")
    args = parser.parse_args(argv)
    heldout = [f for f in corpus_files.load("heldout") if f.language == "python"]
    rng = _rng(args.seed)
    rng.shuffle(heldout)
    filler = ModelFiller(model_dir.MODEL_DIR)
    print(f"held-out Python files: {len(heldout)}")
    only = set(args.only.split(","))
    results: dict[str, Any] = {}
    if "find_bugs" in only:
        results["find_bugs"] = _print_bugs(evaluate_find_bugs(heldout, args.bugs_per_kind,
                                                              _rng(args.seed)))
    if "docs" in only:
        results["docs"] = _print_docs(evaluate_docs(heldout, args.docs, filler, _rng(args.seed)))
    if "tests" in only:
        results["tests"] = _print_tests(evaluate_tests(heldout, args.tests, _rng(args.seed)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def _print_bugs(bugs: dict[str, Any]) -> dict[str, Any]:
    print("\nfind_bugs (engine: ruff's bug rules and its parser; baseline: a random line)")
    print(f"{'kind':20s} {'bugs':>5s} {'precision':>9s} {'recall':>7s} {'base P':>7s} "
          f"{'base R':>7s}")
    for kind, row in bugs["kinds"].items():
        print(f"{kind:20s} {row['bugs']:5d} {_fmt(row['precision']):>9s} "
              f"{_fmt(row['recall']):>7s} {_fmt(row['baseline_precision']):>7s} "
              f"{_fmt(row['baseline_recall']):>7s}")
    per_1000 = ", ".join(f"{k} {v:.1f}" for k, v in
                         sorted(bugs["findings_per_1000_clean_lines"].items()))
    print(f"findings per 1,000 clean lines ({bugs['clean_lines']} lines): {per_1000 or 'none'}")
    return bugs


def _print_docs(docs: dict[str, Any]) -> dict[str, Any]:
    print(f"\ndocs: {docs['functions']} held-out functions; a summary line written (the "
          f"model's, where it passed the check) for {docs['summaries_written']}, left out for "
          f"the rest; copied from another function: {docs['copied_from_another_function']}")
    for system in ("engine", "name_sentence", "name_words"):
        print(f"  {system:14s} BLEU-4 {_fmt(docs.get(system + '_bleu4'))}  ROUGE-L "
              f"{_fmt(docs.get(system + '_rouge_l'))}  (on the functions given a summary)")
    return docs


def _print_tests(tests: dict[str, Any]) -> dict[str, Any]:
    print(f"\ntests: {tests['functions']} public functions of held-out pure standard-library "
          "modules; "
          f"a test file for {tests.get('with_a_test_file', 0)} ({tests.get('example_cases', 0)} "
          f"cases from documented examples, {tests.get('round_trips', 0)} round trips), the "
          f"rest told why not")
    print(f"  test functions: {tests.get('passed', 0)} pass, {tests.get('failed', 0)} fail on "
          f"the unmodified code; functions with a passing test: "
          f"{tests.get('functions_with_a_pass', 0)} ({_fmt(tests['share_with_a_pass'])})")
    return tests


if __name__ == "__main__":
    sys.exit(main())
