"""The language server driven by a real LSP client (pytest-lsp, over stdio, with the capabilities
VS Code and Neovim really announce) against the test stack: completions, acceptance reaching
ClickHouse, cancellation, reconnection after the edge is killed, UTF-16 text, and bad input."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from config.settings import Settings
from ide.verdicts import GRACE_S
from infra.processes import Supervisor
from tests.conftest import KEYRING
from tests.lsp_wire import Wire, framed, message
from tests.real_editors import feedback_kinds_sql
from tests.test_analytics_e2e import until
from tests.test_stack_e2e import PYTHON_SOURCE

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parent.parent
URI = "file:///work/fib.py"


async def start_editor(stack: Settings, client: str = "visual-studio-code",
                       api_key: str | None = None, **init: object) -> LanguageClient:
    env = {**os.environ, "CODE_ASSISTANT_API_KEY": api_key or KEYRING.take("pro").api_key,
           "PYTHONPATH": str(ROOT)}
    editor = await ClientServerConfig([sys.executable, "-m", "ide"], server_env=env).start()
    await editor.initialize_session(types.InitializeParams(
        capabilities=client_capabilities(client),
        initialization_options={"url": stack.edge_url(), **init}))
    return editor


@pytest.fixture
async def editor(stack: Settings) -> AsyncIterator[LanguageClient]:
    client = await start_editor(stack)
    yield client
    await client.shutdown_session()
    await client.stop()


def open_doc(editor: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    editor.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def type_at(editor: LanguageClient, line: int, character: int, text: str, version: int,
            uri: str = URI) -> None:
    here = types.Position(line=line, character=character)
    editor.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=here, end=here), text=text)]))


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def inline_params(uri: str, position: types.Position) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic))


def end_of(text: str) -> types.Position:
    """The end of ``text`` as VS Code counts it (UTF-16 units; ``\\r\\n`` one line break)."""
    lines = text.replace("\r\n", "\n").split("\n")
    return pos(len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2)


async def inline(editor: LanguageClient, position: types.Position, uri: str = URI
                 ) -> types.InlineCompletionList:
    result = await editor.text_document_inline_completion_async(inline_params(uri, position))
    assert isinstance(result, types.InlineCompletionList)
    return result


async def test_inline_completion_then_accept_reaches_clickhouse(
        stack: Settings, editor: LanguageClient) -> None:
    open_doc(editor, PYTHON_SOURCE)
    at = end_of(PYTHON_SOURCE)
    type_at(editor, at.line, at.character, "m", 2)
    result = await inline(editor, pos(at.line, at.character + 1))
    assert len(result.items) == 1
    item = result.items[0]
    assert isinstance(item.insert_text, str) and item.insert_text.startswith("it)"), item.insert_text
    assert item.command is not None and item.command.arguments
    request_id = item.command.arguments[0]["requestId"]
    accepted = await editor.workspace_execute_command_async(types.ExecuteCommandParams(
        command=item.command.command, arguments=item.command.arguments))
    assert accepted is True
    sql = (f"SELECT uniqExact(event_id) FROM feedback_events WHERE request_id = '{request_id}' "
           "AND kind = 'accepted'")
    assert await until(stack, sql, 1) == 1


@pytest.mark.parametrize("level", ["info", "debug"])
async def test_no_code_in_the_servers_log(stack: Settings, tmp_path: Path, level: str) -> None:
    """At any log level the server's log (an editor's LSP log) holds no code: neither the
    document's nor the suggestion's (pygls logs whole messages at INFO and DEBUG)."""
    stderr = tmp_path / "server.stderr"
    env = {**os.environ, "CODE_ASSISTANT_API_KEY": KEYRING.take("pro").api_key,
           "PYTHONPATH": str(ROOT), "CODE_ASSISTANT_LOG": level}
    command = ["sh", "-c", 'exec "$0" -m ide 2>"$1"', sys.executable, str(stderr)]
    editor = await ClientServerConfig(command, server_env=env).start()
    await editor.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={"url": stack.edge_url()}))
    text = f"# CANARY_{uuid.uuid4().hex}\n{PYTHON_SOURCE}"
    try:
        open_doc(editor, text)
        at = end_of(text)
        type_at(editor, at.line, at.character, "m", 2)
        result = await inline(editor, pos(at.line, at.character + 1))
    finally:
        await editor.shutdown_session()
        await editor.stop()
    assert result.items and isinstance(result.items[0].insert_text, str)
    suggestion = result.items[0].insert_text
    log = stderr.read_text()
    assert log, "the server logged something at this level"
    assert "CANARY_" not in log and suggestion not in log, log[-3000:]


async def test_suggestions_typed_past_are_reported_shown_then_dismissed(
        stack: Settings, editor: LanguageClient) -> None:
    """An editor that says nothing when a suggestion is typed past (VS Code does not) still
    gets it counted: shown when answered, dismissed once a newer request went unanswered-for."""
    text = f"# {uuid.uuid4().hex}\n{PYTHON_SOURCE}"
    open_doc(editor, text)
    at = end_of(text)
    type_at(editor, at.line, at.character, "m", 2)
    first = await inline(editor, pos(at.line, at.character + 1))
    assert first.items and first.items[0].command and first.items[0].command.arguments
    passed_over = first.items[0].command.arguments[0]["requestId"]
    type_at(editor, at.line, at.character + 1, "i", 3)
    second = await inline(editor, pos(at.line, at.character + 2))
    assert second.items and second.items[0].command and second.items[0].command.arguments
    kept = second.items[0].command.arguments[0]["requestId"]
    assert await editor.workspace_execute_command_async(types.ExecuteCommandParams(
        command=second.items[0].command.command, arguments=second.items[0].command.arguments))

    type_at(editor, at.line, at.character + 2, "t", 4)  # a newer request after the accept
    await inline(editor, pos(at.line, at.character + 3))
    assert await until(stack, feedback_kinds_sql(passed_over), "dismissed,shown") == "dismissed,shown"
    assert await until(stack, feedback_kinds_sql(kept), "accepted,shown") == "accepted,shown"
    await asyncio.sleep(GRACE_S + 1.0)
    assert await until(stack, feedback_kinds_sql(kept), "accepted,shown", timeout_s=3) == "accepted,shown", \
        "an accepted suggestion is never also dismissed"


async def test_utf16_and_crlf_document(stack: Settings, editor: LanguageClient) -> None:
    """VS Code counts UTF-16 units: edits after emoji and CJK extension B characters, on CRLF
    lines, keep the server's copy equal (the completion is the one the plain text gets)."""
    text = "# 😀 𠀀 naïve 👍🏽\r\n" + PYTHON_SOURCE.replace("\n", "\r\n")
    open_doc(editor, text)
    type_at(editor, 0, len("# 😀 𠀀 naïve 👍🏽".encode("utf-16-le")) // 2, " 中文 😀", 2)
    at = end_of(text)
    type_at(editor, at.line, at.character, "m", 3)
    result = await inline(editor, pos(at.line, at.character + 1))
    assert result.items and str(result.items[0].insert_text).startswith("it)")
    assert not [m for m in editor.messages if m.type == types.MessageType.Error], editor.messages


async def test_classic_completion_for_a_client_without_inline_completion(stack: Settings) -> None:
    editor = await start_editor(stack, "neovim@v0.7.0")
    try:
        open_doc(editor, PYTHON_SOURCE)
        at = end_of(PYTHON_SOURCE)
        type_at(editor, at.line, at.character, "m", 2)
        result = await editor.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=pos(at.line, at.character + 1)))
        assert isinstance(result, types.CompletionList) and len(result.items) == 1
        edit = result.items[0].text_edit
        assert isinstance(edit, types.TextEdit)
        # The word being typed ("lim") is replaced by itself plus the suggestion.
        assert edit.range.start.character == at.character - 2
        assert edit.new_text.startswith("limit)"), edit.new_text
        # A cursor past the line's end is read as its end, and so is the edit's range end
        # (a client that clamps a range past it would write "lim" + "limit)...").
        past = await editor.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=pos(at.line, at.character + 40)))
        assert isinstance(past, types.CompletionList) and len(past.items) == 1
        past_edit = past.items[0].text_edit
        assert isinstance(past_edit, types.TextEdit)
        assert past_edit.range.end.character == at.character + 1, past_edit.range
        assert past_edit.range.start.character == at.character - 2
    finally:
        await editor.shutdown_session()
        await editor.stop()


