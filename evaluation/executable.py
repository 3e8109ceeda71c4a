"""``python -m evaluation.executable``: one-line infilling scored by running the code.

Python (here) and Go (``executable_go``: held-out modules' own ``go test``). On held-out
standard-library modules (never trained on): in a function whose docstring carries
doctest examples that pass, single-line statements of its body (up to three, each task alone)
are taken out, the cursor put after the indentation, and each system fills the line (only
lines the doctests run count: replaced by a ``raise``, they must fail): ``code_fim`` always answering
(threshold 0), ``code_fim`` at its default threshold (an abstention leaves the line empty), the
n-gram baseline, and the empty line itself. The module, with the line filled, is imported from
a temporary directory in a subprocess (offline: the evaluation runs held-out code; the server
never runs anything) and the function's doctests are run; a task passes when they all do.
Exact match against the removed line is printed beside it.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corpus import files as corpus_files
from corpus.infill_tasks import Task
from evaluation import executable_go
from evaluation.evaluate import fim_answers, ngram_answers, with_open_files
from evaluation.evaluate_tasks import SAFE_MODULES
from training import model_dir

RUN_TIMEOUT_S = 20
#: Put in place of a candidate line: if the doctests still pass, they never run it.
UNREACHED = 'raise AssertionError("the doctests reach this line")'
#: Lines tried per function to find those its doctests run.
MAX_TRIES = 6
#: Lines scored per doctested function (each alone; the held-out modules have few such functions).
LINES_PER_FUNCTION = 3
_RUNNER = """
import doctest, importlib, json, sys
name, qualname = sys.argv[1], sys.argv[2]
module = importlib.import_module(name)
assert module.__file__.startswith(sys.argv[3]), module.__file__
target = module
for part in qualname.split("."):
    target = getattr(target, part)
finder = doctest.DocTestFinder(recurse=False)
runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS)
for test in finder.find(target, qualname, module=module, globs=vars(module).copy()):
    runner.run(test, out=lambda _text: None)
failed, attempted = runner.summarize(verbose=False)
print(json.dumps([failed, attempted]))
"""


@dataclass(frozen=True, slots=True)
class Infill:
    task: Task
    module: str
    qualname: str
    #: The file's text split around the line: the line's indentation ends ``task.prefix``.
    line_start: int
    indent: str


def preloaded_modules() -> frozenset[str]:
    """Modules a fresh interpreter imports at start (a copy in the working directory cannot
    stand in for them)."""
    done = subprocess.run([sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
                          capture_output=True, text=True, check=True, timeout=30)
    return frozenset(done.stdout.split())


def run_doctests(module: str, qualname: str, text: str) -> tuple[int, int] | None:
    """(failed, attempted) for ``qualname``'s doctests with ``module``'s source = ``text``;
    ``None`` when the module does not import or the run does not finish."""
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, f"{module}.py").write_text(text)
        try:
            done = subprocess.run([sys.executable, "-c", _RUNNER, module, qualname, scratch],
                                  cwd=scratch, capture_output=True, text=True,
                                  timeout=RUN_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    failed, attempted = json.loads(done.stdout.strip().splitlines()[-1])
    return int(failed), int(attempted)


def _doctested(tree: ast.Module) -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for node in tree.body:
        members = [(node.name, node)] if isinstance(node, ast.FunctionDef) else [
            (f"{node.name}.{m.name}", m) for m in node.body
            if isinstance(m, ast.FunctionDef)] if isinstance(node, ast.ClassDef) else []
        for qualname, function in members:
            doc = ast.get_docstring(function) or ""
            if ">>>" in doc:
                found.append((qualname, function))
    return found


def _lines_of(function: ast.FunctionDef) -> list[int]:
    """1-based lines of single-line simple statements in the body (not the docstring)."""
    lines = []
    for node in ast.walk(function):
        if isinstance(node, ast.stmt) and node is not function and \
                not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.If | ast.For |
                               ast.While | ast.With | ast.Try) and \
                node.lineno == node.end_lineno and not (
                    isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            lines.append(node.lineno)
    return lines


def build_infills(limit: int, seed: int) -> list[Infill]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample
    preloaded = preloaded_modules()
    files = [f for f in corpus_files.load("heldout") if f.language == "python"]
    rng.shuffle(files)
    infills: list[Infill] = []
    for file in files:
        if len(infills) >= limit:
            break
        name = Path(file.path).stem
        if f"/{name}.py" not in file.path or name not in SAFE_MODULES or name in preloaded \
                or "/lib/python3" not in file.path or "site-packages" in file.path:
            continue
        try:
            tree = ast.parse(file.text)
        except (SyntaxError, ValueError):
            continue
        for qualname, function in _doctested(tree):
            if len(infills) >= limit:
                break
            infills += reached_lines(name, file.path, file.text, qualname, function, rng,
                                     min(LINES_PER_FUNCTION, limit - len(infills)))
    return infills


def reached_lines(module: str, path: str, text: str, qualname: str, function: ast.FunctionDef,
                  rng: random.Random, most: int = LINES_PER_FUNCTION) -> list[Infill]:
    """Up to ``most`` of ``function``'s single-line statements that its doctests run (with
    :data:`UNREACHED` in a line's place they fail), as tasks; none unless the doctests pass as
    ``text`` is. The filter of the evaluation: a line the doctests never run cannot be scored."""
    candidates = sorted(set(_lines_of(function)))  # `a = 1; b = 2` is one line
    original = run_doctests(module, qualname, text)
    if not candidates or original is None or original[0] or not original[1]:
        return []  # the doctests must run and pass as the file is
    rng.shuffle(candidates)
    lines = text.split("\n")
    infills: list[Infill] = []
    for number in (c - 1 for c in candidates[:MAX_TRIES]):
        line = lines[number]
        indent = line[:len(line) - len(line.lstrip())]
        start = sum(len(x) + 1 for x in lines[:number])
        infill = Infill(Task("line", "python", path, text[:start] + indent,
                             text[start + len(line):], line.strip()), module, qualname, start,
                        indent)
        if passes(infill, UNREACHED):
            continue  # the doctests never run this line: it cannot be scored
        infills.append(infill)
        if len(infills) >= most:
            break
    return infills


def passes(infill: Infill, completion: str) -> bool:
    line = completion.split("\n")[0].rstrip()
    result = run_doctests(infill.module, infill.qualname,
                          infill.task.prefix + line + infill.task.suffix)
    return result is not None and result[0] == 0 and result[1] > 0


def systems_for(work: list[Task], texts: list[str], ngram_tokens: int, seed: int
                ) -> dict[str, list[str]]:
    """Each compared system's one-line answers to ``work``."""
    engine = model_dir.import_module("engine")
    copy_weight, default = engine.COPY_WEIGHT, engine.DEFAULT_THRESHOLD
    fim = fim_answers(work, copy_weight)
    opened = fim_answers(with_open_files(work, seed), copy_weight)
    return {
        "empty line": ["" for _ in work],
        "code_fim, threshold 0": [a.text for a in fim],
        f"code_fim, threshold {default}": [(a.by_threshold or {}).get(default, "") for a in fim],
        "code_fim, files open, thr 0": [a.text for a in opened],
        "n-gram": [a.text for a in ngram_answers(work, texts, ngram_tokens, always=True)],
    }


