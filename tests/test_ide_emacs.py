"""Real Emacs (Debian's emacs-nox with eglot, in batch mode) with editors/emacs against the test
stack: eglot starts the language server, the ghost text appears, accepting it reaches ClickHouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import Settings
from tests.real_editors import ROOT, accepted_rows, drive, suggestion_kinds_sql
from tests.test_analytics_e2e import until
from tests.test_stack_e2e import PYTHON_SOURCE

pytestmark = pytest.mark.stack


async def test_emacs_eglot_gets_ghost_text_and_accepts_it(stack: Settings, tmp_path: Path) -> None:
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: `make install` installs emacs-nox and elpa-eglot"
    script = ROOT / "tests" / "emacs" / "complete.el"
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["suggestion"].startswith("it)"), seen
    assert seen["overlay"] == seen["suggestion"], "the suggestion was drawn as ghost text"
    assert seen["line_after_accept"].startswith("    for index in range(limit)"), seen
    assert await accepted_rows(stack, seen["request_id"]) == 1


async def test_emacs_runs_docs_and_explain(stack: Settings, tmp_path: Path) -> None:
    """``code-assistant-task``: eglot applies the docs edit the server sends, and the
    explanation arrives as Markdown."""
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: `make install` installs emacs-nox and elpa-eglot"
    script = ROOT / "tests" / "emacs" / "tasks.el"
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["docs_edits"] == ["Document fibonacci"], seen
    assert seen["line_after_docs"].startswith('    """'), seen
    assert seen["explanation"].startswith("### `fibonacci(number)`"), seen


async def test_emacs_runs_a_task_right_after_an_edit(stack: Settings, tmp_path: Path) -> None:
    """eglot sends an edit only once Emacs is idle: ``code-assistant-task`` run at once must
    flush it first, or eglot refuses the task's edit as made for an older version."""
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: `make install` installs emacs-nox and elpa-eglot"
    script = ROOT / "tests" / "emacs" / "task_after_edit.el"
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["docs_edits"] == ["Document fibonacci"] and seen["docs_applied"] is True, seen
    assert seen["line_after_docs"].startswith('    """'), seen
    assert seen["last_line"] == "# edited just before the task", seen


async def test_emacs_draws_a_next_edit_and_applies_it_as_one_undo_step(
        stack: Settings, tmp_path: Path) -> None:
    """A parameter renamed in Emacs: the suggestion for its other uses is drawn as overlays
    (old text, new text after it), ``code-assistant-next-edit-location`` goes to its first
    place, TAB applies it, one undo takes all of it back, and ClickHouse has it accepted."""
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: `make install` installs emacs-nox and elpa-eglot"
    script = ROOT / "tests" / "emacs" / "next_edit.el"
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["rule"] == "rename", seen
    assert seen["overlays"] == [["number", "count"]] * 4, seen
    assert (seen["line_after_jump"], seen["column_after_jump"]) == (2, 7), seen
    assert seen["lines_after_accept"] == [
        "def fibonacci(count):", "    if count < 2:", "        return count",
        "    return fibonacci(count - 1) + fibonacci(count - 2)"], seen
    assert seen["lines_after_undo"][0] == "def fibonacci(count):", seen
    assert seen["lines_after_undo"][1:] == PYTHON_SOURCE.splitlines()[1:4], seen
    kinds = await until(stack, suggestion_kinds_sql(seen["suggestion_id"]), "accepted,shown")
    assert kinds == "accepted,shown"
