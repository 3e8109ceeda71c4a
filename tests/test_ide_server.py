"""The language server on its own, driven by a real LSP client (pytest-lsp over stdio) with no
stack: the edge's address refuses connections. What it advertises in ``initialize``, how fast it
answers once it knows the edge is down, and what a failed task leaves in its log (stderr)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from ide.actions import TASK_COMMAND
from tests.lsp_wire import refused_url

ROOT = Path(__file__).resolve().parent.parent
URI = "file:///work/offline.py"


@dataclass
class Offline:
    editor: LanguageClient
    initialized: types.InitializeResult
    stderr: Path


async def start(tmp_path: Path, client: str) -> Offline:
    stderr = tmp_path / "server.stderr"
    env = {**os.environ, "CODE_ASSISTANT_API_KEY": "k", "PYTHONPATH": str(ROOT)}
    # The server's stderr goes to a file: what an editor's LSP log would show.
    command = ["sh", "-c", 'exec "$0" -m ide 2>"$1"', sys.executable, str(stderr)]
    editor = await ClientServerConfig(command, server_env=env).start()
    initialized = await editor.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(client),
        initialization_options={"url": refused_url()}))
    return Offline(editor, initialized, stderr)


@pytest.fixture
async def offline(tmp_path: Path) -> AsyncIterator[Offline]:
    server = await start(tmp_path, "visual-studio-code")
    yield server
    await server.editor.shutdown_session()
    await server.editor.stop()


async def until_unreachable(editor: LanguageClient) -> None:
    """Wait for the server's first failed attempt to reach the edge (it tells the user)."""
    deadline = time.monotonic() + 10
    while not any("cannot reach the edge" in m.message for m in editor.messages):
        assert time.monotonic() < deadline, editor.messages
        await asyncio.sleep(0.05)


async def logged(stderr: Path, word: str) -> str:
    """The server's stderr once ``word`` is in it (or after 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        log = await asyncio.to_thread(stderr.read_text)
        if word in log or time.monotonic() > deadline:
            return log
        await asyncio.sleep(0.05)


def open_doc(editor: LanguageClient, text: str) -> None:
    editor.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text)))


class TestInitialize:
    """The capabilities an LSP client reads from the real ``initialize`` result."""

    @pytest.mark.parametrize("client", ["visual-studio-code", "neovim@v0.7.0"])
    async def test_inline_completion_is_advertised(self, tmp_path: Path, client: str) -> None:
        server = await start(tmp_path, client)
        try:
            capabilities = server.initialized.capabilities
            # Without it VS Code's client registers no inline completion provider: no ghost text.
            assert capabilities.inline_completion_provider is not None, capabilities
            assert capabilities.completion_provider is not None
        finally:
            await server.editor.shutdown_session()
            await server.editor.stop()


class TestEdgeDown:
    """Once a connection attempt has failed, requests are answered at once, not after a wait."""

    async def test_completions_answer_empty_at_once(self, offline: Offline) -> None:
        editor = offline.editor
        await until_unreachable(editor)
        open_doc(editor, "def f():\n    ret")
        here = types.Position(line=1, character=7)
        for _ in range(3):
            started = time.monotonic()
            inline = await editor.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=URI), position=here,
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
            classic = await editor.text_document_completion_async(types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI), position=here))
            elapsed = time.monotonic() - started
            assert isinstance(inline, types.InlineCompletionList) and not inline.items
            assert isinstance(classic, types.CompletionList) and not classic.items
            assert elapsed < 0.5, f"two requests took {elapsed:.2f} s with the edge known down"

    async def test_a_failed_task_logs_one_clear_line(self, offline: Offline) -> None:
        editor = offline.editor
        await until_unreachable(editor)
        open_doc(editor, "def f():\n    return 1\n")
        here = {"line": 0, "character": 4}
        with pytest.raises(JsonRpcException, match="no session to the edge") as raised:
            await editor.workspace_execute_command_async(types.ExecuteCommandParams(
                command=TASK_COMMAND,
                arguments=[{"kind": "explain", "uri": URI, "range": {"start": here, "end": here}}]))
        log = await logged(offline.stderr, "explain")
        assert "Traceback" not in log, log
        [line] = [line for line in log.splitlines() if "explain" in line]
        assert URI in line and "no session to the edge" in line and "make up" in line, line
        assert not any("Traceback" in m.message for m in editor.log_messages)
        assert "make up" in str(raised.value), "the error the editor shows says what to do"

