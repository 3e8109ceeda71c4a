"""``python -m ide`` spoken to in raw bytes, as a hostile or broken client would: every request
gets an answer (a result or the JSON-RPC error the spec gives), a bad frame costs that frame
only, the lifecycle and exit codes follow the spec, and nothing of the document reaches the log.
No stack: the edge's address refuses connections."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.lsp_wire import Wire, framed, message, refused_url

URI = "file:///m.py"
DOC = {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 3}}


@pytest.fixture
async def wire(tmp_path: Path) -> AsyncIterator[Wire]:
    peer = await Wire.start(tmp_path / "stderr", refused_url())
    reply = await peer.initialize()
    assert "capabilities" in reply["result"]
    await peer.send(framed(message("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": 1, "text": "abc\n"}})))
    yield peer
    assert await peer.stop() == 0
    assert "Traceback" not in peer.stderr.read_text()


def error_code(reply: dict[str, Any]) -> int:
    assert "error" in reply, reply
    code: int = reply["error"]["code"]
    return code


class TestEveryRequestIsAnswered:
    @pytest.mark.parametrize(("method", "params"), [
        ("textDocument/completion", {"textDocument": {"uri": URI},
                                     "position": {"line": 3, "character": -1}}),
        ("textDocument/completion", {"textDocument": {"uri": URI},
                                     "position": {"line": 0, "character": 2 ** 31}}),
        ("textDocument/completion", {"textDocument": {"uri": URI}, "position": "abc"}),
        ("textDocument/completion", {"textDocument": 5, "position": {"line": 0, "character": 0}}),
        ("textDocument/completion", None),
        ("textDocument/inlineCompletion", DOC),
        ("textDocument/codeAction", {"textDocument": {"uri": URI},
                                     "context": {"diagnostics": []}}),
    ])
    async def test_params_that_do_not_fit_get_32602(self, wire: Wire, method: str,
                                                    params: Any) -> None:
        reply = await wire.ask(method, params, 7)
        assert error_code(reply) == -32602
        assert "invalid params" in reply["error"]["message"]

    async def test_the_message_names_the_field_in_protocol_terms(self, wire: Wire) -> None:
        reply = await wire.ask("textDocument/completion",
                               {"textDocument": 5, "position": {"line": 0, "character": 0}}, 1)
        assert "params.textDocument" in reply["error"]["message"], reply

    async def test_a_code_action_range_past_the_document_gets_32602(self, wire: Wire) -> None:
        """Not the six task commands for text that is not there."""
        here = {"line": 0, "character": 0}
        reply = await wire.ask("textDocument/codeAction", {
            "textDocument": {"uri": URI}, "range": {"start": here, "end": {"line": 999,
                                                                         "character": 0}},
            "context": {"diagnostics": []}}, 11)
        assert error_code(reply) == -32602 and "line 999" in reply["error"]["message"]
        inside = await wire.ask("textDocument/codeAction", {
            "textDocument": {"uri": URI}, "range": {"start": here, "end": here},
            "context": {"diagnostics": []}}, 12)
        assert len(inside["result"]) >= 6

    async def test_an_unknown_method_without_params_gets_32601(self, wire: Wire) -> None:
        assert error_code(await wire.ask("acme/whatever", None, 8)) == -32601

    @pytest.mark.parametrize(("body", "code"), [
        (b"{not json", -32700), (b"42", -32600), (b"[1, 2]", -32600),
        (b'{"id": 9, "method": "shutdown"}', -32600),
    ])
    async def test_what_is_no_message_gets_its_error(self, wire: Wire, body: bytes,
                                                     code: int) -> None:
        await wire.send(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        reply = await wire.reply(9 if b'"id"' in body else None)
        assert error_code(reply) == code
        assert "result" in await wire.ask("textDocument/completion", DOC, 10)


class TestFraming:
    @pytest.mark.parametrize("bad", [
        b'{"jsonrpc": "2.0", "id": 99, "method": "shutdown"}',  # no header at all
        b"Content-Length: abc\r\n\r\n{}",
        b"Content-Length: 999999999999\r\n\r\n{}",
        b"Content-Length: 3\r\n\r\n" + json.dumps(message("shutdown", None, 98)).encode(),
        b"Content-Length: 200\r\n\r\n" + json.dumps(message("acme/x", None, 97)).encode(),
    ])
    async def test_one_bad_frame_and_the_next_is_answered(self, wire: Wire, bad: bytes) -> None:
        await wire.send(bad)
        reply = await wire.ask("textDocument/completion", DOC, 1)
        assert "result" in reply, reply
        assert wire.replies.get(None) or wire.replies.get(97), "the bad frame was answered too"

    @pytest.mark.parametrize("header", [
        b"content-length: %d\r\n\r\n", b"Content-Length: %d\n\n",
        b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
    ])
    async def test_headers_as_the_spec_allows(self, wire: Wire, header: bytes) -> None:
        body = json.dumps(message("textDocument/completion", DOC, 2)).encode()
        await wire.send(header % len(body) + body)
        assert "result" in await wire.reply(2)

    async def test_a_huge_header_line_is_survived(self, wire: Wire) -> None:
        await wire.send(b"X" * (8 << 20))
        assert "result" in await wire.ask("textDocument/completion", DOC, 3)

    async def test_a_body_that_stops_arriving_is_answered(self, wire: Wire) -> None:
        """Its length was too large and nothing follows: after a quiet spell it is read as
        it is (the client waits on it)."""
        body = json.dumps(message("acme/x", None, 4)).encode()
        await wire.send(b"Content-Length: %d\r\n\r\n%s" % (len(body) + 50, body))
        assert error_code(await wire.reply(4, timeout_s=5)) == -32601


class TestLifecycle:
    async def test_a_second_initialize_is_refused(self, wire: Wire) -> None:
        reply = await wire.ask("initialize", {"capabilities": {}, "positionEncoding": "utf-8"},
                               5)
        assert error_code(reply) == -32600
        still = await wire.ask("textDocument/completion", DOC, 6)
        assert "result" in still, "the open document is not forgotten"

    async def test_before_initialize_and_after_shutdown(self, tmp_path: Path) -> None:
        peer = await Wire.start(tmp_path / "stderr", refused_url())
        assert error_code(await peer.ask("textDocument/completion", DOC, 1)) == -32002
        await peer.initialize()
        assert (await peer.ask("shutdown", None, 2))["result"] is None
        assert error_code(await peer.ask("textDocument/completion", DOC, 3)) == -32600
        await peer.send(framed(message("exit")))
        assert await peer.process.wait() == 0

    async def test_exit_without_shutdown_exits_1(self, tmp_path: Path) -> None:
        peer = await Wire.start(tmp_path / "stderr", refused_url())
        await peer.initialize()
        await peer.send(framed(message("exit")))
        assert await peer.process.wait() == 1


async def test_no_code_in_the_log_when_handlers_fail(tmp_path: Path) -> None:
    """At debug, with params that fail and a document pygls would log whole."""
    canary = "zqx_canary_wire_identifier"
    peer = await Wire.start(tmp_path / "stderr", refused_url(), log_level="debug")
    await peer.initialize()
    await peer.send(framed(message("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "python", "version": "one", "text": f"{canary} = 1\n"}})))
    await peer.send(framed(message("textDocument/didChange", {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [{"range": "x", "text": canary}]})))
    await peer.ask("textDocument/completion", {"textDocument": {"uri": canary},
                                                "position": {"line": "x"}}, 1)
    assert await peer.stop() == 0
    log = peer.stderr.read_text()
    assert "notification dropped" in log, log
    assert canary not in log
