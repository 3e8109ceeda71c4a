"""The edge's per-socket core: bad input gets one precise error frame and changes nothing."""

from __future__ import annotations

from pathlib import Path

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
    FindingResult,
    Hello,
    Notice,
    SlowDown,
    TaskRequest,
    TextEdit,
    TokenChunk,
    Welcome,
)
from schemas.topics import (
    CompletionEvent,
    DocSnapshot,
    EditorEvent,
    FeedbackEvent,
    SessionEnd,
    event_id,
)
from tenants.directory import Principal, Tenant
from ws_edge.ratelimit import TokenBucket, UserBudget
from ws_edge.session import FLOOD_FORGIVEN_PER_S, FLOOD_REFUSALS, EdgeLimits, EdgeSession

LIMITS = EdgeLimits(max_frame_bytes=2048, max_documents=4, max_document_chars=10_000,
                    messages_per_second=1000)
ACME = Tenant("acme", "pro", exclude_paths=("*/secrets/*",))
VALID_FRAMES = [
    '{"type":"hello","protocol":1,"client":"t"}',
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


def new_session(limits: EdgeLimits = LIMITS, tenant: Tenant = ACME,
                tenant_bucket: TokenBucket | None = None,
                user: UserBudget | None = None) -> EdgeSession:
    principal = Principal(tenant, "u1", "k1", "developer")
    return EdgeSession("s1", 3, limits, principal,
                       tenant_bucket or TokenBucket(10_000, 10_000, 0), 0, user)


def started(limits: EdgeLimits = LIMITS, tenant: Tenant = ACME,
            tenant_bucket: TokenBucket | None = None) -> EdgeSession:
    session = new_session(limits, tenant, tenant_bucket)
    replies, records = session.receive(frame(Hello(protocol=1, client="t")), 10)
    assert isinstance(replies[0], Welcome)
    assert records == []
    return session


def error_of(session: EdgeSession, data: str | bytes, now_ms: int = 20) -> ErrorFrame:
    replies, records = session.receive(data, now_ms)
    # A refused frame reaches no worker; a refused request leaves its analytics event only.
    assert [r.topic for r in records] in ([], ["completions"]), records
    error, *told = replies  # a client past its own rate is also told to slow down
    assert isinstance(error, ErrorFrame) and all(isinstance(t, SlowDown) for t in told), replies
    return error


class TestHandshake:
    """Hello comes first, once."""

    def test_welcome_carries_session_identity_and_limits(self) -> None:
        (welcome,), _ = new_session().receive(frame(Hello(protocol=1, client="t")), 1)
        assert welcome == Welcome("s1", 1, 2048, "acme", "u1", "pro", 1000)

    def test_hello_cannot_claim_an_identity(self) -> None:
        """Who the caller is comes from the API key only: a hello naming a user is refused."""
        claim = '{"type":"hello","protocol":1,"client":"t","user_id":"admin","tenant_id":"other"}'
        error = error_of(new_session(), claim)
        assert error.code == "unknown_field"

    def test_a_frame_cannot_name_a_session(self) -> None:
        """Session ids are made by the edge; a frame naming one (a forged id) is refused."""
        session = started()
        forged = '{"type":"cancel","request_id":"r1","session_id":"someone-elses-session"}'
        assert error_of(session, forged).code == "unknown_field"
        forged = '{"type":"doc_close","uri":"a","tenant_id":"other"}'
        assert error_of(session, forged).code == "unknown_field"

    def test_message_before_hello(self) -> None:
        error = error_of(new_session(), frame(DocOpen("a", "python", 1, "")))
        assert error.code == "hello_required"

    def test_second_hello(self) -> None:
        error = error_of(started(), frame(Hello(protocol=1, client="t")))
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
        assert [(r.topic, r.value.request_id) for r in records] == [("completions", "req-7")]
        assert isinstance(error, ErrorFrame) and error.request_id == "req-7"
        assert end == CompletionEnd("req-7", "error", 0, detail="unknown_document")

    def test_reused_request_id_is_refused(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 1, "x")), 1)
        _, records = session.receive(frame(CompletionRequest("r1", "a.py", 1, 1)), 2)
        assert len(records) == 1
        replies, records = session.receive(frame(CompletionRequest("r1", "a.py", 1, 0)), 3)
        assert records == []
        (error,) = replies  # no end: the request that owns the id ends by itself, once
        assert isinstance(error, ErrorFrame) and error.code == "duplicate_request_id"
        assert error.request_id == "r1"

    def test_reused_task_id_gets_no_second_end(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 1, "x")), 1)
        session.receive(frame(TaskRequest("t1", "explain", "a.py", 1, 0, 1)), 2)
        replies, _ = session.receive(frame(TaskRequest("t1", "explain", "a.py", 1, 0, 1)), 3)
        assert [type(reply) for reply in replies] == [ErrorFrame]

    def test_errors_name_the_document(self) -> None:
        session = started()
        error = error_of(session, frame(DocChange("gone.py", 2, (TextEdit(0, 0, "x"),))))
        assert (error.code, error.uri) == ("unknown_document", "gone.py")

    def test_task_past_the_end_names_its_end(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 1, "abc")), 1)
        error, end = session.receive(frame(TaskRequest("t1", "explain", "a.py", 1, 0, 9)), 2)[0]
        assert isinstance(error, ErrorFrame)
        assert (error.code, error.field, error.uri) == ("offset_out_of_range", "end", "a.py")
        assert "end 9 is past" in error.message
        assert end == CompletionEnd("t1", "error", 0, detail="offset_out_of_range")

    @pytest.mark.parametrize("change", [TextEdit(0, 0, "x" * 20), TextEdit(0, 99, "")])
    def test_a_refused_change_makes_the_document_stale(self, change: TextEdit) -> None:
        """The editor applied the change and the edge could not: its copy would drift."""
        session = started(EdgeLimits(max_frame_bytes=2048, max_documents=4,
                                     max_document_chars=10, messages_per_second=1000))
        session.receive(frame(DocOpen("a.py", "python", 1, "abc")), 1)
        error = error_of(session, frame(DocChange("a.py", 2, (change,))))
        assert "re-open" in error.message
        error = error_of(session, frame(DocChange("a.py", 3, (TextEdit(0, 0, "y"),))))
        assert (error.code, error.uri) == ("document_stale", "a.py")
        _, records = session.receive(frame(DocOpen("a.py", "python", 4, "abc")), 4)
        assert len(records) == 1, "re-opening clears it"

    def test_partial_feedback_needs_accepted_chars(self) -> None:
        error = error_of(started(), frame(Feedback("e1", "r1", "partial")))
        assert error.field == "accepted_chars"

    def test_feedback_only_for_own_requests(self) -> None:
        """Feedback naming a request this session never made (another user's) is refused."""
        error = error_of(started(), frame(Feedback("e1", "someone-elses", "accepted")))
        assert (error.code, error.field) == ("unknown_request", "request_id")


