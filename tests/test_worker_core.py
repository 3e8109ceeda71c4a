"""The worker's decisions: prompts, supersede and cancel bookkeeping, errors back to the session."""

from __future__ import annotations

from documents.document import Document
from schemas.socket import (
    Cancel,
    CompletionEnd,
    CompletionRequest,
    DocChange,
    DocClose,
    DocOpen,
    TextEdit,
)
from schemas.topics import DocSnapshot, EditorBody, EditorEvent, ResyncRequest, SessionEnd
from workers.core import SendFrame, StartCompletion, StopCompletion, WorkerCore, WorkerLimits
from workers.prompt import build_prompt

LIMITS = WorkerLimits(max_documents=4, max_document_chars=10_000, max_completion_tokens=16,
                      prompt_prefix_chars=100, prompt_suffix_chars=50)
#: Events are received at 1000 ms; at NOW every debounce has run out.
NOW = 1000 + LIMITS.debounce.ceiling_ms


def event(body: EditorBody, session: str = "s1") -> EditorEvent:
    return EditorEvent("e", session, 2, "t", "u", "free", 100, 1000, body)


def opened(text: str = "def add(a, b):\n    return ") -> WorkerCore:
    core = WorkerCore(LIMITS)
    assert core.handle(event(DocOpen("a.py", "python", 1, text)), NOW) == []
    return core


class TestPrompt:
    """The prompt is bounded and cut at line starts."""

    def test_prefix_and_suffix_around_cursor(self) -> None:
        p = build_prompt(Document("a", "python", 1, "abc\ndef"), 5, 100, 100)
        assert (p.prefix, p.suffix, p.language_id) == ("abc\nd", "ef", "python")

    def test_long_prefix_starts_at_a_line(self) -> None:
        text = "line one\nline two\nline three"
        p = build_prompt(Document("a", "x", 1, text), len(text), 15, 10)
        assert p.prefix == "line three"

    def test_long_suffix_ends_after_a_line(self) -> None:
        text = "x\nsecond line\nthird line\n"
        p = build_prompt(Document("a", "x", 1, text), 1, 10, 14)
        assert p.suffix == "\nsecond line\n"


class TestCompletions:
    """A request starts a generation; a newer one supersedes it; cancel stops it."""

    def test_request_starts_generation_with_prompt(self) -> None:
        core = opened()
        (start,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 26, max_tokens=99)), NOW)
        assert isinstance(start, StartCompletion)
        assert start.prompt.prefix == "def add(a, b):\n    return "
        assert start.max_tokens == 16, "capped by the worker's limit"
        assert start.route.reply_partition == 2
        assert core.inflight("s1") == {"r1"}

    def test_newer_request_supersedes(self) -> None:
        core = opened()
        (first,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), NOW)
        stop, start = core.handle(event(CompletionRequest("r2", "a.py", 1, 20)), NOW)
        assert stop == StopCompletion(first.route, "r1", "superseded")
        assert isinstance(start, StartCompletion) and start.request_id == "r2"
        assert core.inflight("s1") == {"r2"}

    def test_newer_edit_supersedes(self) -> None:
        core = opened()
        (first,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), NOW)
        (stop,) = core.handle(event(DocChange("a.py", 2, (TextEdit(26, 26, "a"),))), NOW)
        assert stop == StopCompletion(first.route, "r1", "superseded")
        assert core.inflight("s1") == frozenset()

    def test_cancel(self) -> None:
        core = opened()
        core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), NOW)
        (stop,) = core.handle(event(Cancel("r1")), NOW)
        assert isinstance(stop, StopCompletion) and stop.reason == "cancelled"
        assert core.handle(event(Cancel("r1")), NOW) == [], "cancelling twice does nothing"

    def test_finished_clears_inflight(self) -> None:
        core = opened()
        core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), NOW)
        core.finished("s1", "r1")
        assert core.inflight("s1") == frozenset()

    def test_other_open_documents_of_the_session_give_context(self) -> None:
        core = opened("from helpers import scale\nvalue = scale(")
        key = "AKIA" + "QWERTYUIOPASDFGH"
        helpers = f"AWS_KEY = '{key}'\n\ndef scale(value, factor):\n    return value * factor\n"
        core.handle(event(DocOpen("helpers.py", "python", 1, helpers)), NOW)
        core.handle(event(DocOpen("notes.md", "markdown", 1, "def scale(): nothing")), NOW)
        core.handle(event(DocOpen("other.py", "python", 1, "def scale(x): pass"), session="s2"), NOW)
        (start,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 39)), NOW)
        assert isinstance(start, StartCompletion)
        assert start.prompt.context == "# From helpers.py:\n# def scale(value, factor):\n"

    def test_secrets_in_other_documents_are_masked_in_the_context(self) -> None:
        key = "AKIA" + "QWERTYUIOPASDFGH"
        core = opened("AWS_KEY = read_key()\nclient = connect(AWS_KEY, region)\n")
        helpers = f"AWS_KEY = '{key}'\nclient = connect(AWS_KEY, region)\n"
        core.handle(event(DocOpen("helpers.py", "python", 1, helpers)), NOW)
        (start,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 55)), NOW)
        assert isinstance(start, StartCompletion)
        assert "# client = connect(AWS_KEY, region)" in start.prompt.context
        assert "AWS_KEY = '****" in start.prompt.context and key not in start.prompt.context

    def test_sessions_are_independent(self) -> None:
        core = opened()
        core.handle(event(DocOpen("a.py", "python", 1, "other"), session="s2"), NOW)
        core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), NOW)
        (start,) = core.handle(event(CompletionRequest("r9", "a.py", 1, 5), session="s2"), NOW)
        assert isinstance(start, StartCompletion) and start.prompt.prefix == "other"
        assert core.inflight("s1") == {"r1"}

    def test_session_end_stops_and_forgets(self) -> None:
        core = opened()
        core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), NOW)
        (stop,) = core.handle(event(SessionEnd()), NOW)
        assert isinstance(stop, StopCompletion) and stop.request_id == "r1"
        assert core.session_count == 0


