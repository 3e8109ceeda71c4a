"""The executable infilling evaluation's harness on a module it writes itself: doctests run
against the filled-in text in a subprocess, a line the doctests never run is recognised, and only
lines they run become tasks."""

from __future__ import annotations

import ast
import random
from pathlib import Path

from corpus.infill_tasks import Task
from evaluation import executable_go
from evaluation.executable import UNREACHED, Infill, passes, reached_lines, run_doctests

MODULE = '''def double(n):
    """Twice n.

    >>> double(4)
    8
    """
    if n < 0:
        raise ValueError("negative")
    result = n * 2
    return result
'''


def infill_at(line_text: str) -> Infill:
    start = MODULE.index(line_text)
    indent = "    "
    return Infill(Task("line", "python", "calc.py", MODULE[:start], MODULE[start + len(
        line_text.strip()):], line_text.strip()), "evalcalc", "double", start - 4, indent)


def test_doctests_run_against_the_given_text() -> None:
    assert run_doctests("evalcalc", "double", MODULE) == (0, 1)
    assert run_doctests("evalcalc", "double", MODULE.replace("n * 2", "n * 3")) == (1, 1)
    assert run_doctests("evalcalc", "double", "def double(:\n") is None  # does not import


def test_a_filled_line_passes_only_when_right_and_reached() -> None:
    reached = infill_at("result = n * 2")
    assert passes(reached, "result = n * 2")
    assert passes(reached, "result = n + n")  # run, not compared
    assert not passes(reached, "result = n")
    assert not passes(reached, UNREACHED)
    unreached = infill_at('raise ValueError("negative")')
    assert passes(unreached, UNREACHED), "the doctests never take the negative branch"


#: ``double``'s doctests skip its negative branch; ``triple``'s never call it at all.
FILTERED = MODULE + '''

def triple(n):
    """Three times n (the example does not call it).

    >>> 3 * 4
    12
    """
    result = n * 3
    return result
'''


def test_only_lines_the_doctests_run_become_tasks() -> None:
    functions = [n for n in ast.parse(FILTERED).body if isinstance(n, ast.FunctionDef)]
    tasks = {f.name: reached_lines("evalfilter", "filter.py", FILTERED, f.name, f,
                                   random.Random(7)) for f in functions}
    assert {name: sorted(i.task.target for i in found) for name, found in tasks.items()} == {
        "double": ["result = n * 2", "return result"], "triple": []}
    for infill in tasks["double"]:
        assert infill.task.prefix + infill.task.target + infill.task.suffix == FILTERED
        assert infill.task.prefix.endswith("\n    ") and infill.indent == "    "
        assert passes(infill, infill.task.target) and not passes(infill, UNREACHED)


GO_SOURCE = """package calc

// Double returns twice n.
func Double(n int) int {
\tif n < 0 {
\t\tpanic("negative")
\t}
\tresult := n * 2
\tresult = result + 0
\treturn result
}
"""
GO_TEST = """package calc

import "testing"

func TestDouble(t *testing.T) {
\tif Double(4) != 8 {
\t\tt.Fatal("wrong")
\t}
}
"""


def test_go_statement_lines_are_found() -> None:
    lines = GO_SOURCE.split("\n")
    assert [lines[n].strip() for n in executable_go.candidates(GO_SOURCE)] == [
        'panic("negative")', "result := n * 2", "result = result + 0", "return result"]


def test_a_go_line_passes_only_when_the_tests_pass_with_it(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module example.com/calc\n\ngo 1.20\n")
    (tmp_path / "calc.go").write_text(GO_SOURCE)
    (tmp_path / "calc_test.go").write_text(GO_TEST)
    start = GO_SOURCE.index("\tresult = result + 0")
    end = start + len("\tresult = result + 0")
    infill = executable_go.GoInfill(Task("line", "go", "calc.go", GO_SOURCE[:start + 1],
                                         GO_SOURCE[end:], "result = result + 0"),
                                    tmp_path, "calc.go")
    assert executable_go.passes(infill, "result = result + 0")
    assert not executable_go.passes(infill, "result = result + 1")
    assert executable_go.with_line(infill, executable_go.PANIC) == (True, False), "reached"
    assert executable_go.with_line(infill, "result :=") == (False, False), "does not build"
    assert (tmp_path / "calc.go").read_text() == GO_SOURCE, "the file is put back"
