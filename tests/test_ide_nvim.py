"""Real Neovim (Debian's, headless) with our Lua setup (editors/nvim) against the test stack:
ghost text from the language server, accepting it, the acceptance in ClickHouse, and classic
completion turned into complete-items by Neovim's own LSP code."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from config.settings import Settings
from tests.conftest import KEYRING
from tests.test_analytics_e2e import until
from tests.test_stack_e2e import PYTHON_SOURCE

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parent.parent


async def test_neovim_gets_ghost_text_accepts_it_and_completes(stack: Settings,
                                                               tmp_path: Path) -> None:
    nvim = shutil.which("nvim")
    assert nvim, "Neovim is missing: apt-get install -y neovim (.ci/run installs it)"
    source = tmp_path / "fib.py"
    source.write_text(PYTHON_SOURCE)
    result_file = tmp_path / "result.json"
    env = {**os.environ, "CODE_ASSISTANT_API_KEY": KEYRING.take("pro").api_key,
           "SERVER": str(ROOT / "editors" / "bin" / "code-assistant-ls"),
           "PLUGIN": str(ROOT / "editors" / "nvim"), "EDGE_URL": stack.edge_url(),
           "FILE": str(source), "RESULT": str(result_file), "HOME": str(tmp_path)}
    script = ROOT / "tests" / "nvim" / "complete.lua"
    run = await asyncio.to_thread(
        subprocess.run, [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {script}"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result_file.exists(), run.stderr
    seen = json.loads(result_file.read_text())
    assert run.returncode == 0 and "error" not in seen, (seen, run.stderr)
    assert seen["suggestion"].startswith("it)"), seen
    assert seen["extmarks"] >= 1, "the suggestion was drawn as ghost text"
    assert seen["line_after_accept"].startswith("    for index in range(limit)"), seen
    assert any(word.startswith("limit)") for word in seen["complete_words"]), seen
    sql = (f"SELECT uniqExact(event_id) FROM feedback_events WHERE request_id = "
           f"'{seen['request_id']}' AND kind = 'accepted'")
    assert await until(stack, sql, 1) == 1