async def test_an_edit_mid_line_after_astral_characters_lands_where_the_editor_put_it(
        stack: Settings) -> None:
    """An edit placed after text outside the BMP, inside the word before the cursor: a column
    counted in code points would put it 4 characters later (here: clamped to the line's end),
    and the classic completion's range and text, computed from the server's copy, show where
    it landed."""
    editor = await start_editor(stack, "neovim@v0.7.0")  # positions in UTF-16 (the default)
    try:
        head = '    v = "😀𠀀"; '
        text = PYTHON_SOURCE.rsplit("\n", 1)[0] + "\n" + head + "lim"
        open_doc(editor, text)
        line = text.count("\n")
        column = len(head.encode("utf-16-le")) // 2  # 2 more than its code points
        type_at(editor, line, column, "x", 2)  # "; lim" -> "; xlim"
        result = await editor.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            position=pos(line, column + 4)))
        assert isinstance(result, types.CompletionList) and result.items, result
        edit = result.items[0].text_edit
        assert isinstance(edit, types.TextEdit)
        assert edit.new_text.startswith("xlim"), edit.new_text
        assert edit.range.start == pos(line, column), edit.range
    finally:
        await editor.shutdown_session()
        await editor.stop()


async def test_cancel_request_cancels_at_the_edge(stack: Settings) -> None:
    """A ``$/cancelRequest`` that reaches the worker while the model runs ends the request
    there (recorded as cancelled). Which requests get there in time is a race (the language
    server may drop one before posting it; a fast answer may beat its cancel), so each try is a
    cold prompt (a new document no other test typed: nothing cached) and the tries stop at the
    first cancellation the analytics store recorded."""
    caller = KEYRING.take("pro")
    editor = await start_editor(stack, api_key=caller.api_key)
    sql = (f"SELECT uniqExact(event_id) FROM completion_events WHERE user_id = "
           f"'{caller.user_id}' AND tenant_id = '{caller.tenant_id}' AND reason = 'cancelled'")
    try:
        refused = cancelled = 0
        at = end_of(f"#\n{PYTHON_SOURCE}")  # the uuid comment is one line
        for attempt in range(8):
            uri = f"file:///work/cancel_{attempt}.py"
            open_doc(editor, f"# {uuid.uuid4().hex}\n{PYTHON_SOURCE}", uri)
            msg_id = f"cancel-me-{attempt}"
            request = asyncio.ensure_future(editor.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, at), msg_id=msg_id))
            await asyncio.sleep(0.02)  # sent and received; a cold prompt takes longer
            editor.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            try:
                await request
            except JsonRpcException as error:
                assert "cancel" in str(error).lower(), error
                refused += 1
            else:
                continue
            cancelled = await until(stack, sql, 1, timeout_s=5)
            if cancelled:
                break
        assert refused >= 1, "no request was still running when its cancel arrived"
        if not cancelled:  # the last one may still be on its way to the store
            cancelled = await until(stack, sql, 1, timeout_s=20)
        assert cancelled >= 1, f"{refused} requests refused, none recorded as cancelled"
        # The server goes on serving after cancellations.
        result = await inline(editor, at, uri)
        assert isinstance(result, types.InlineCompletionList)
    finally:
        await editor.shutdown_session()
        await editor.stop()


