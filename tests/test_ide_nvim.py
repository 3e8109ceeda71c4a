"""Real Neovim (Debian's, headless) with our Lua setup (editors/nvim) against the test stack:
ghost text from the language server, accepting it, the acceptance in ClickHouse, and classic
completion turned into complete-items by Neovim's own LSP code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import Settings
from tests.real_editors import (
    ROOT,
    accepted_rows,
    drive,
    feedback_kinds_sql,
    suggestion_kinds_sql,
)
from tests.test_analytics_e2e import until
from tests.test_stack_e2e import PYTHON_SOURCE

pytestmark = pytest.mark.stack


async def test_neovim_gets_ghost_text_accepts_it_and_completes(stack: Settings,
                                                               tmp_path: Path) -> None:
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is missing: `make install` installs it"
    script = ROOT / "tests" / "nvim" / "complete.lua"
    seen = await drive(stack, tmp_path, "nvim",
                       [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"])
    assert seen["suggestion"].startswith("it)"), seen
    assert seen["extmarks"] >= 1, "the suggestion was drawn as ghost text"
    assert seen["line_after_accept"].startswith("    for index in range(limit)"), seen
    assert any(word.startswith("limit)") for word in seen["complete_words"]), seen
    assert await accepted_rows(stack, seen["request_id"]) == 1


async def test_neovim_typing_through_its_input_queue(stack: Settings, tmp_path: Path) -> None:
    """Keys typed into Neovim's input queue: the insert-mode hooks ask for the suggestion, a
    cursor move dismisses it (reported rejected), Tab accepts the next one (reported accepted)."""
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is missing: `make install` installs it"
    script = ROOT / "tests" / "nvim" / "type.lua"
    seen = await drive(stack, tmp_path, "nvim",
                       [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"])
    assert seen["line_after_accept"] == "    for index in range(limi" + seen["suggestion"], seen
    assert await accepted_rows(stack, seen["request_id"]) == 1
    passed_over = feedback_kinds_sql(seen["dismissed_request"])
    assert await until(stack, passed_over, "rejected,shown") == "rejected,shown"


async def test_neovim_runs_the_tasks_as_code_actions(stack: Settings, tmp_path: Path) -> None:
    """The code actions Neovim gets, a docs edit applied by Neovim's own applyEdit handler, and
    find_bugs' findings as Neovim diagnostics (the file ends mid-line: a syntax error)."""
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is missing: `make install` installs it"
    script = ROOT / "tests" / "nvim" / "tasks.lua"
    seen = await drive(stack, tmp_path, "nvim",
                       [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"])
    assert "Code assistant: Write documentation" in seen["actions"], seen
    assert len([t for t in seen["actions"] if t.startswith("Code assistant:")]) == 6
    assert seen["docs_applied"] is True
    assert seen["line_after_docs"].startswith('    """'), seen
    assert seen["line_after_rename"] == "def fibonacci(n):", seen
    assert seen["rename_edits"][0].startswith("Rename `number` to `n`"), seen
    assert seen["findings"] >= 1
    assert any(d.startswith("code-assistant:") for d in seen["diagnostics"]), seen


async def test_neovim_draws_a_next_edit_and_applies_it_as_one_undo_step(
        stack: Settings, tmp_path: Path) -> None:
    """A parameter renamed by keys typed into Neovim: the suggestion for its other uses is
    drawn, ]n jumps to its first place, <Tab> applies it, one `u` undoes all of it (the
    rename typed before it stays), and ClickHouse has it shown, then accepted."""
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is missing: `make install` installs it"
    script = ROOT / "tests" / "nvim" / "next_edit.lua"
    seen = await drive(stack, tmp_path, "nvim",
                       [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"])
    assert seen["rule"] == "rename" and seen["edits"] == 4, seen
    assert seen["marks"] >= 4, "each place is highlighted"
    assert seen["action_title"] == f"Code assistant: Apply next edit: {seen['label']}", seen
    assert seen["action_version"] == seen["buffer_version"], seen
    assert seen["cursor_after_jump"] == [2, 7], seen  # `if number` on the second line
    assert seen["lines_after_accept"] == [
        "def fibonacci(count):", "    if count < 2:", "        return count",
        "    return fibonacci(count - 1) + fibonacci(count - 2)"], seen
    assert seen["lines_after_undo"][0] == "def fibonacci(count):", seen
    assert seen["lines_after_undo"][1:] == PYTHON_SOURCE.splitlines()[1:4], seen
    kinds = await until(stack, suggestion_kinds_sql(seen["suggestion_id"]), "accepted,shown")
    assert kinds == "accepted,shown"