class TestRecords:
    """Valid messages become records keyed for ordering and routing."""

    def test_editor_events_keyed_by_session_with_reply_partition(self) -> None:
        session = started()
        _, (record,) = session.receive(frame(DocOpen("a.py", "python", 1, "def f():")), 99)
        assert record.topic == "editor" and record.key == "s1"
        event = record.value
        assert isinstance(event, EditorEvent)
        assert (event.reply_partition, event.tenant_id, event.user_id, event.plan,
                event.daily_limit) == (3, "acme", "u1", "pro", None)
        assert event.received_ms == 99

    def test_feedback_carries_language_of_its_request(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.go", "go", 1, "package main")), 1)
        session.receive(frame(CompletionRequest("r1", "a.go", 1, 12)), 2)
        message = Feedback("e1", "r1", "accepted", latency_ms=40)
        _, (record, forwarded) = session.receive(frame(message), 3)
        assert record.topic == "feedback" and record.key == "acme/u1"
        assert isinstance(record.value, FeedbackEvent)
        value = record.value
        assert (value.language_id, value.kind, value.latency_ms) == ("go", "accepted", 40)
        # An acceptance also goes to the session's worker, in order with the edits.
        assert forwarded.topic == "editor" and forwarded.key == "s1"
        assert isinstance(forwarded.value, EditorEvent) and forwarded.value.body == message
        _, records = session.receive(frame(Feedback("e2", "r1", "rejected")), 4)
        assert [r.topic for r in records] == ["feedback"]

    def test_end_tells_workers(self) -> None:
        (record,) = started().end(5)
        assert isinstance(record.value, EditorEvent)
        assert record.value.body == SessionEnd()

    def test_end_before_hello_produces_nothing(self) -> None:
        assert new_session().end(1) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=50),
                          st.sampled_from(VALID_FRAMES)), max_size=12))
