"""The language server's side of next edits: which suggestion is current, what editors are given
(positions in their encoding, their version), and the verdicts that go to the edge."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from ide.bridge import Bridge
from ide.mirror import Change, DocumentError
from ide.next_edits import FEEDBACK_COMMAND, Offers, announcement, code_action, text_edits
from ide.options import Options
from ide.positions import Position
from schemas.codec import parse_json
from schemas.socket import (
    EditSuggestion,
    ErrorFrame,
    SuggestionFeedback,
    TextEdit,
    decode_client_message,
)

TEXT = "def f(cnt):\n    s = '😀'; return cnt + cnt\n"


def suggestion(version: int = 2, suggestion_id: str = "s1", uri: str = "file:///a.py"
               ) -> EditSuggestion:
    second = TEXT.index("cnt", TEXT.index("return"))
    third = TEXT.rindex("cnt")
    return EditSuggestion(suggestion_id, uri, version,
                          (TextEdit(third, third + 3, "n"), TextEdit(second, second + 3, "n")),
                          "rename 2 more uses of `cnt` to `n`", "rename", 0.9)


def test_edits_are_in_document_order_and_in_the_editors_encoding() -> None:
    found = suggestion()
    utf16 = text_edits(TEXT, found, "utf-16")
    utf32 = text_edits(TEXT, found, "utf-32")
    assert [e.range.start.character for e in utf32] == [20, 26]
    # The emoji before them is two UTF-16 code units.
    assert [e.range.start.character for e in utf16] == [21, 27]
    assert {e.new_text for e in utf16} == {"n"} and {e.range.start.line for e in utf16} == {1}


def test_the_announcement_carries_the_editors_version() -> None:
    params = announcement(TEXT, suggestion(), 17, "utf-16")
    assert params["version"] == 17 and params["suggestionId"] == "s1"
    assert params["edits"][0] == {"range": {"start": {"line": 1, "character": 21},
                                            "end": {"line": 1, "character": 24}}, "newText": "n"}


def test_the_code_action_applies_it_at_the_editors_version_and_reports_it_accepted() -> None:
    action = code_action(TEXT, suggestion(), 17, "utf-16")
    assert action.title.startswith("Code assistant: Apply next edit: rename 2 more uses")
    assert action.kind == types.CodeActionKind.RefactorRewrite and action.is_preferred
    assert action.edit is not None and action.edit.document_changes is not None
    change = action.edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 17
    assert action.command is not None and action.command.command == FEEDBACK_COMMAND
    assert action.command.arguments == [{"suggestionId": "s1", "kind": "accepted"}]


def test_an_offer_is_kept_only_for_the_version_it_is_for_and_replaced_by_a_newer_one() -> None:
    offers = Offers()
    assert offers.offered(suggestion(version=3), 2) is None
    assert offers.current("file:///a.py", 2) is None
    assert offers.offered(suggestion(), 2) is None
    assert offers.current("file:///a.py", 2) == suggestion()
    assert offers.current("file:///a.py", 3) is None
    assert offers.offered(suggestion(suggestion_id="s2"), 2) == "s1"
    assert offers.changed("file:///a.py") == suggestion(suggestion_id="s2")
    assert offers.changed("file:///a.py") is None


class _Posted:
    """A bridge whose edge session is a queue: what it posts is read back as frames."""

    def __init__(self) -> None:
        self.bridge = Bridge(Options("ws://127.0.0.1:1", "key"), "utf-16")
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.bridge.link._outbox = self.queue
        self.shown: list[EditSuggestion] = []
        self.bridge.on_next_edit = self.shown.append

    def verdicts(self) -> list[tuple[str, str]]:
        frames = []
        while not self.queue.empty():
            frame = decode_client_message(parse_json(self.queue.get_nowait()))
            if isinstance(frame, SuggestionFeedback):
                frames.append((frame.suggestion_id, frame.kind))
        return frames


def test_the_bridge_shows_a_current_suggestion_and_reports_a_stale_one_dismissed() -> None:
    posted = _Posted()
    bridge = posted.bridge
    bridge.opened("file:///a.py", "python", TEXT.replace("f(cnt)", "f(c)"))
    bridge.changed("file:///a.py", [Change("n", Position(0, 6), Position(0, 7))])  # version 2
    bridge._suggested(suggestion(version=1, suggestion_id="old"))
    bridge._suggested(suggestion())
    assert [s.suggestion_id for s in posted.shown] == ["s1"]
    assert ("old", "dismissed") in posted.verdicts()
    assert bridge.offers.current("file:///a.py", 2) is not None
    assert bridge.next_edit_feedback("s1", "shown") and bridge.next_edit_feedback("s1", "shown")
    assert bridge.next_edit_feedback("s1", "accepted")
    assert [v for v in posted.verdicts() if v[0] == "s1"] == [("s1", "shown"), ("s1", "accepted")]


def test_an_edit_makes_the_suggestion_stale_and_without_a_verdict_it_is_dismissed() -> None:
    posted = _Posted()
    bridge = posted.bridge
    bridge.opened("file:///a.py", "python", TEXT)
    bridge._suggested(suggestion(version=1))
    bridge.changed("file:///a.py", [Change("x", Position(2, 0), Position(2, 0))])
    assert bridge.offers.current("file:///a.py", 2) is None
    assert bridge.edit_verdicts.due(10**12) == ["s1"]  # what the verdict timer reports dismissed


@pytest.mark.parametrize(("suggestion_id", "kind", "code"), [
    ("nobody", "accepted", "unknown_suggestion"), ("s1", "liked", "invalid_kind")])
def test_feedback_on_an_unknown_suggestion_or_kind_is_refused(suggestion_id: str, kind: str,
                                                              code: str) -> None:
    posted = _Posted()
    posted.bridge.opened("file:///a.py", "python", TEXT)
    posted.bridge._suggested(suggestion(version=1))
    with pytest.raises(DocumentError) as refused:
        posted.bridge.next_edit_feedback(suggestion_id, kind)
    assert refused.value.code == code


def test_an_error_about_a_suggestion_does_not_resend_the_documents() -> None:
    posted = _Posted()
    posted.bridge.opened("file:///a.py", "python", TEXT)
    posted.bridge._refused(ErrorFrame("suggestion_finished", "ended", "suggestion_id"))
    assert not posted.bridge._unsent
    posted.bridge._refused(ErrorFrame("edit_out_of_range", "no", "changes"))
    assert posted.bridge._unsent == {"file:///a.py"}


def test_a_newer_suggestion_ends_the_stale_ones_on_notice_without_a_second_dismissal() -> None:
    """The edge ends a document's older suggestions when it sends a newer one: the server must
    not report them dismissed again (the edge would refuse it as finished)."""
    posted = _Posted()
    bridge = posted.bridge
    bridge.opened("file:///a.py", "python", TEXT)
    bridge._suggested(suggestion(version=1, suggestion_id="s1"))
    bridge.changed("file:///a.py", [Change("x", Position(2, 0), Position(2, 0))])  # version 2
    bridge._suggested(suggestion(version=2, suggestion_id="s2"))
    assert bridge.edit_verdicts.due(10**12) == []
    bridge.opened("file:///a.py", "python", TEXT)  # re-opened: s2 no longer applies
    assert bridge.offers.current("file:///a.py", 2) is None
    assert bridge.edit_verdicts.due(10**12) == ["s2"]


def test_a_change_that_cannot_be_applied_still_drops_the_suggestion() -> None:
    posted = _Posted()
    bridge = posted.bridge
    bridge.opened("file:///a.py", "python", TEXT)
    bridge._suggested(suggestion(version=1))
    with pytest.raises(DocumentError):
        bridge.changed("file:///a.py", [Change("x", Position(99, 0), Position(99, 0))])
    assert bridge.offers.current("file:///a.py", 1) is None
