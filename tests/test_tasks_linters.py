"""oxlint and ShellCheck as the find_bugs route runs them (installed by ``make install``), on
text that never reaches a disk; and what happens without them."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from documents.document import apply_edits
from schemas.tasks import TaskFinding, TaskText
from tasks import linters
from tasks.engine import TaskInput, run_task

JS = "let x = 1;\nfunction f(a) {\n  return;\n  console.log('\U0001f600', a);\n}\n"
SHELL = "#!/bin/bash\nfor f in $(ls *.txt); do\n  echo $f\ndone\n"


def findings(text: str, language: str, uri: str) -> tuple[list[TaskFinding], str]:
    items = list(run_task(TaskInput("find_bugs", text, language, uri, 0, 0), None))
    summary = "".join(i.text for i in items if isinstance(i, TaskText))
    return [i for i in items if isinstance(i, TaskFinding)], summary


def test_oxlint_finds_unreachable_code_in_code_points() -> None:
    assert linters.oxlint_binary(), "oxlint is missing: `make install` puts it in .stack/vendor"
    found, summary = findings(JS, "javascript", "file:///a.js")
    rules = {f.rule: f for f in found}
    assert "eslint(no-unreachable)" in rules, rules
    unreachable = rules["eslint(no-unreachable)"]
    assert JS[unreachable.start:unreachable.end].startswith("console.log")
    assert "(oxlint; tsc; semantic checks)" in summary


def test_javascript_names_neither_declared_nor_global_are_likely_bugs() -> None:
    """An assignment to an undeclared variable and a misspelt name are found; Node's and
    browsers' globals are not (the JavaScript of the issue's report: a latent bug missed)."""
    text = ("const path = require('path');\nfunction total(items) {\n  sum = 0;\n"
            "  for (const i of items) sum += i;\n  console.log(path.sep, window.name);\n"
            "  return summ;\n}\nmodule.exports = total;\n")
    found, _ = findings(text, "javascript", "file:///a.js")
    undeclared = sorted(text[f.start:f.end] for f in found if f.rule == "eslint(no-undef)")
    assert undeclared == ["sum", "sum", "summ"], found
    ts, _ = findings(text.replace("(items)", "(items: number[])"), "typescript", "file:///a.ts")
    assert not any(f.rule == "eslint(no-undef)" for f in ts)  # TypeScript checks its names


def test_shellcheck_findings_come_with_fixes() -> None:
    assert shutil.which("shellcheck"), "ShellCheck is missing: `make install` installs it"
    found, summary = findings(SHELL, "shellscript", "file:///a.sh")
    assert "(ShellCheck)" in summary
    assert {f.rule for f in found} == {"SC2045"}  # unquoted variables: a note, on request
    items = list(run_task(TaskInput("find_bugs", SHELL, "shellscript", "file:///a.sh", 0, 0,
                                    "style"), None))
    rules = {f.rule: f for f in items if isinstance(f, TaskFinding)}
    assert {"SC2045", "SC2086"} <= set(rules), rules
    quoting = rules["SC2086"]
    assert quoting.severity == "hint"
    assert quoting.fix is not None
    assert 'echo "$f"' in apply_edits(SHELL, tuple(sorted(quoting.fix, key=lambda e: -e.start)))


def test_without_oxlint_javascript_gets_syntax_errors_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OXLINT_BIN", "/nonexistent/oxlint")
    linters.oxlint_binary.cache_clear()
    try:
        found, summary = findings("let x = (1;\n", "javascript", "file:///b.js")
    finally:
        linters.oxlint_binary.cache_clear()
    assert [f.rule for f in found] == ["syntax/missing"]
    assert "syntax only: oxlint is not installed" in summary


def test_the_text_is_linted_from_memory_and_removed() -> None:
    assert linters.MEMORY_DIR.is_dir()
    before = {p.name for p in linters.MEMORY_DIR.iterdir()}
    linters.run_oxlint(JS, "javascript")
    assert {p.name for p in linters.MEMORY_DIR.iterdir()} == before


def test_leftover_private_directories_of_this_user_are_removed() -> None:
    """A killed analyzer's private directory in memory goes at the next start: this process's
    user's, whoever owns the code (root in the Triton image, which runs as another user)."""
    mine = tempfile.mkdtemp(prefix=linters.LINT_PREFIX, dir=linters.MEMORY_DIR)
    theirs = tempfile.mkdtemp(prefix=linters.LINT_PREFIX, dir=linters.MEMORY_DIR)
    other = tempfile.mkdtemp(prefix="not-ours-", dir=linters.MEMORY_DIR)
    try:
        if os.getuid() == 0:
            os.chown(theirs, 54321, 54321)
        assert linters.remove_leftovers() >= 1
        assert not os.path.exists(mine) and os.path.exists(other)
        assert os.path.exists(theirs) == (os.getuid() == 0)
    finally:
        for path in (mine, theirs, other):
            shutil.rmtree(path, ignore_errors=True)