def test_receive_never_raises(frames: list[str | bytes]) -> None:
    """Whatever a client sends, in any order, the session answers and stays usable."""
    session = new_session(tenant=Tenant("plain", "free"))
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


class TestPrivacy:
    """What leaves the edge: secrets masked in place, excluded documents not at all."""

    def test_secrets_are_masked_in_opens_changes_and_snapshots(self) -> None:
        secret = "AKIA" + "QWERTYUIOPASDFGH"
        session = started()
        _, (opened,) = session.receive(frame(DocOpen("a.py", "python", 1, f"k = '{secret}'")), 1)
        _, (changed,) = session.receive(frame(DocChange("a.py", 2, (TextEdit(0, 0, secret + "\n"),))), 2)
        snapshot = session.snapshot("a.py", 3)
        assert snapshot is not None
        for record in (opened, changed, snapshot):
            assert secret not in encode(record.value).decode()
        assert isinstance(snapshot.value, EditorEvent)
        body = snapshot.value.body
        assert isinstance(body, DocSnapshot)
        assert len(body.text) == len(secret) + 1 + len(f"k = '{secret}'"), "offsets still hold"
        assert session.docs.require("a.py").text.startswith(secret), "the edge's copy is exact"

    def test_excluded_documents_never_leave_the_edge(self) -> None:
        session = started()
        uri = "file:///repo/secrets/prod.py"
        replies, records = session.receive(frame(DocOpen(uri, "python", 1, "TOKEN = 1")), 1)
        assert records == [] and isinstance(replies[0], Notice) and replies[0].code == "excluded"
        _, records = session.receive(frame(DocChange(uri, 2, (TextEdit(0, 0, "x"),))), 2)
        assert records == []
        (end,), records = session.receive(frame(CompletionRequest("r1", uri, 2, 1)), 3)
        assert end == CompletionEnd("r1", "excluded", 0, detail="content_exclusion")
        # Only its analytics event leaves: metadata, no text, no uri.
        (record,) = records
        assert record.topic == "completions" and isinstance(record.value, CompletionEvent)
        assert (record.value.reason, record.value.language_id) == ("excluded", "python")
        assert "secrets" not in str(record.value)
        snapshot = session.snapshot(uri, 4)
        assert snapshot is not None and isinstance(snapshot.value, EditorEvent)
        assert snapshot.value.body == DocClose(uri)

    def test_bidi_controls_are_flagged(self) -> None:
        session = started()
        replies, records = session.receive(
            frame(DocOpen("a.py", "python", 1, "if role == 'user\u202e':")), 1)
        assert len(records) == 1
        assert [(r.code, r.uri) for r in replies if isinstance(r, Notice)] == [
            ("bidi_control", "a.py")]