class TestRecovery:
    """A worker without a document (restart, moved partition) asks the edge for it; the request
    waits for the snapshot instead of failing the user."""

    def test_request_for_unknown_document_waits_for_a_snapshot(self) -> None:
        core = WorkerCore(LIMITS)
        (resync,) = core.handle(event(CompletionRequest("r1", "a.py", 3, 4)), NOW)
        assert isinstance(resync, SendFrame) and resync.frame == ResyncRequest("a.py")
        assert core.due(NOW + LIMITS.request_deadline_ms - 1) == [], "waits for the document"
        (start,) = core.handle(event(DocSnapshot("a.py", "python", 3, "def f")), NOW + 5)
        assert isinstance(start, StartCompletion) and start.prompt.prefix == "def "

    def test_waiting_request_expires_if_the_snapshot_never_comes(self) -> None:
        core = WorkerCore(LIMITS)
        core.handle(event(CompletionRequest("r1", "a.py", 3, 4)), NOW)
        deadline = core.next_deadline_ms()
        assert deadline is not None
        (end,) = core.due(deadline)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "expired", 0)

    def test_snapshot_overtaken_by_a_newer_edit_is_asked_again(self) -> None:
        core = WorkerCore(LIMITS)
        core.handle(event(DocChange("a.py", 5, (TextEdit(0, 0, "x"),))), NOW)
        core.handle(event(DocChange("a.py", 6, (TextEdit(0, 0, "y"),))), NOW)
        (again,) = core.handle(event(DocSnapshot("a.py", "python", 5, "x...")), NOW)
        assert isinstance(again, SendFrame) and again.frame == ResyncRequest("a.py")
        assert core.document("s1", "a.py") is None
        assert core.handle(event(DocSnapshot("a.py", "python", 6, "yx...")), NOW) == []
        assert core_text(core) == "yx..."

    def test_snapshot_newer_than_the_request_supersedes_it(self) -> None:
        core = WorkerCore(LIMITS)
        core.handle(event(CompletionRequest("r1", "a.py", 3, 4)), NOW)
        (end,) = core.handle(event(DocSnapshot("a.py", "python", 4, "def fx")), NOW)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "superseded", 0)

    def test_document_closed_meanwhile_ends_the_request(self) -> None:
        core = WorkerCore(LIMITS)
        core.handle(event(CompletionRequest("r1", "a.py", 3, 4)), NOW)
        (end,) = core.handle(event(DocClose("a.py")), NOW)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "cancelled", 0)

    def test_snapshot_is_asked_once(self) -> None:
        core = WorkerCore(LIMITS)
        core.handle(event(DocChange("a.py", 5, (TextEdit(0, 0, "x"),))), NOW)
        assert core.handle(event(DocChange("a.py", 6, (TextEdit(0, 0, "y"),))), NOW) == []

    def test_request_for_a_newer_version_than_held(self) -> None:
        core = opened()
        (resync,) = core.handle(event(CompletionRequest("r1", "a.py", 7, 0)), NOW)
        assert isinstance(resync, SendFrame) and resync.frame == ResyncRequest("a.py")

    def test_request_for_an_older_version_is_superseded(self) -> None:
        core = opened()
        core.handle(event(DocChange("a.py", 2, (TextEdit(0, 0, "#"),))), NOW)
        (end,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 0)), NOW)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "superseded", 0)

    def test_every_unstarted_end_is_dated_by_the_edges_receipt(self) -> None:
        """Its analytics event carries the edge's receipt time, as the request's other reports
        do: a replay or an edge that gave up lands in the same usage window, counted once."""
        core = opened()
        core.handle(event(DocChange("a.py", 2, (TextEdit(0, 0, "#"),))), NOW)
        (old,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 0)), NOW + 5)
        waiting = WorkerCore(LIMITS)
        waiting.handle(event(CompletionRequest("r2", "b.py", 3, 4)), NOW + 5)
        (overtaken,) = waiting.handle(event(DocSnapshot("b.py", "python", 4, "def fx")), NOW + 6)
        closing = WorkerCore(LIMITS)
        closing.handle(event(CompletionRequest("r3", "c.py", 3, 4)), NOW + 5)
        (closed,) = closing.handle(event(DocClose("c.py")), NOW + 6)
        for end in (old, overtaken, closed):
            assert isinstance(end, SendFrame) and isinstance(end.frame, CompletionEnd)
            assert end.received_ms == 1000, end

    def test_replayed_change_is_ignored(self) -> None:
        core = opened("abc")
        core.handle(event(DocChange("a.py", 2, (TextEdit(3, 3, "d"),))), NOW)
        assert core.handle(event(DocChange("a.py", 2, (TextEdit(3, 3, "d"),))), NOW) == []
        assert core_text(core) == "abcd"

    def test_change_that_does_not_fit_asks_for_the_document(self) -> None:
        core = opened("abc")
        (resync,) = core.handle(event(DocChange("a.py", 2, (TextEdit(9, 9, "d"),))), NOW)
        assert isinstance(resync, SendFrame) and resync.frame == ResyncRequest("a.py")
        assert core.document("s1", "a.py") is None