def report(language: str, work: list[Task], systems: dict[str, list[str]],
           check: Callable[[int, str], bool]) -> None:
    """Runs every answer (``check(task index, answer)``) and prints the table and the target."""
    print(f"{language}: {'system':28s} {'pass':>6s} {'rate':>6s} {'exact':>6s} {'answered':>9s}")
    passing: dict[str, int] = {}
    n = max(1, len(work))
    for name, answers in systems.items():
        passed = sum(check(i, a) for i, a in enumerate(answers))
        passing[name] = passed
        exact = sum(a.split("\n")[0].strip() == t.target for t, a in zip(work, answers, strict=True))
        answered = sum(bool(a.strip()) for a in answers)
        print(f"{language}: {name:28s} {passed:6d} {passed / n:6.3f} {exact / n:6.3f} "
              f"{answered / n:9.3f}")
    best = max((s for s in passing if s.startswith("code_fim")), key=lambda s: passing[s])
    met = passing[best] >= 3 * passing["empty line"] and passing[best] > 0
    print(f"target ({language}): pass rate >= 3x the empty line's: best code_fim ({best}) "
          f"{passing[best]} vs {passing['empty line']} -> {'met' if met else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=150)
    parser.add_argument("--go-tasks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ngram-tokens", type=int, default=5_000_000,
                        help="training tokens for the n-gram baseline")
    args = parser.parse_args(argv)
    texts = [f.text for f in corpus_files.load("train")]
    infills = build_infills(args.tasks, args.seed)
    work = [i.task for i in infills]
    print(f"executable infilling, python: {len(work)} lines in doctested held-out functions of "
          f"{len({i.module for i in infills})} modules")
    report("python", work, systems_for(work, texts, args.ngram_tokens, args.seed),
           lambda i, answer: passes(infills[i], answer))
    with executable_go.scratch_dir() as scratch:
        go_infills = executable_go.build_infills(args.go_tasks, args.seed, Path(scratch))
        go_work = [i.task for i in go_infills]
        print(f"executable infilling, go: {len(go_work)} lines the tests of "
              f"{len({i.module for i in go_infills})} held-out modules reach")
        if go_work:
            report("go", go_work, systems_for(go_work, texts, args.ngram_tokens, args.seed),
                   lambda i, answer: executable_go.passes(go_infills[i], answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
