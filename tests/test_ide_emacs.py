"""Real Emacs (Debian's emacs-nox with eglot, in batch mode) with editors/emacs against the test
stack: eglot starts the language server, the ghost text appears, accepting it reaches ClickHouse."""

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


async def test_emacs_eglot_gets_ghost_text_and_accepts_it(stack: Settings, tmp_path: Path) -> None:
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: apt-get install -y emacs-nox elpa-eglot (.ci/run does)"
    source = tmp_path / "fib.py"
    source.write_text(PYTHON_SOURCE)
    result_file = tmp_path / "result.json"
    env = {**os.environ, "CODE_ASSISTANT_API_KEY": KEYRING.take("pro").api_key,
           "SERVER": str(ROOT / "editors" / "bin" / "code-assistant-ls"),
           "PLUGIN": str(ROOT / "editors" / "emacs"), "EDGE_URL": stack.edge_url(),
           "FILE": str(source), "RESULT": str(result_file), "HOME": str(tmp_path)}
    script = ROOT / "tests" / "emacs" / "complete.el"
    run = await asyncio.to_thread(
        subprocess.run, [emacs, "--batch", "-q", "-l", str(script)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result_file.exists(), run.stderr[-3000:]
    seen = json.loads(result_file.read_text())
    assert run.returncode == 0 and "error" not in seen, (seen, run.stderr[-3000:])
    assert seen["suggestion"].startswith("it)"), seen
    assert seen["overlay"] == seen["suggestion"], "the suggestion was drawn as ghost text"
    assert seen["line_after_accept"].startswith("    for index in range(limit)"), seen
    sql = (f"SELECT uniqExact(event_id) FROM feedback_events WHERE request_id = "
           f"'{seen['request_id']}' AND kind = 'accepted'")
    assert await until(stack, sql, 1) == 1
