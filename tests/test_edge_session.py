"""The edge's per-socket core: bad input gets one precise error frame and changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import encode
from schemas.socket import (
    CompletionEnd,
    CompletionRequest,
    DocChange,
    DocClose,
    DocOpen,
    ErrorFrame,
    Feedback,
    Hello,
    TextEdit,
    Welcome,
)
from schemas.topics import DocSnapshot, EditorEvent, FeedbackEvent, SessionEnd
from ws_edge.session import EdgeLimits, EdgeSession

LIMITS = EdgeLimits(max_frame_bytes=2048, max_documents=4, max_document_chars=10_000)
VALID_FRAMES = [
    '{"type":"hello","protocol":1,"client":"t","user_id":"u"}',
    '{"type":"doc_open","uri":"a","language_id":"python","version":1,"text":"abc"}',
    '{"type":"doc_change","uri":"a","version":2,"changes":[{"start":1,"end":2,"text":"x"}]}',
    '{"type":"complete","request_id":"r1","uri":"a","version":2,"offset":3}',
    '{"type":"cursor","uri":"a","offset":1}',
    '{"type":"feedback","event_id":"e","request_id":"r1","kind":"partial"}',
    '{"type":"doc_close","uri":"a"}',
    '{"type":"cancel","request_id":"r1"}',
]


def frame(message: object) -> str:
    return encode(message).decode()


def started() -> EdgeSession:
    session = EdgeSession("s1", 3, LIMITS)
    replies, records = session.receive(frame(Hello(protocol=1, client="t", user_id="u1",
                                                   tenant_id="acme", plan="pro")), 10)
    assert isinstance(replies[0], Welcome)
    assert records == []
    return session


def error_of(session: EdgeSession, data: str | bytes) -> ErrorFrame:
    replies, records = session.receive(data, 20)
    assert records == [], "a refused frame must not reach Kafka"
    (error,) = replies
    assert isinstance(error, ErrorFrame)
    return error


class TestHandshake:
    """Hello comes first, once."""

    def test_welcome_carries_session_and_limits(self) -> None:
        session = EdgeSession("s1", 0, LIMITS)
        (welcome,), _ = session.receive(frame(Hello(protocol=1, client="t", user_id="u")), 1)
        assert welcome == Welcome("s1", 1, 2048)

    def test_message_before_hello(self) -> None:
        error = error_of(EdgeSession("s1", 0, LIMITS), frame(DocOpen("a", "python", 1, "")))
        assert error.code == "hello_required"

    def test_second_hello(self) -> None:
        error = error_of(started(), frame(Hello(protocol=1, client="t", user_id="u1")))
        assert error.code == "duplicate_hello"


class TestBadInput:
    """Each kind of bad frame is named; the session keeps working afterwards."""

    @pytest.mark.parametrize(("data", "code", "field"), [
        ("not json", "bad_json", None),
        (b'{"type":"doc_close","uri":"a"}', "binary_frame", None),
        ('{"type":"doc_change","uri":"a","version":"x","changes":[]}', "invalid_field", "version"),
        ('{"type":"launch"}', "unknown_type", "type"),
        ('{"type":"doc_change","uri":"never-opened","version":2,'
         '"changes":[{"start":0,"end":0,"text":"x"}]}', "unknown_document", "uri"),
        ("x" * 3000, "frame_too_large", None),
    ])
    def test_refused(self, data: str | bytes, code: str, field: str | None) -> None:
        session = started()
        error = error_of(session, data)
        assert (error.code, error.field) == (code, field)
        assert error.message
        _, records = session.receive(frame(DocOpen("ok.py", "python", 1, "x")), 30)
        assert len(records) == 1, "the session keeps working after a refused frame"

    def test_out_of_order_version(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 5, "abc")), 1)
        error = error_of(session, frame(DocChange("a.py", 4, (TextEdit(0, 0, "x"),))))
        assert (error.code, error.field) == ("version_conflict", "version")

    def test_refused_request_gets_error_then_end(self) -> None:
        session = started()
        (error, end), records = session.receive(frame(CompletionRequest("req-7", "nope.py", 1, 0)), 5)
        assert records == []
        assert isinstance(error, ErrorFrame) and error.request_id == "req-7"
        assert end == CompletionEnd("req-7", "error", 0, detail="unknown_document")

    def test_reused_request_id_is_refused(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 1, "x")), 1)
        _, records = session.receive(frame(CompletionRequest("r1", "a.py", 1, 1)), 2)
        assert len(records) == 1
        (error, _), records = session.receive(frame(CompletionRequest("r1", "a.py", 1, 0)), 3)
        assert records == []
        assert isinstance(error, ErrorFrame) and error.code == "duplicate_request_id"

    def test_partial_feedback_needs_accepted_chars(self) -> None:
        error = error_of(started(), frame(Feedback("e1", "r1", "partial")))
        assert error.field == "accepted_chars"


class TestRecords:
    """Valid messages become records keyed for ordering and routing."""

    def test_editor_events_keyed_by_session_with_reply_partition(self) -> None:
        session = started()
        _, (record,) = session.receive(frame(DocOpen("a.py", "python", 1, "def f():")), 99)
        assert record.topic == "editor" and record.key == "s1"
        event = record.value
        assert isinstance(event, EditorEvent)
        assert (event.reply_partition, event.tenant_id, event.user_id, event.plan) == (3, "acme", "u1", "pro")
        assert event.received_ms == 99

    def test_feedback_carries_language_of_its_request(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.go", "go", 1, "package main")), 1)
        session.receive(frame(CompletionRequest("r1", "a.go", 1, 12)), 2)
        _, (record,) = session.receive(frame(Feedback("e1", "r1", "accepted", latency_ms=40)), 3)
        assert record.topic == "feedback" and record.key == "u1"
        assert isinstance(record.value, FeedbackEvent)
        value = record.value
        assert (value.language_id, value.kind, value.latency_ms) == ("go", "accepted", 40)

    def test_end_tells_workers(self) -> None:
        (record,) = started().end(5)
        assert isinstance(record.value, EditorEvent)
        assert record.value.body == SessionEnd()

    def test_end_before_hello_produces_nothing(self) -> None:
        assert EdgeSession("s", 0, LIMITS).end(1) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=50),
                          st.sampled_from(VALID_FRAMES)), max_size=12))
def test_receive_never_raises(frames: list[str | bytes]) -> None:
    """Whatever a client sends, in any order, the session answers and stays usable."""
    session = EdgeSession("s1", 0, LIMITS)
    for data in frames:
        replies, records = session.receive(data, 1)
        assert replies or records, "every frame is answered or forwarded"
    session.end(2)


class TestSnapshots:
    """A worker that lost a document gets the edge's copy, or word that it was closed."""

    def test_snapshot_of_open_document(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 3, "abc")), 1)
        record = session.snapshot("a.py", 9)
        assert record is not None and isinstance(record.value, EditorEvent)
        assert record.key == "s1"
        assert record.value.body == DocSnapshot("a.py", "python", 3, "abc")

    def test_snapshot_of_closed_document_is_a_close(self) -> None:
        record = started().snapshot("gone.py", 9)
        assert record is not None and isinstance(record.value, EditorEvent)
        assert record.value.body == DocClose("gone.py")