class TestRates:
    """Per-session and per-tenant rates: the excess is refused, and nothing drifts silently."""

    def test_session_rate_refuses_the_excess_and_refills(self) -> None:
        session = started(EdgeLimits(2048, 4, 10_000, messages_per_second=5))
        answers = [session.receive(frame(DocOpen(f"{n}.py", "python", 1, "")), 10)
                   for n in range(8)]
        refused = [a for a in answers if a[1] == []]
        assert len(refused) == 4  # 5 tokens, one of which hello took
        assert all(isinstance(a[0][0], ErrorFrame) and a[0][0].code == "rate_limited"
                   for a in refused)
        _, records = session.receive(frame(DocClose("0.py")), 1010)
        assert len(records) == 1, "tokens come back with time"

    def test_a_dropped_change_makes_the_document_stale_until_reopened(self) -> None:
        session = started(EdgeLimits(2048, 4, 10_000, messages_per_second=3))
        session.receive(frame(DocOpen("a.py", "python", 1, "abc")), 10)
        session.receive(frame(DocChange("a.py", 2, (TextEdit(0, 0, "x"),))), 10)
        error = error_of(session, frame(DocChange("a.py", 3, (TextEdit(0, 0, "y"),))))
        assert error.code == "rate_limited" and "re-open" in error.message
        error = error_of(session, frame(DocChange("a.py", 4, (TextEdit(0, 0, "z"),))), 2000)
        assert error.code == "document_stale"
        _, records = session.receive(frame(DocOpen("a.py", "python", 5, "yxabc")), 2000)
        assert len(records) == 1
        _, records = session.receive(frame(DocChange("a.py", 6, (TextEdit(0, 0, "z"),))), 2000)
        assert len(records) == 1

    def test_tenant_rate_is_shared_by_its_sessions(self) -> None:
        shared = TokenBucket(2, 2, 0)  # the two hellos take it all
        first, second = started(tenant_bucket=shared), started(tenant_bucket=shared)
        (error,), _ = second.receive(frame(DocOpen("a.py", "python", 1, "")), 10)
        assert isinstance(error, ErrorFrame) and error.code == "rate_limited"
        assert first.receive(frame(DocOpen("a.py", "python", 1, "")), 1000)[1]

    def test_a_users_sessions_share_its_rate(self) -> None:
        """Eight sockets of one user get what one gets (the tenant's rate is far above)."""
        limits = EdgeLimits(2048, 4, 10_000, messages_per_second=10)
        budget = UserBudget.new(10, 1 << 20, 2048, 0)
        sessions = [new_session(limits, user=budget) for _ in range(8)]
        accepted = sum(bool(s.receive(frame(Hello(1, "t")), 10)[0][0].type == "welcome")
                       for s in sessions)
        assert accepted == 8
        opened = sum(bool(s.receive(frame(DocOpen("a.py", "python", 1, "")), 10)[1])
                     for s in sessions)
        assert opened == 2, "10 frames a second for the user: 8 hellos, then 2 documents"

    def test_past_its_rate_a_client_is_told_to_slow_down_then_that_it_may_resume(self) -> None:
        session = started(EdgeLimits(2048, 4, 10_000, messages_per_second=2))
        session.receive(frame(DocOpen("a.py", "python", 1, "")), 10)
        replies, _ = session.receive(frame(DocClose("a.py")), 10)
        assert [type(r) for r in replies] == [ErrorFrame, SlowDown]
        assert replies[1] == SlowDown(400, "rate_limited")
        replies, _ = session.receive(frame(DocClose("a.py")), 20)
        assert [type(r) for r in replies] == [ErrorFrame], "not on every refused frame"
        replies, _ = session.receive(frame(DocOpen("b.py", "python", 1, "")), 1100)
        assert replies == [SlowDown(0, "recovered")]

    def test_a_users_bytes_are_bounded_before_parsing(self) -> None:
        """Near-limit documents are the costly frames: past the byte budget they are refused
        unparsed, and a refused change leaves its documents stale (no silent drift)."""
        limits = EdgeLimits(1000, 4, 10_000, messages_per_second=1000,
                            user_bytes_per_second=2000)
        session = started(limits)  # a burst of 2000 bytes: the hello and two 860-byte frames
        big = frame(DocOpen("a.py", "python", 1, "x" * 800))
        assert session.receive(big, 10)[1] and session.receive(big.replace('"a.py"', '"b.py"'),
                                                                  10)[1]
        change = frame(DocChange("a.py", 2, (TextEdit(0, 0, "y" * 800),)))
        error = error_of(session, change, 10)
        assert error.code == "rate_limited" and "bytes per second" in error.message
        assert error.uri is None, "not parsed to name it"
        assert error_of(session, frame(DocChange("b.py", 2, (TextEdit(0, 0, "z"),))),
                        2000).code == "document_stale"

    def test_a_flood_of_refused_frames_is_noticed(self) -> None:
        session = started()
        for _ in range(FLOOD_REFUSALS):
            session.receive("not json", 10)
        assert not session.flooding
        assert session.receive(frame(DocOpen("a.py", "python", 1, "")), 10)[1]
        assert not session.flooding
        session.receive("not json", 10)
        assert session.flooding, "accepted frames in between do not hide a flood"

    def test_what_others_cause_is_not_charged_to_the_session(self) -> None:
        """A busy tenant's shared rate and the stale-document refusals after a dropped change
        are not this client's flood."""
        drained = TokenBucket(1, 1, 0)
        drained.take(0)
        session = started(tenant_bucket=TokenBucket(1000, 1000, 0))
        session._tenant_bucket = drained  # the tenant's other sessions took every token
        for n in range(3 * FLOOD_REFUSALS):
            (error,), _ = session.receive(frame(DocOpen("a.py", "python", 1, "")), 20 + n % 5)
            assert isinstance(error, ErrorFrame) and error.code == "rate_limited"
        assert not session.flooding

    def test_frames_past_the_sessions_own_rate_are_charged(self) -> None:
        session = started(EdgeLimits(2048, 4, 10_000, messages_per_second=1))
        for _ in range(FLOOD_REFUSALS + 2):
            session.receive(frame(DocOpen("a.py", "python", 1, "")), 20)
        assert session.flooding

    def test_refusals_spread_out_are_forgiven(self) -> None:
        session = started()
        at = 10
        for _ in range(5 * FLOOD_REFUSALS):
            at += 1000 // FLOOD_FORGIVEN_PER_S
            session.receive("not json", at)
        assert not session.flooding


