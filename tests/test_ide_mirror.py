"""The language server's document mirror: LSP positions in every encoding to code points, and the
edge's copy kept equal to the editor's text through random incremental edits (non-BMP text, CRLF,
lone CR), checked against a reference written independently (Python's codecs and ``re.split``)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from documents.document import apply_edits
from ide.coalescing import merge
from ide.mirror import MAX_EDITS_PER_FRAME, Change, DocumentError, Mirror, minimal_edit
from ide.positions import Encoding, Position, PositionError, line_starts, offset_of, position_of
from schemas.socket import DocChange, DocOpen, TextEdit

PIECES = ["a", "b", "Z", " ", "_", "é", "€", "😀", "𠀀", "👍🏽", "\n", "\r\n", "\r", "\t", "ß", "中"]


def reference_position(text: str, offset: int, encoding: Encoding) -> Position:
    """What an editor would send for ``offset``: lines split by LSP's three line breaks, the
    column measured with Python's codecs."""
    lines = re.split(r"\r\n|\r|\n", text[:offset])
    last = lines[-1]
    if encoding == "utf-16":
        column = len(last.encode("utf-16-le")) // 2
    elif encoding == "utf-8":
        column = len(last.encode("utf-8"))
    else:
        column = len(last)
    return Position(len(lines) - 1, column)


def inside_crlf(text: str, offset: int) -> bool:
    return 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n"


def random_edit(rng: random.Random, text: str) -> tuple[int, int, str]:
    places = [i for i in range(len(text) + 1) if not inside_crlf(text, i)]
    start = rng.choice(places)
    longest = 8 if len(text) < 400 else 40  # long texts shrink
    end = rng.choice([p for p in places if start <= p <= start + longest])
    inserted = "" if rng.random() < 0.3 else "".join(
        rng.choice(PIECES) for _ in range(rng.randint(1, 6 if len(text) < 400 else 2)))
    return start, end, inserted


def edit_as_lsp(text: str, start: int, end: int, inserted: str, encoding: Encoding) -> Change:
    return Change(inserted, reference_position(text, start, encoding),
                  reference_position(text, end, encoding))


def replay(seed: int, edits: int, encoding: Encoding) -> int:
    """Type ``edits`` random edits; return how many times the copies disagreed."""
    rng = random.Random(seed)
    editor = "".join(rng.choice(PIECES) for _ in range(50))
    mirror = Mirror(encoding)
    opened = mirror.open("file:///t.txt", "plaintext", editor)
    edge = opened.text
    drifts = 0
    for _ in range(edits):
        batch = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):  # several changes in one didChange
            start, end, inserted = random_edit(rng, editor)
            batch.append(edit_as_lsp(editor, start, end, inserted, encoding))
            editor = editor[:start] + inserted + editor[end:]
        if rng.random() < 0.05:
            batch = [Change(editor)]  # a whole-text change
        frame = mirror.change("file:///t.txt", batch)
        assert isinstance(frame, DocChange)
        edge = apply_edits(edge, frame.changes)
        drifts += edge != editor or mirror.get("file:///t.txt").text != editor
    return drifts


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_ten_thousand_random_edits_never_drift(encoding: Encoding) -> None:
    assert replay(seed=len(encoding), edits=10_000, encoding=encoding) == 0


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), encoding=st.sampled_from(["utf-16", "utf-8", "utf-32"]))
def test_random_edit_sequences_never_drift(seed: int, encoding: Encoding) -> None:
    assert replay(seed, edits=60, encoding=encoding) == 0


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join), data=st.data(),
       encoding=st.sampled_from(["utf-16", "utf-8", "utf-32"]))
def test_positions_round_trip(text: str, data: st.DataObject, encoding: Encoding) -> None:
    offset = data.draw(st.integers(0, len(text)).filter(lambda o: not inside_crlf(text, o)))
    starts = line_starts(text)
    position = reference_position(text, offset, encoding)
    assert offset_of(text, starts, position, encoding) == offset
    assert position_of(text, starts, offset, encoding) == position


def test_utf16_counts_surrogate_pairs_and_refuses_half_of_one() -> None:
    text = "a😀b\r\n𠀀x"
    starts = line_starts(text)
    assert offset_of(text, starts, Position(0, 3), "utf-16") == 2  # after the emoji: 1 + 2 units
    assert offset_of(text, starts, Position(1, 2), "utf-16") == 6  # after CJK extension B
    with pytest.raises(PositionError, match="inside the code point"):
        offset_of(text, starts, Position(0, 2), "utf-16")
    with pytest.raises(PositionError, match="inside the code point"):
        offset_of(text, starts, Position(0, 2), "utf-8")


