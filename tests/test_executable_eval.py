"""The executable infilling evaluation's harness on a module it writes itself: doctests run
against the filled-in text in a subprocess, and a line the doctests never run is recognised."""

from __future__ import annotations

from model.training.executable import UNREACHED, Infill, passes, run_doctests
from model.training.tasks import Task

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
