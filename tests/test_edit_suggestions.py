"""Next-edit suggestions through the pure cores: the worker proposes at a pause in typing and
only for the version it read; the edge delivers only to a session that opted in and only while
its copy is at that version; every suggestion ends exactly once (the client's terminal
feedback, or dismissed when replaced, closed or the session ends), and bad feedback gets a
precise error."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from analytics.sink import quality_row
from next_edits.engine import propose
from schemas.socket import (
    DocChange,
    DocClose,
    DocOpen,
    EditSuggestion,
    ErrorFrame,
    Hello,
    SuggestionFeedback,
    TextEdit,
    Welcome,
)
from schemas.topics import EditorBody, EditorEvent, SuggestionEvent, read_quality, write_record
from tests.test_edge_session import frame, new_session
from workers.core import ProposeEdits, SendFrame, WorkerCore, WorkerLimits
from ws_edge.session import EdgeSession, OutRecord

TEXT = "def mean(cnt, values):\n    return sum(values) / cnt\n"
RENAMED = TEXT.replace("mean(cnt", "mean(count")
RULES = frozenset({"rename"})
LIMITS = WorkerLimits(max_documents=4, max_document_chars=10_000, max_completion_tokens=16,
                      prompt_prefix_chars=100, prompt_suffix_chars=50, next_edit_rules=RULES)


def event(body: EditorBody, opted_in: bool = True, at_ms: int = 1000) -> EditorEvent:
    return EditorEvent("e", "s1", 2, "t", "u", "free", 100, at_ms, body,
                       edit_suggestions=opted_in)


def rename_edit(version: int = 2) -> DocChange:
    """The user types over ``cnt`` in the signature."""
    at = TEXT.index("cnt")
    return DocChange("a.py", version, (TextEdit(at, at + 3, "count"),))


class TestWorker:
    def test_a_pause_after_the_rename_proposes_the_rest_for_that_version(self) -> None:
        core = WorkerCore(LIMITS)
        core.handle(event(DocOpen("a.py", "python", 1, TEXT)), 1000)
        assert core.handle(event(rename_edit()), 1000) == []
        due_at = core.next_deadline_ms()
        # Once the typist has most likely stopped (the typing rhythm's idle time).
        debounce = LIMITS.debounce
        assert due_at is not None
        assert 1000 + debounce.idle_floor_ms <= due_at <= 1000 + debounce.idle_ceiling_ms
        assert core.due(due_at - 1) == []
        (propose_action,) = core.due(due_at)
        assert isinstance(propose_action, ProposeEdits)
        assert (propose_action.before, propose_action.after) == (TEXT, RENAMED)
        assert propose_action.version == 2 and propose_action.rules == RULES
        found = propose(propose_action.before, propose_action.after, "python", RULES)
        (send,) = core.proposed("s1", "a.py", 2, RENAMED, found, "ne-1")
        assert isinstance(send, SendFrame) and isinstance(send.frame, EditSuggestion)
        suggestion = send.frame
        assert suggestion.version == 2 and suggestion.rule == "rename"
        assert [RENAMED[c.start:c.end] for c in suggestion.changes] == ["cnt"]

    def test_an_answer_for_an_older_version_is_never_sent(self) -> None:
        """The race: the user types again while the engine runs."""
        core = WorkerCore(LIMITS)
        core.handle(event(DocOpen("a.py", "python", 1, TEXT)), 1000)
        core.handle(event(rename_edit()), 1000)
        (action,) = core.due(2000)
        assert isinstance(action, ProposeEdits)
        core.handle(event(DocChange("a.py", 3, (TextEdit(0, 0, "#\n"),))), 1010)
        found = propose(action.before, action.after, "python", RULES)
        assert found and core.proposed("s1", "a.py", 2, action.after, found, "ne-1") == []

    def test_typing_a_name_at_a_normal_pace_proposes_once_when_it_is_done(self) -> None:
        """``cnt`` typed over as ``c``, ``co``, ... ``count`` at 150 ms a key: the engine runs once,
        on ``count``, after the burst."""
        core = WorkerCore(LIMITS)
        core.handle(event(DocOpen("a.py", "python", 1, TEXT)), 1000)
        at = TEXT.index("cnt")
        now = 1000
        for version, typed in enumerate(("c", "co", "cou", "coun", "count"), start=2):
            now += 150
            assert core.due(now) == []
            previous = "cnt" if version == 2 else typed[:-1]
            core.handle(event(DocChange("a.py", version, (
                TextEdit(at, at + len(previous), typed),)), at_ms=now), now)
        due_at = core.next_deadline_ms()
        assert due_at is not None and due_at > now
        (action,) = core.due(due_at)
        assert isinstance(action, ProposeEdits) and (action.before, action.after) == (TEXT, RENAMED)

    def test_a_rename_after_an_edit_of_a_use_is_still_proposed(self) -> None:
        """The edit of a use proposes nothing and becomes the base of the next comparison."""
        core = WorkerCore(LIMITS)
        core.handle(event(DocOpen("a.py", "python", 1, TEXT)), 1000)
        at = TEXT.rindex("values)")  # in sum(values)
        core.handle(event(DocChange("a.py", 2, (TextEdit(at, at + 6, "vals"),))), 1000)
        (first,) = core.due(5000)
        assert isinstance(first, ProposeEdits)
        found = propose(first.before, first.after, "python", RULES)
        assert found == [] and core.proposed("s1", "a.py", 2, first.after, found, "ne-1") == []
        at = first.after.index("cnt")
        core.handle(event(DocChange("a.py", 3, (TextEdit(at, at + 3, "count"),))), 5000)
        (second,) = core.due(9000)
        assert isinstance(second, ProposeEdits) and second.before == first.after
        assert propose(second.before, second.after, "python", RULES)

    def test_a_document_too_large_for_the_engine_is_counted_not_proposed(self) -> None:
        from next_edits.engine import MAX_CHARS

        core = WorkerCore(WorkerLimits(4, MAX_CHARS * 2, 16, 100, 50, next_edit_rules=RULES))
        big = TEXT + "#" * MAX_CHARS + "\n"
        core.handle(event(DocOpen("a.py", "python", 1, big)), 1000)
        core.handle(event(rename_edit()), 1000)
        assert core.due(5000) == [] and core.next_edit_too_large == 1

    def test_nothing_for_a_session_that_did_not_opt_in_or_with_no_rule_on(self) -> None:
        for core, opted_in in ((WorkerCore(LIMITS), False),
                               (WorkerCore(WorkerLimits(4, 10_000, 16, 100, 50)), True)):
            core.handle(event(DocOpen("a.py", "python", 1, TEXT), opted_in), 1000)
            core.handle(event(rename_edit(), opted_in), 1000)
            assert core.next_deadline_ms() is None and core.due(5000) == []


def opted_in() -> EdgeSession:
    session = new_session()
    replies, _ = session.receive(frame(Hello(protocol=1, client="t", edit_suggestions=True)), 10)
    assert isinstance(replies[0], Welcome)
    _, records = session.receive(frame(DocOpen("a.py", "python", 1, TEXT)), 20)
    assert isinstance(records[0].value, EditorEvent) and records[0].value.edit_suggestions
    session.receive(frame(rename_edit()), 30)
    return session


def suggestion(suggestion_id: str = "ne-1", version: int = 2) -> EditSuggestion:
    at = RENAMED.rindex("cnt")
    return EditSuggestion(suggestion_id, "a.py", version, (TextEdit(at, at + 3, "count"),),
                          "rename 1 more use of `cnt` to `count`", "rename", 0.5)


def events_of(records: Sequence[OutRecord]) -> list[SuggestionEvent]:
    found = [r.value for r in records]
    assert all(isinstance(e, SuggestionEvent) for e in found), found
    return [e for e in found if isinstance(e, SuggestionEvent)]


class TestEdge:
    def test_delivered_only_to_a_session_that_opted_in(self) -> None:
        session = new_session()
        session.receive(frame(Hello(protocol=1, client="t")), 10)
        _, records = session.receive(frame(DocOpen("a.py", "python", 1, TEXT)), 20)
        assert isinstance(records[0].value, EditorEvent)
        assert not records[0].value.edit_suggestions
        session.receive(frame(rename_edit()), 30)
        assert session.on_suggestion(suggestion(), 40) == (False, [])
        assert opted_in().on_suggestion(suggestion(), 40) == (True, [])

    def test_never_delivered_for_a_version_the_client_has_typed_past(self) -> None:
        session = opted_in()
        session.receive(frame(DocChange("a.py", 3, (TextEdit(0, 0, "#"),))), 35)
        assert session.on_suggestion(suggestion(version=2), 40) == (False, [])
        assert session.on_suggestion(suggestion("ne-2", version=3), 41)[0]
        # A change this edge refused: the client is ahead of the edge's copy, whatever its
        # version says.
        replies, _ = session.receive(frame(DocChange("a.py", 4, (TextEdit(999, 999, "x"),))), 42)
        assert isinstance(replies[0], ErrorFrame)
        assert session.on_suggestion(suggestion("ne-3", version=3), 43) == (False, [])

    def test_each_suggestion_ends_once(self) -> None:
        session = opted_in()
        assert session.on_suggestion(suggestion("ne-1"), 40)[0]
        _, records = session.receive(frame(SuggestionFeedback("f1", "ne-1", "shown")), 50)
        assert [e.kind for e in events_of(records)] == ["shown"]
        # A newer suggestion for the document replaces it: it ends dismissed, once.
        deliver, records = session.on_suggestion(suggestion("ne-2"), 60)
        assert deliver and [(e.suggestion_id, e.kind) for e in events_of(records)] == [
            ("ne-1", "dismissed")]
        replies, records = session.receive(frame(SuggestionFeedback("f2", "ne-1", "accepted")),
                                           70)
        assert records == [] and isinstance(replies[0], ErrorFrame)
        assert replies[0].code == "suggestion_finished"
        _, records = session.receive(frame(SuggestionFeedback("f3", "ne-2", "partial",
                                                              accepted_changes=1)), 80)
        (accepted,) = events_of(records)
        assert (accepted.kind, accepted.accepted_changes, accepted.rule, accepted.language_id,
                accepted.changes) == ("partial", 1, "rename", "python", 1)
        assert session.receive(frame(SuggestionFeedback("f4", "ne-2", "rejected")),
                               90)[0][0].code == "suggestion_finished"  # type: ignore[union-attr]

    def test_closing_the_document_or_the_session_dismisses_what_is_open(self) -> None:
        session = opted_in()
        session.on_suggestion(suggestion("ne-1"), 40)
        _, records = session.receive(frame(DocClose("a.py")), 50)
        assert [(e.suggestion_id, e.kind, e.language_id) for e in events_of(records[:-1])] == [
            ("ne-1", "dismissed", "python")]
        session = opted_in()
        session.on_suggestion(suggestion("ne-1"), 40)
        ended = session.end(60)
        assert [(e.suggestion_id, e.kind) for e in events_of(ended[:-1])] == [
            ("ne-1", "dismissed")]

    @pytest.mark.parametrize(("feedback", "code"), [
        (SuggestionFeedback("f1", "ne-404", "accepted"), "unknown_suggestion"),
        (SuggestionFeedback("f1", "ne-1", "partial"), "missing_field"),
    ])
    def test_bad_feedback_gets_a_precise_error_and_the_session_goes_on(
            self, feedback: SuggestionFeedback, code: str) -> None:
        session = opted_in()
        session.on_suggestion(suggestion("ne-1"), 40)
        replies, records = session.receive(frame(feedback), 50)
        assert records == [] and isinstance(replies[0], ErrorFrame)
        assert replies[0].code == code
        _, records = session.receive(frame(SuggestionFeedback("f9", "ne-1", "accepted")), 60)
        assert [e.kind for e in events_of(records)] == ["accepted"]


def test_the_suggestion_event_becomes_a_row_without_code() -> None:
    session = opted_in()
    session.on_suggestion(suggestion("ne-1"), 40)
    _, records = session.receive(frame(SuggestionFeedback("f1", "ne-1", "accepted")), 50)
    (record,) = records
    assert record.topic == "quality"
    value = read_quality(write_record(record.value))
    row = quality_row(value, SuggestionEvent)
    assert row is not None and row[5:11] == ("ne-1", "rename", "python", "accepted", 1, None)
    # Ids, names of rules and languages, kinds, counts and a time: no field could hold code.
    assert {f.name for f in dataclasses.fields(SuggestionEvent)} == {
        "event_id", "session_id", "tenant_id", "user_id", "plan", "suggestion_id", "rule",
        "language_id", "kind", "changes", "accepted_changes", "received_ms", "type", "v"}


def test_an_unknown_rule_name_is_refused_by_name() -> None:
    from next_edits.engine import configured

    assert configured("default") == frozenset({"signature"}) and configured("rename") == RULES
    with pytest.raises(ValueError, match="unknown rule renme"):
        configured("renme")