async def test_reconnects_and_reopens_documents_after_the_edge_is_killed(
        running_stack: tuple[Supervisor, Settings], editor: LanguageClient) -> None:
    supervisor = running_stack[0]
    open_doc(editor, PYTHON_SOURCE)
    at = end_of(PYTHON_SOURCE)
    type_at(editor, at.line, at.character, "m", 2)
    here = pos(at.line, at.character + 1)
    assert (await inline(editor, here)).items

    supervisor.procs["edge-0"].send_signal(signal.SIGKILL)
    supervisor.procs["edge-0"].wait(timeout=10)
    supervisor.relaunch("edge-0")
    # Typing goes on while the edge is away; the server re-opens the document once it is back.
    type_at(editor, here.line, here.character, "i", 3)
    type_at(editor, here.line, here.character + 1, "t", 4)
    end = pos(here.line, here.character + 2)
    deadline = time.monotonic() + 60
    items: list[types.InlineCompletionItem] = []
    while not items and time.monotonic() < deadline:
        items = list((await inline(editor, end)).items)
        await asyncio.sleep(0.5)
    assert items and str(items[0].insert_text).startswith(")"), items


async def test_bad_editor_input_gets_errors_and_the_server_lives(
        stack: Settings, editor: LanguageClient) -> None:
    with pytest.raises(JsonRpcException, match="not open"):
        await inline(editor, pos(0, 0), uri="file:///never-opened.py")
    open_doc(editor, "x = 1\n")
    with pytest.raises(JsonRpcException, match="past the document's last line"):
        await inline(editor, pos(40, 0))
    # A change before open, and one out of range: told with showMessage, nothing ends.
    type_at(editor, 0, 0, "y", 2, uri="file:///not-open.py")
    type_at(editor, 9, 0, "y", 2)
    await asyncio.sleep(0.5)
    errors = [m.message for m in editor.messages if m.type == types.MessageType.Error]
    assert any("not-open.py is not open" in m for m in errors), errors
    assert any("past the document's last line" in m for m in errors), errors
    with pytest.raises(JsonRpcException, match="close and reopen"):
        await inline(editor, pos(0, 0))
    # A document larger than the edge takes in one frame.
    open_doc(editor, "x = 1\n" * 300_000, uri="file:///huge.py")
    with pytest.raises(JsonRpcException, match="larger than the edge's frame limit"):
        await inline(editor, pos(1, 0), uri="file:///huge.py")
    with pytest.raises(JsonRpcException, match="got no suggestion here"):
        await editor.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codeAssistant.feedback", arguments=[{"requestId": "nope", "kind": "accepted"}]))
    with pytest.raises(JsonRpcException, match="one object argument"):
        await editor.workspace_execute_command_async(types.ExecuteCommandParams(
            command="codeAssistant.feedback", arguments=["nope"]))
    # Still serving: a fresh document completes.
    open_doc(editor, PYTHON_SOURCE + "m", uri="file:///ok.py")
    result = await inline(editor, end_of(PYTHON_SOURCE + "m"), uri="file:///ok.py")
    assert result.items and str(result.items[0].insert_text).startswith("it)")