def typed(core: WorkerCore, text: str, start_ms: int, gap_ms: int, version: int = 1) -> int:
    """Type ``text`` at the end of a.py, one key every ``gap_ms``; returns the last version."""
    at = start_ms
    for ch in text:
        version += 1
        doc_len = len(core_text(core))
        core.handle(EditorEvent("e", "s1", 2, "t", "u", "free", 100, at,
                                DocChange("a.py", version, (TextEdit(doc_len, doc_len, ch),))), at)
        at += gap_ms
    return version


def core_text(core: WorkerCore) -> str:
    doc = core.document("s1", "a.py")
    assert doc is not None
    return doc.text


def request_at(ms: int, request_id: str, version: int, offset: int) -> EditorEvent:
    return EditorEvent("e", "s1", 2, "t", "u", "free", 100, ms,
                       CompletionRequest(request_id, "a.py", version, offset))


class TestDebounceInTheWorker:
    """Requests wait out the typist's rhythm; what is superseded meanwhile never reaches the model."""

    def test_fast_typist_request_waits_then_fires(self) -> None:
        core = opened("x = ")
        version = typed(core, "some_longer_name", start_ms=0, gap_ms=30)  # last key at 450 ms
        assert core.handle(request_at(450, "r1", version, 20), now_ms=452) == []
        deadline = core.next_deadline_ms()
        assert deadline is not None and 450 < deadline <= 450 + LIMITS.debounce.ceiling_ms
        assert core.due(deadline - 1) == []
        (start,) = core.due(deadline)
        assert isinstance(start, StartCompletion)
        assert start.debounce_ms == deadline - 452
        assert core.next_deadline_ms() is None

    def test_keystroke_during_debounce_supersedes_without_inference(self) -> None:
        core = opened("x = ")
        version = typed(core, "some_longer_name", start_ms=0, gap_ms=30)
        assert core.handle(request_at(450, "r1", version, 20), now_ms=451) == []
        doc_len = len(core_text(core))
        (end,) = core.handle(EditorEvent("e", "s1", 2, "t", "u", "free", 100, 480, DocChange(
            "a.py", version + 1, (TextEdit(doc_len, doc_len, "s"),))), 481)
        assert isinstance(end, SendFrame)
        assert end.frame == CompletionEnd("r1", "superseded", 0)
        assert core.due(10_000) == []

    def test_newline_fires_at_once(self) -> None:
        core = opened("x = 1")
        version = typed(core, "\n", start_ms=0, gap_ms=30)
        (start,) = core.handle(request_at(0, "r1", version, 6), now_ms=1)
        assert isinstance(start, StartCompletion) and start.debounce_ms == 0

    def test_cancel_pending(self) -> None:
        core = opened("x = ")
        version = typed(core, "some_longer_name", start_ms=0, gap_ms=30)
        assert core.handle(request_at(450, "r1", version, 20), now_ms=451) == []
        (end,) = core.handle(event(Cancel("r1")), 452)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "cancelled", 0)
        assert core.next_deadline_ms() is None


