"""The language server's wire, pure: ``Content-Length`` framing that survives a hostile peer,
JSON-RPC envelopes and the errors they get, and the LSP lifecycle's admissions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ide import envelope
from ide.framing import MAX_HEADER_BYTES, Body, Decoder, Event, Fault, frame
from ide.lifecycle import Admit, Drop, Lifecycle, Refuse

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10)
BODIES = st.lists(JSON_VALUES.map(lambda v: json.dumps({"jsonrpc": "2.0", "v": v}).encode()),
                  min_size=1, max_size=6)
#: Noise that cannot spell a header name (no c or C): it hides no frame of its own.
NOISE = st.binary(max_size=40).map(lambda b: b.replace(b"c", b"x").replace(b"C", b"x"))


def messages(decoder: Decoder, pieces: list[bytes]) -> list[bytes]:
    """Bodies that parse, fed in ``pieces``, resyncing after one that does not (as
    :class:`ide.stdio.Front` does)."""
    out = []
    for piece in pieces:
        decoder.feed(piece)
        while (event := decoder.next()) is not None:
            if isinstance(event, Body):
                try:
                    json.loads(event.data)
                except ValueError:
                    decoder.resync(event.data)
                    continue
                out.append(event.data)
    return out


def events(decoder: Decoder, data: bytes) -> list[Event]:
    decoder.feed(data)
    out = []
    while (event := decoder.next()) is not None:
        out.append(event)
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(len(data), c) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


class TestFraming:
    @settings(max_examples=200, deadline=None)
    @given(BODIES, st.lists(st.integers(0, 2000), max_size=8))
    def test_frames_come_out_whole_however_the_stream_is_cut(self, bodies: list[bytes],
                                                             cuts: list[int]) -> None:
        stream = b"".join(frame(body) for body in bodies)
        assert messages(Decoder(), split(stream, cuts)) == bodies

    @settings(max_examples=300, deadline=None)
    @given(BODIES, st.lists(NOISE, min_size=6, max_size=6), st.lists(st.integers(0, 2000),
                                                                      max_size=8))
    def test_noise_between_frames_costs_no_frame(self, bodies: list[bytes], noise: list[bytes],
                                                 cuts: list[int]) -> None:
        stream = b"".join(n + frame(body) for n, body in zip(noise, bodies, strict=False))
        assert messages(Decoder(), split(stream, cuts)) == bodies

    @pytest.mark.parametrize("header", [
        b"content-length: 2\r\n\r\n",
        b"CONTENT-LENGTH:2\n\n",
        b"Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf8\r\n\r\n",
        b"Content-Type: application/vscode-jsonrpc\r\nContent-Length:  2 \r\n\r\n",
        b"\r\nContent-Length: 2\r\n\r\n",
    ])
    def test_headers_as_the_spec_allows(self, header: bytes) -> None:
        assert events(Decoder(), header + b"{}") == [Body(b"{}")]

    @pytest.mark.parametrize(("bad", "reason"), [
        (b"Content-Length: abc\r\n\r\n{}", "not a number"),
        (b"Content-Type: x\r\n\r\n{}", "without Content-Length"),
        (b"Content-Length: 999999999999\r\n\r\n{}", "over the limit"),
        (b"Content-Length: 2\r\nContent-Type: x; charset=latin-1\r\n\r\n{}", "only UTF-8"),
        (b'{"jsonrpc": "2.0"}', "not 'Name: value'"),
        (b"Content Length: 2\r\n\r\n{}", "not 'Name: value'"),
        (b"Content-Length: 30\r\nX-", "two Content-Length"),
    ])
    def test_a_bad_header_is_one_fault_and_the_next_frame_is_read(self, bad: bytes,
                                                                   reason: str) -> None:
        out = events(Decoder(), bad + frame(b"[1]"))
        faults = [e for e in out if isinstance(e, Fault)]
        assert len(faults) == 1 and reason in faults[0].reason, out
        assert out[-1] == Body(b"[1]")

    def test_a_body_without_header_is_a_fault_at_once(self) -> None:
        """Not after waiting for a blank line that may never come."""
        [fault] = events(Decoder(), b'{"jsonrpc": "2.0", "id": 1')
        assert isinstance(fault, Fault) and "not a header" in fault.reason

    def test_a_header_that_never_ends_is_bounded(self) -> None:
        decoder = Decoder()
        out = events(decoder, b"X-Junk: " + b"a" * (MAX_HEADER_BYTES * 4))
        assert [type(e) for e in out] == [Fault]
        assert len(decoder._buffer) < 64, "the junk is not kept"
        assert events(decoder, frame(b"{}")) == [Body(b"{}")]

    def test_a_length_too_long_swallows_no_later_frame(self) -> None:
        first = b'{"id": 1}'
        stream = b"Content-Length: %d\r\n\r\n" % (len(first) + 30) + first + frame(b'{"id": 2}')
        assert messages(Decoder(), [stream]) == [b'{"id": 2}']

    def test_a_length_too_short_costs_only_its_frame(self) -> None:
        stream = b"Content-Length: 4\r\n\r\n" + b'{"id": 1}' + frame(b'{"id": 2}')
        assert messages(Decoder(), [stream]) == [b'{"id": 2}']

    def test_a_body_that_stops_arriving_is_handed_over(self) -> None:
        decoder = Decoder()
        assert events(decoder, b"Content-Length: 100\r\n\r\n{}") == []
        assert decoder.pending
        assert decoder.stalled() == Body(b"{}")
        assert not decoder.pending
        assert events(decoder, b"Content-Len") == []
        assert decoder.stalled() == Fault("an incomplete header section, then nothing")


class TestEnvelope:
    @pytest.mark.parametrize(("body", "code", "msg_id"), [
        (b"{", envelope.PARSE_ERROR, None),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "x", "params": {', envelope.PARSE_ERROR, 7),
        (b'{"jsonrpc":"2.0","id":"a\\"b","method"', envelope.PARSE_ERROR, 'a"b'),
        (b'"\xff"', envelope.PARSE_ERROR, None),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "x", "params": {"t": "\\ud800"}}',
         envelope.PARSE_ERROR, 3),
        (b"42", envelope.INVALID_REQUEST, None),
        (b"[]", envelope.INVALID_REQUEST, None),
        (b'{"id": 4, "method": "x"}', envelope.INVALID_REQUEST, 4),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "x"}', envelope.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": true, "method": "x"}', envelope.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": null, "method": "x"}', envelope.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": 5, "method": 5}', envelope.INVALID_REQUEST, 5),
        (b'{"jsonrpc": "2.0", "id": 6, "method": "x", "params": 1}', envelope.INVALID_PARAMS, 6),
        (b'{"jsonrpc": "2.0", "id": 8}', envelope.INVALID_REQUEST, 8),
    ])
    def test_what_is_no_message_gets_its_error_and_id(self, body: bytes, code: int,
                                                     msg_id: object) -> None:
        refusal = envelope.read(body)
        assert isinstance(refusal, envelope.Refusal), refusal
        assert (refusal.code, refusal.id, refusal.reply) == (code, msg_id, True)
        response = refusal.response()
        assert response["id"] == msg_id and response["error"]["message"]

    def test_a_bad_notification_gets_no_reply(self) -> None:
        refusal = envelope.read(b'{"jsonrpc": "2.0", "method": "x", "params": "p"}')
        assert isinstance(refusal, envelope.Refusal) and not refusal.reply

    @pytest.mark.parametrize(("body", "kind"), [
        (b'{"jsonrpc": "2.0", "id": 1, "method": "m", "params": {}}', "request"),
        (b'{"jsonrpc": "2.0", "id": "s", "method": "m"}', "request"),
        (b'{"jsonrpc": "2.0", "method": "m", "params": []}', "notification"),
        (b'{"jsonrpc": "2.0", "id": 1, "result": null}', "response"),
        (b'{"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "m"}}', "response"),
    ])
    def test_messages(self, body: bytes, kind: str) -> None:
        message = envelope.read(body)
        assert isinstance(message, envelope.Message) and message.kind == kind


class TestLifecycle:
    def test_the_spec_order(self) -> None:
        life = Lifecycle()
        assert life.admit("textDocument/hover", True) == Refuse(envelope.SERVER_NOT_INITIALIZED,
                                                                "the server is not initialized")
        assert isinstance(life.admit("textDocument/didOpen", False), Drop)
        assert life.admit("initialize", True) == Admit()
        assert isinstance(life.admit("initialize", True), Refuse), "a second initialize"
        assert life.admit("textDocument/didOpen", False) == Admit()
        assert life.exit_code == 1
        assert life.admit("shutdown", True) == Admit()
        refused = life.admit("textDocument/hover", True)
        assert isinstance(refused, Refuse) and refused.code == envelope.INVALID_REQUEST
        assert isinstance(life.admit("shutdown", True), Refuse)
        assert isinstance(life.admit("textDocument/didChange", False), Drop)
        assert life.admit("exit", False) == Admit() and life.exit_code == 0