async def test_more_documents_than_the_edge_holds_are_rotated_through_it(
        stack: Settings, editor: LanguageClient) -> None:
    """An IDE with many tabs open: the edge keeps a bounded set per session (64); the server
    keeps the most recently used there and re-opens an evicted one whole when it is used."""
    open_doc(editor, "x = 1\n", uri="file:///work/warm-up.py")
    await inline(editor, pos(1, 0), uri="file:///work/warm-up.py")  # the session is up
    tabs = [f"file:///work/tab-{n}.py" for n in range(80)]
    for n, uri in enumerate(tabs):
        open_doc(editor, PYTHON_SOURCE if n in (0, 79) else f"x{n} = {n}\n", uri=uri)
    at = end_of(PYTHON_SOURCE)
    # The last opened (past the edge's 64), then the first (evicted since): both complete.
    for uri in (tabs[79], tabs[0]):
        type_at(editor, at.line, at.character, "m", 2, uri=uri)
        result = await inline(editor, pos(at.line, at.character + 1), uri=uri)
        assert result.items and str(result.items[0].insert_text).startswith("it)"), (uri, result)
    await asyncio.sleep(0.3)
    assert not [m for m in editor.messages if m.type == types.MessageType.Error], editor.messages


async def test_missing_api_key_is_a_clear_error(stack: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STACK_HOME": str(tmp_path)}
    env.pop("CODE_ASSISTANT_API_KEY", None)
    editor = await ClientServerConfig([sys.executable, "-m", "ide"], server_env=env).start()
    try:
        await editor.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"url": stack.edge_url(), "apiKey": "leaked"}))
        await asyncio.sleep(0.3)
        assert any("no API key" in m.message for m in editor.messages), editor.messages
        assert not any("leaked" in m.message for m in editor.messages), "the key is never echoed"
        open_doc(editor, "x")
        with pytest.raises(JsonRpcException, match="not configured"):
            await inline(editor, pos(0, 1))
    finally:
        await editor.shutdown_session()
        await editor.stop()