class TestSessionLifetime:
    """Worker state starts with a document and does not outlive an idle session."""

    def test_events_without_a_document_create_no_state(self) -> None:
        core = WorkerCore(LIMITS)
        assert core.handle(event(Cancel("r1")), NOW) == []
        assert core.session_count == 0

    def test_idle_sessions_are_evicted(self) -> None:
        core = opened()
        assert core.evict_idle(NOW + LIMITS.session_idle_ms - 1) == []
        assert core.session_count == 1
        core.evict_idle(NOW + LIMITS.session_idle_ms)
        assert core.session_count == 0
        assert core.document("s1", "a.py") is None

    def test_eviction_ends_a_pending_request(self) -> None:
        core = opened("x = ")
        version = typed(core, "some_longer_name", start_ms=0, gap_ms=30)
        assert core.handle(request_at(450, "r1", version, 20), now_ms=451) == []
        (end,) = core.evict_idle(451 + LIMITS.session_idle_ms)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "cancelled", 0)

    def test_skewed_edge_clock_cannot_stretch_the_wait(self) -> None:
        core = opened("x = ")
        version = typed(core, "some_longer_name", start_ms=0, gap_ms=30)
        core.handle(request_at(10_000, "r1", version, 20), now_ms=452)  # edge 9.5 s ahead
        deadline = core.next_deadline_ms()
        assert deadline is not None and deadline <= 452 + LIMITS.debounce.ceiling_ms


class TestOverload:
    """A request that waited past its deadline is answered without inference."""

    def test_old_request_expires(self) -> None:
        core = opened()
        late = NOW + LIMITS.request_deadline_ms + 1
        (end,) = core.handle(event(CompletionRequest("r1", "a.py", 1, 26)), late)
        assert isinstance(end, SendFrame) and end.frame == CompletionEnd("r1", "expired", 0)


def test_deadline_ignores_an_implausible_clock_skew() -> None:
    """An edge clock far behind the worker's must not expire every request."""
    core = opened()
    skewed = EditorEvent("e", "s1", 2, "t", "u", "free", 100, NOW - 3_600_000,
                         CompletionRequest("r1", "a.py", 1, 26))
    (start,) = core.handle(skewed, NOW)
    assert isinstance(start, StartCompletion)