class TestUnanswered:
    """A request the backend never answers ends at the edge: the client hears, never silence."""

    def opened(self) -> EdgeSession:
        session = started(EdgeLimits(2048, 4, 10_000, 1000, reply_deadline_ms=500))
        session.receive(frame(DocOpen("a", "python", 1, "abc")), 20)
        return session

    def test_no_frame_in_time_ends_with_error_once(self) -> None:
        session = self.opened()
        session.receive(frame(CompletionRequest("r1", "a", 1, 3)), 100)
        assert session.overdue(599) == []
        assert session.overdue(600) == [CompletionEnd("r1", "error", 0, detail="no_answer")]
        assert session.overdue(10_000) == []
        # What the backend sends after that is not delivered (the request has ended).
        assert session.on_reply(TokenChunk("r1", 0, "x"), 700) is None
        assert session.on_reply(CompletionEnd("r1", "stop", 1), 700) is None

    def test_each_chunk_extends_the_deadline_and_the_end_clears_it(self) -> None:
        session = self.opened()
        session.receive(frame(CompletionRequest("r1", "a", 1, 3)), 100)
        assert session.on_reply(TokenChunk("r1", 0, "x"), 400)
        assert session.on_reply(TokenChunk("r1", 1, "y"), 800)
        assert session.overdue(1200) == []
        assert session.overdue(1300) == [CompletionEnd("r1", "error", 2, detail="no_answer")]
        session.receive(frame(CompletionRequest("r2", "a", 1, 3)), 2000)
        assert session.on_reply(CompletionEnd("r2", "stop", 0), 2100)
        assert session.overdue(99_999) == []

    def test_refused_and_excluded_requests_are_not_waited_for(self) -> None:
        session = self.opened()
        session.receive(frame(CompletionRequest("r1", "a", 9, 3)), 100)  # wrong version: refused
        session.receive(frame(DocOpen("x/secrets/k.py", "python", 1, "k")), 100)
        replies, _ = session.receive(frame(CompletionRequest("r2", "x/secrets/k.py", 1, 0)), 100)
        assert [r.reason for r in replies if isinstance(r, CompletionEnd)] == ["excluded"]
        assert session.overdue(99_999) == []


def test_a_request_ends_exactly_once_even_when_answered_twice() -> None:
    """A worker that replays records after a crash may answer a request again: not delivered."""
    session = started()
    session.receive(frame(DocOpen("a", "python", 1, "abc")), 20)
    session.receive(frame(CompletionRequest("r1", "a", 1, 3)), 30)
    assert session.on_reply(TokenChunk("r1", 0, "x"), 40)
    assert session.on_reply(CompletionEnd("r1", "stop", 1), 50)
    assert not session.on_reply(CompletionEnd("r1", "expired", 0), 60)
    assert not session.on_reply(TokenChunk("r1", 0, "y"), 60)


