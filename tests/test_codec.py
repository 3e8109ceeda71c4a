"""Strict decoding of socket messages and topic records, and the published JSON Schema."""

from __future__ import annotations

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import encode, to_jsonable
from schemas.errors import FrameError, ProtocolError, ValidationError
from schemas.protocol import SCHEMA_PATH, protocol_schema, render
from schemas.socket import (
    CompletionEnd,
    DocChange,
    Hello,
    TextEdit,
    TokenChunk,
    decode_server_message,
    read_client_frame,
)
from schemas.topics import EditorEvent, FeedbackEvent, Reply, SessionEnd, read_record, write_record


def refused(frame: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        read_client_frame(frame)
    return caught.value


class TestClientFrames:
    """Each refusal names what was wrong and where."""

    def test_valid_change_decodes_to_typed_message(self) -> None:
        msg = read_client_frame('{"type":"doc_change","uri":"a.py","version":2,'
                                '"changes":[{"start":0,"end":0,"text":"x"}]}')
        assert msg == DocChange("a.py", 2, (TextEdit(0, 0, "x"),))

    def test_not_json(self) -> None:
        error = refused("{nope")
        assert isinstance(error, FrameError)
        assert error.code == "bad_json"

    def test_not_an_object(self) -> None:
        error = refused("[1, 2]")
        assert error.code == "invalid_field"
        assert "expected object" in error.message

    def test_unknown_type_lists_the_known_ones(self) -> None:
        error = refused('{"type":"teleport"}')
        assert error.code == "unknown_type"
        assert error.field == "type"
        assert "doc_change" in error.message

    def test_missing_type(self) -> None:
        assert refused('{"uri":"a"}').code == "missing_field"

    def test_wrong_field_type_names_the_field(self) -> None:
        error = refused('{"type":"doc_change","uri":"a","version":"2","changes":[]}')
        assert (error.code, error.field) == ("invalid_field", "version")
        assert "expected integer, got string" in error.message

    def test_bool_is_not_an_int(self) -> None:
        error = refused('{"type":"doc_close","uri":true}')
        assert error.field == "uri"

    def test_nested_field_path(self) -> None:
        error = refused('{"type":"doc_change","uri":"a","version":2,'
                        '"changes":[{"start":0,"end":0,"text":"a"},{"start":-1,"end":0,"text":""}]}')
        assert error.field == "changes.1.start"

    def test_unknown_field_is_refused(self) -> None:
        error = refused('{"type":"hello","protocol":1,"client":"x","colour":"red"}')
        assert (error.code, error.field) == ("unknown_field", "colour")

    def test_missing_required_field(self) -> None:
        error = refused('{"type":"complete","request_id":"r","uri":"a","version":1}')
        assert (error.code, error.field) == ("missing_field", "offset")

    def test_enum_value(self) -> None:
        error = refused('{"type":"feedback","event_id":"e","request_id":"r","kind":"loved"}')
        assert error.field == "kind"
        assert "'accepted'" in error.message

    def test_id_pattern(self) -> None:
        error = refused('{"type":"cancel","request_id":"has space"}')
        assert error.field == "request_id"

    def test_protocol_version_other_than_1(self) -> None:
        error = refused('{"type":"hello","protocol":2,"client":"x"}')
        assert error.field == "protocol"

    def test_invalid_utf8_bytes(self) -> None:
        assert refused(b'{"type":"doc_close","uri":"\xff"}').code == "bad_json"


def test_a_repeated_key_is_refused() -> None:
    """Parsers disagree on which of two equal keys wins: one frame must not read two ways."""
    for data in (b'{"type":"cancel","request_id":"a","request_id":"b"}',
                 b'{"type":"doc_change","uri":"u","version":2,'
                 b'"changes":[{"start":0,"end":0,"text":"a","text":"b"}]}'):
        with pytest.raises(FrameError) as caught:
            read_client_frame(data)
        assert caught.value.code == "bad_json" and "repeats the key" in caught.value.message


def test_a_sealed_record_is_parsed_once() -> None:
    """A record opened with its session's key was written by our encoder: the second parse
    that looks for repeated keys is skipped (an unsealed one still gets it)."""
    from schemas.topics import ResyncRequest, read_record

    data = b'{"type":"resync","uri":"a","uri":"b"}'
    assert read_record(ResyncRequest, data, sealed=True) == ResyncRequest("b")
    with pytest.raises(FrameError, match="repeats the key"):
        read_record(ResyncRequest, data)


@pytest.mark.parametrize("number", [b"1e2", b"1.0", b"2E0"])
def test_integers_are_written_as_integers(number: bytes) -> None:
    """What PROTOCOL.md says: an integer field takes a JSON integer, not a number with a
    fraction or exponent (JSON Schema's integer would admit 1.0)."""
    with pytest.raises(ValidationError) as caught:
        read_client_frame(b'{"type":"cursor","uri":"u","offset":%s}' % number)
    assert caught.value.code == "invalid_field" and caught.value.field == "offset"


class TestRecords:
    """Topic records round-trip exactly and are validated like socket frames."""

    def test_editor_event_round_trip(self) -> None:
        event = EditorEvent("e1", "s1", 0, "t", "u", "free", 100, 1,
                            DocChange("a", 3, (TextEdit(0, 1, "y"),)))
        assert read_record(EditorEvent, write_record(event)) == event

    def test_reply_round_trip(self) -> None:
        for frame in (TokenChunk("r", 0, "x"), CompletionEnd("r", "stop", 1)):
            reply = Reply("s", frame)
            assert read_record(Reply, write_record(reply)) == reply

    def test_session_end_body(self) -> None:
        event = EditorEvent("e1", "s1", 0, "t", "u", "pro", None, 1, SessionEnd())
        assert read_record(EditorEvent, write_record(event)).body == SessionEnd()

    def test_empty_record(self) -> None:
        with pytest.raises(FrameError):
            read_record(FeedbackEvent, None)

    def test_record_with_wrong_version(self) -> None:
        raw = orjson.loads(write_record(Reply("s", TokenChunk("r", 0, "x"))))
        raw["v"] = 2
        with pytest.raises(ValidationError) as caught:
            read_record(Reply, orjson.dumps(raw))
        assert caught.value.field == "v"

    def test_server_frame_inside_reply_is_checked(self) -> None:
        with pytest.raises(ValidationError) as caught:
            decode_server_message({"type": "token", "request_id": "r", "seq": "0", "text": "x"})
        assert caught.value.field == "seq"


class TestPublishedSchema:
    """The checked-in JSON Schema is generated from the code and agrees with the decoder."""

    def test_checked_in_schema_is_current(self) -> None:
        assert SCHEMA_PATH.read_bytes() == render(), "run `make schema` and commit the result"

    def test_no_definition_refers_to_itself(self) -> None:
        """A root named as its dataclass used to be ``{"$ref": itself}``: a validator that
        follows it never ends (jsonschema raised RecursionError on every record)."""
        schema = protocol_schema()
        for name, definition in schema["$defs"].items():
            assert definition != {"$ref": f"#/$defs/{name}"}, name
        event = EditorEvent("e1", "s1", 0, "t", "u", "free", 100, 1,
                            DocChange("a", 3, (TextEdit(0, 1, "y"),)))
        jsonschema.validate(to_jsonable(event), {**schema, "$ref": "#/$defs/EditorEvent"})
        jsonschema.validate(to_jsonable(Reply("s", TokenChunk("r", 0, "x"))),
                            {**schema, "$ref": "#/$defs/Reply"})

    def test_schema_accepts_what_we_encode(self) -> None:
        schema = protocol_schema()
        client = {**schema, "$ref": "#/$defs/ClientMessage"}
        jsonschema.validate(orjson.loads(encode(Hello(protocol=1, client="c"))), client)
        jsonschema.validate(orjson.loads(encode(DocChange("a", 1, (TextEdit(0, 0, "x"),)))), client)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"type": "doc_close", "uri": "a", "extra": 1}, client)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["hello", "doc_open", "doc_change", "doc_close", "cursor", "complete",
                              "cancel", "feedback", "nope"])},
    optional={k: json_values for k in ("uri", "version", "changes", "text", "offset", "request_id",
                                       "protocol", "client", "user_id", "kind", "language_id")},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, message_like))
def test_any_json_is_either_a_message_or_a_protocol_error(value: object) -> None:
    """No input escapes as another exception type (which would kill a session)."""
    try:
        read_client_frame(orjson.dumps(value))
    except ProtocolError as error:
        assert error.code and error.message


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_are_either_a_message_or_a_protocol_error(data: bytes) -> None:
    try:
        read_client_frame(data)
    except ProtocolError:
        pass


def test_feedback_record_values_fit_their_columns() -> None:
    """Out-of-range numbers are refused at read, so a poison record cannot fail the sink's insert."""
    good = FeedbackEvent("e", "s", "t", "u", "free", "r", "accepted", 1, latency_ms=5)
    raw = orjson.loads(write_record(good))
    for field, value in (("latency_ms", 2**40), ("accepted_chars", 2**33), ("received_ms", 2**60)):
        with pytest.raises(ValidationError) as caught:
            read_record(FeedbackEvent, orjson.dumps({**raw, field: value}))
        assert caught.value.field == field