async def test_a_crlf_document_gets_suggestions_with_lf_line_breaks(
        stack: Settings, editor: LanguageClient) -> None:
    """The model continues a CRLF document with its ``\\r\\n`` (and a line it cuts keeps the
    ``\\r``); editors hold lines without their ends and would insert the ``\\r`` literally (Neovim
    showed ``^M``): the text that reaches the editor breaks lines with ``\\n`` alone, at the
    position the editor asked for."""
    head = PYTHON_SOURCE.rsplit("\n", 1)[0]
    block = (head + "\n\n\ndef print_fibonacci_table_again(limit):\n    ").replace("\n", "\r\n")
    line = PYTHON_SOURCE.replace("\n", "\r\n")
    for n, (text, starts) in enumerate(((block, "for index in range(limit):\n        print("),
                                        (line, "mit):"))):
        uri = f"file:///work/crlf_{n}.py"
        open_doc(editor, text, uri=uri)
        at = end_of(text)
        result = await inline(editor, at, uri=uri)
        assert result.items, result
        suggestion = str(result.items[0].insert_text)
        assert "\r" not in suggestion and suggestion.startswith(starts), suggestion
        assert result.items[0].range == types.Range(start=at, end=at)
        classic = await editor.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=at))
        assert isinstance(classic, types.CompletionList) and classic.items, classic
        edit = classic.items[0].text_edit
        assert isinstance(edit, types.TextEdit) and "\r" not in edit.new_text, edit


async def test_a_burst_of_edits_does_not_hold_up_the_next_suggestion(
        stack: Settings, tmp_path: Path) -> None:
    """5,000 didChange in one write (a paste storm): the edits reach the edge coalesced and the
    next inline completion is a suggestion within 2 s (one frame per edit took 4 s and more,
    and came back empty)."""
    text = PYTHON_SOURCE
    lines = text.split("\n")
    last, end = len(lines) - 1, len(lines[-1])
    wire = await Wire.start(tmp_path / "stderr", stack.edge_url(), KEYRING.take("pro").api_key)
    await wire.initialize()
    await wire.send(framed(message("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": text}})))
    here = {"textDocument": {"uri": URI}, "position": {"line": last, "character": end},
            "context": {"triggerKind": 2}}
    assert (await wire.ask("textDocument/inlineCompletion", here, "warm"))["result"]["items"]
    burst = bytearray()
    for n in range(5000):
        span = {"start": {"line": last, "character": end},
                "end": {"line": last, "character": end + n % 2}}
        burst += framed(message("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": n + 2},
            "contentChanges": [{"range": span, "text": "" if n % 2 else "x"}]}))
    await wire.send(bytes(burst))
    started = time.monotonic()
    reply = await wire.ask("textDocument/inlineCompletion", here, "after", timeout_s=30)
    took = time.monotonic() - started
    assert reply["result"]["items"], reply
    assert took < 2.0, f"the completion after the burst took {took:.2f} s"
    assert await wire.stop() == 0