def test_line_ends_and_out_of_range() -> None:
    text = "ab\r\ncd\re\n"
    starts = line_starts(text)
    assert starts == [0, 4, 7, 9]
    assert offset_of(text, starts, Position(0, 99), "utf-16") == 2  # clamped before the CRLF
    assert offset_of(text, starts, Position(1, 99), "utf-16") == 6  # before the lone CR
    assert offset_of(text, starts, Position(3, 0), "utf-16") == 9   # the empty last line
    assert offset_of(text, starts, Position(4, 0), "utf-16") == 9   # (line count, 0): the end
    with pytest.raises(PositionError, match="past the document's last line"):
        offset_of(text, starts, Position(4, 1), "utf-16")
    with pytest.raises(PositionError, match="negative"):
        offset_of(text, starts, Position(0, -1), "utf-16")


def test_mirror_refuses_what_does_not_fit_and_marks_the_document_unsynced() -> None:
    mirror = Mirror("utf-16")
    with pytest.raises(DocumentError) as error:
        mirror.change("file:///nope", [Change("x")])
    assert error.value.code == "unknown_document"
    mirror.open("file:///a", "python", "x = 1\n")
    with pytest.raises(DocumentError) as error:
        mirror.change("file:///a", [Change("y", Position(9, 0), Position(9, 0))])
    assert error.value.code == "position_out_of_range"
    with pytest.raises(DocumentError) as error:
        mirror.get("file:///a")
    assert error.value.code == "document_unsynced"
    reopened = mirror.open("file:///a", "python", "x = 2\n")
    assert isinstance(reopened, DocOpen) and reopened.version == 2  # versions keep rising
    frame = mirror.change("file:///a", [Change("3", Position(0, 4), Position(0, 5))])
    assert isinstance(frame, DocChange) and frame.version == 3 and mirror.get("file:///a").text == "x = 3\n"
    mirror.close("file:///a")
    with pytest.raises(DocumentError):
        mirror.close("file:///a")


def test_whole_text_changes_become_one_small_edit() -> None:
    edit = minimal_edit("def f(x):\n    return x\n", "def f(x):\n    return xy\n")
    assert (edit.start, edit.end, edit.text) == (22, 22, "y")
    edit = minimal_edit("aaa", "aa")
    assert apply_edits("aaa", (edit,)) == "aa"


def test_more_edits_than_a_frame_holds_reopen_the_document() -> None:
    mirror = Mirror("utf-32")
    mirror.open("file:///a", "python", "")
    frame = mirror.change("file:///a", [Change("x", Position(0, i), Position(0, i)) for i in range(1001)])
    assert isinstance(frame, DocOpen) and frame.text == "x" * 1001


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), flush_every=st.sampled_from([0.02, 0.1, 0.5]))
def test_coalesced_edits_rebuild_the_editors_text(seed: int, flush_every: float) -> None:
    """Held edits sent as one frame (or the whole text, when ``merge`` says so) take the
    edge's copy to the editor's text, under a version that only grows."""
    rng = random.Random(seed)
    uri = "file:///t.txt"
    editor = "".join(rng.choice(PIECES) for _ in range(50))
    mirror = Mirror("utf-16")
    edge, edge_version = mirror.open(uri, "plaintext", editor).text, 1
    held: DocChange | None = None
    whole = False
    for _ in range(300):
        start, end, inserted = random_edit(rng, editor)
        frame = mirror.change(uri, [edit_as_lsp(editor, start, end, inserted, "utf-16")])
        editor = editor[:start] + inserted + editor[end:]
        assert isinstance(frame, DocChange)
        if not whole:
            held = frame if held is None else merge(held, frame, len(editor))
            whole = held is None
        if rng.random() < flush_every:
            doc = mirror.get(uri)
            if whole:
                edge, version = doc.text, doc.version
            else:
                assert held is not None
                edge, version = apply_edits(edge, held.changes), held.version
            assert version > edge_version and version == doc.version
            edge_version, held, whole = version, None, False
            assert edge == editor


def test_merge_sends_the_whole_text_when_it_is_the_smaller_frame() -> None:
    one = DocChange("u", 2, (TextEdit(0, 0, "ab"),))
    assert merge(one, DocChange("u", 3, (TextEdit(2, 2, "c"),)), 10) == DocChange(
        "u", 3, (TextEdit(0, 0, "ab"), TextEdit(2, 2, "c")))
    assert merge(one, DocChange("u", 3, (TextEdit(0, 0, "x" * 9),)), 10) is None, "more text"
    many = DocChange("u", 2, tuple(TextEdit(0, 0, "") for _ in range(MAX_EDITS_PER_FRAME)))
    assert merge(many, DocChange("u", 3, (TextEdit(0, 0, ""),)), 10) is None, "too many edits"