class TestLostReplies:
    """A reply record the edge could not read (corrupt, or failing authentication) is dropped;
    the request it belonged to ends with an error at the next frame that shows the gap, never
    as a stream with a hole and a normal end."""

    def opened(self) -> EdgeSession:
        session = started()
        session.receive(frame(DocOpen("a", "python", 1, "abc")), 20)
        session.receive(frame(CompletionRequest("r1", "a", 1, 3)), 30)
        return session

    def test_a_missing_chunk_ends_the_request_with_an_error(self) -> None:
        session = self.opened()
        chunk = TokenChunk("r1", 0, "x")
        assert session.on_reply(chunk, 40) is chunk
        lost = CompletionEnd("r1", "error", 1, detail="reply_lost")
        assert session.on_reply(TokenChunk("r1", 2, "z"), 50) == lost  # seq 1 never came
        assert session.on_reply(TokenChunk("r1", 3, "w"), 60) is None
        assert session.on_reply(CompletionEnd("r1", "stop", 4), 70) is None
        assert session.overdue(99_999) == []

    def test_a_missing_last_chunk_turns_the_end_into_an_error(self) -> None:
        session = self.opened()
        session.on_reply(TokenChunk("r1", 0, "x"), 40)
        assert session.on_reply(CompletionEnd("r1", "stop", 2), 50) == CompletionEnd(
            "r1", "error", 1, detail="reply_lost")

    def test_a_tasks_findings_are_checked_the_same_way(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a", "python", 1, "abc")), 20)
        session.receive(frame(TaskRequest("t1", "find_bugs", "a", 1, 0, 3)), 30)
        first = FindingResult("t1", 0, 1, 0, 1, "error", "F821", "x")
        assert session.on_reply(first, 40) is first
        assert session.on_reply(first, 41) is None, "sent again: delivered once"
        assert session.on_reply(FindingResult("t1", 2, 1, 0, 1, "error", "F821", "y"), 50) == \
            CompletionEnd("t1", "error", 1, detail="reply_lost")

    def test_a_chunk_sent_again_is_delivered_once(self) -> None:
        session = self.opened()
        session.on_reply(TokenChunk("r1", 0, "x"), 40)
        assert session.on_reply(TokenChunk("r1", 0, "x"), 45) is None
        end = CompletionEnd("r1", "stop", 1)
        assert session.on_reply(end, 50) is end


class TestDocumentedExamples:
    """The frames the docs show a client sending are accepted as they are written."""

    @pytest.mark.parametrize("doc", ["README.md", "docs/PROTOCOL.md"])
    def test_every_example_frame_is_accepted(self, doc: str) -> None:
        text = (Path(__file__).resolve().parent.parent / doc).read_text()
        frames = [line[2:] for line in text.splitlines() if line.startswith("→ {")]
        assert frames and frames[0].startswith('{"type":"hello"'), doc
        session = new_session()
        for number, sent in enumerate(frames):
            replies, _ = session.receive(sent, 10 + number)
            refused = [r for r in replies if isinstance(r, ErrorFrame)]
            assert refused == [], f"{doc}: {sent}"


class TestOneEventPerRequest:
    """Every request the edge ends itself leaves one analytics event (analysts count what users
    asked for); one it does not end (a reused id) leaves none."""

    def test_refused_requests_leave_one_event_each(self) -> None:
        session = started()
        session.receive(frame(DocOpen("a.py", "python", 1, "abc")), 11)
        refused = [frame(CompletionRequest("r1", "a.py", 9, 3)),  # a stale version
                   frame(CompletionRequest("r2", "nope.py", 1, 0)),  # not open
                   '{"type":"complete","request_id":"r3","uri":"a.py","version":1}',  # invalid
                   frame(TaskRequest("r4", "explain", "a.py", 1, 2, 1))]  # start after end
        events = []
        for data in refused:
            replies, records = session.receive(data, 20)
            assert [r.reason for r in replies if isinstance(r, CompletionEnd)] == ["error"]
            events += [r.value for r in records]
        assert [(e.request_id, e.reason, e.admitted, e.model) for e in events] == [
            (f"r{i}", "error", False, "none") for i in range(1, 5)]
        assert all(isinstance(e, CompletionEvent) and e.event_id == event_id(
            session.session_id, e.request_id) for e in events)
        # A reused id is refused without an end: its request ends (and is counted) on its own.
        session.receive(frame(CompletionRequest("r5", "a.py", 1, 3)), 30)
        replies, records = session.receive(frame(CompletionRequest("r5", "a.py", 1, 3)), 31)
        assert records == [] and not any(isinstance(r, CompletionEnd) for r in replies)
        # So is a frame refused for another reason that names an id in use: no second end, no
        # second row (it could fall in another usage window and be billed twice).
        replies, records = session.receive(
            '{"type":"complete","request_id":"r5","uri":"a.py","version":1}', 32)
        assert [type(r).__name__ for r in replies] == ["ErrorFrame"] and records == []
