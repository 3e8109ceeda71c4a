"""Persistence of accepted completions and authorship, followed through edits (fake clock)."""

from __future__ import annotations

from documents.document import apply_edits
from schemas.socket import TextEdit
from workers.persistence import PersistenceTracker, surviving_chars

PREFIX = "def area(r):\n    return "
SUGGESTION = "3.14159 * r * r"


class Editor:
    """A document and the tracker fed with every edit, as the worker does."""

    def __init__(self) -> None:
        self.text = PREFIX
        self.tracker = PersistenceTracker((30, 120))

    def edit(self, start: int, end: int, text: str) -> None:
        edits = (TextEdit(start, end, text),)
        self.text = apply_edits(self.text, edits)
        self.tracker.edited("s", "a.py", "python", edits)

    def due(self, now_ms: int) -> list[tuple[int, int, int]]:
        return [(c.checkpoint_s, c.accepted_chars, c.surviving_chars)
                for c in self.tracker.due(now_ms, {("s", "a.py"): self.text})]


def accepted_then_inserted() -> Editor:
    editor = Editor()
    editor.tracker.suggested("s", "r1", "a.py", len(PREFIX), SUGGESTION, "python")
    editor.tracker.accepted("s", "r1", None, editor.text, now_ms=0)
    editor.edit(len(PREFIX), len(PREFIX), SUGGESTION)
    return editor


def test_untouched_code_survives_whole_at_every_checkpoint() -> None:
    editor = accepted_then_inserted()
    editor.edit(0, 0, "# header\n")  # before the span: it moves
    editor.edit(len(editor.text), len(editor.text), "\n\nprint(area(2))\n")  # after it
    assert editor.due(29_999) == []
    assert editor.due(30_000) == [(30, 15, 15)]
    assert editor.due(120_000) == [(120, 15, 15)]
    assert editor.due(999_000) == [], "each checkpoint once; then the span is forgotten"


def test_rewritten_code_counts_what_is_left() -> None:
    editor = accepted_then_inserted()
    start = editor.text.index("3.14159")
    editor.edit(start, start + 7, "math.pi")  # 7 of 15 characters replaced
    assert editor.due(30_000) == [(30, 15, 9)]  # "." and " * r * r"
    editor.edit(start - 4, len(editor.text), "")  # the line's end deleted, from before it
    assert editor.due(120_000) == [(120, 15, 0)]


def test_feedback_after_the_insert_finds_the_text_in_place() -> None:
    editor = Editor()
    editor.tracker.suggested("s", "r1", "a.py", len(PREFIX), SUGGESTION, "python")
    editor.edit(len(PREFIX), len(PREFIX), SUGGESTION)
    editor.tracker.accepted("s", "r1", 7, editor.text, now_ms=0)  # partial: "3.14159"
    assert editor.due(30_000) == [(30, 7, 7)]
    (authorship,) = editor.tracker.forget("s")
    assert (authorship.completion_chars, authorship.typed_chars) == (7, 8)


def test_a_suggestion_never_inserted_is_dropped() -> None:
    editor = Editor()
    editor.tracker.suggested("s", "r1", "a.py", len(PREFIX), SUGGESTION, "python")
    editor.tracker.accepted("s", "r1", None, editor.text, now_ms=0)
    assert editor.due(60_000) == []


def test_authorship_splits_typed_from_accepted_characters() -> None:
    editor = accepted_then_inserted()
    editor.edit(len(editor.text), len(editor.text), "\n")
    (authorship,) = editor.tracker.forget("s")
    assert (authorship.completion_chars, authorship.typed_chars) == (15, 1)
    assert editor.tracker.forget("s") == []


def test_sessions_the_worker_dropped_are_forgotten() -> None:
    editor = accepted_then_inserted()
    editor.tracker.retain(lambda session_id: session_id != "s")
    assert editor.tracker.forget("s") == []
    assert editor.due(30_000) == []


def test_unknown_requests_are_ignored() -> None:
    tracker = PersistenceTracker((30,))
    tracker.accepted("s", "never-suggested", None, "x", 0)
    assert tracker.due(10**9, {}) == []


def test_surviving_chars_is_an_in_order_match() -> None:
    assert surviving_chars("abcdef", "abcdef") == 6
    assert surviving_chars("abcdef", "abXdef") == 5
    assert surviving_chars("abcdef", "") == 0
