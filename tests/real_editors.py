"""Running a real editor (Neovim, Emacs) on a script against the test stack: the file it edits,
the environment that points our editor package and language server at the stack, and what the
script reports back as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from config.settings import Settings
from tests.conftest import KEYRING
from tests.test_analytics_e2e import until
from tests.test_stack_e2e import PYTHON_SOURCE

ROOT = Path(__file__).resolve().parent.parent


async def drive(stack: Settings, tmp_path: Path, plugin: str, argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` (an editor on a script) with ``editors/<plugin>`` on ``fib.py``; the script
    writes what it saw to ``$RESULT`` and exits non-zero on any error."""
    source = tmp_path / "fib.py"
    source.write_text(PYTHON_SOURCE)
    result_file = tmp_path / "result.json"
    env = {**os.environ, "CODE_ASSISTANT_API_KEY": KEYRING.take("pro").api_key,
           "SERVER": str(ROOT / "editors" / "bin" / "code-assistant-ls"),
           "PLUGIN": str(ROOT / "editors" / plugin), "EDGE_URL": stack.edge_url(),
           "FILE": str(source), "RESULT": str(result_file), "HOME": str(tmp_path)}
    run = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=120)
    assert result_file.exists(), run.stderr[-3000:]
    seen: dict[str, Any] = json.loads(result_file.read_text())
    assert run.returncode == 0 and "error" not in seen, (seen, run.stderr[-3000:])
    return seen


async def accepted_rows(stack: Settings, request_id: str) -> int:
    """Accepted feedback events of ``request_id`` in ClickHouse (waits for the sink)."""
    sql = (f"SELECT uniqExact(event_id) FROM feedback_events WHERE request_id = '{request_id}' "
           "AND kind = 'accepted'")
    found: int = await until(stack, sql, 1)
    return found


def feedback_kinds_sql(request_id: str) -> str:
    """The feedback kinds of ``request_id``, sorted and comma-joined ("accepted,shown")."""
    return ("SELECT arrayStringConcat(arraySort(groupUniqArray(kind)), ',') FROM feedback_events "
            f"WHERE request_id = '{request_id}'")


def suggestion_kinds_sql(suggestion_id: str) -> str:
    """The feedback kinds of next-edit suggestion ``suggestion_id``, sorted and comma-joined."""
    return ("SELECT arrayStringConcat(arraySort(groupUniqArray(kind)), ',') FROM suggestion_events "
            f"WHERE suggestion_id = '{suggestion_id}'")
