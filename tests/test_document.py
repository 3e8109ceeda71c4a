"""Document sync: edits, versions and limits, as the edge and the worker both apply them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from documents.document import DocumentSet, apply_edits
from schemas.errors import StateError, ValidationError
from schemas.socket import TextEdit


def docs(max_documents: int = 4, max_chars: int = 1000) -> DocumentSet:
    return DocumentSet(max_documents, max_chars)


class TestEdits:
    """Edits apply in order, each against the text the previous one left."""

    def test_insert_replace_delete(self) -> None:
        assert apply_edits("hello", (TextEdit(5, 5, " world"),)) == "hello world"
        assert apply_edits("hello", (TextEdit(0, 1, "J"),)) == "Jello"
        assert apply_edits("hello", (TextEdit(1, 3, ""),)) == "hlo"

    def test_sequential_semantics(self) -> None:
        assert apply_edits("ab", (TextEdit(2, 2, "c"), TextEdit(0, 1, ""))) == "bc"

    def test_offsets_are_code_points(self) -> None:
        assert apply_edits("é😀x", (TextEdit(2, 3, "y"),)) == "é😀y"

    def test_end_past_length(self) -> None:
        with pytest.raises(StateError) as caught:
            apply_edits("abc", (TextEdit(0, 4, ""),))
        assert (caught.value.code, caught.value.field) == ("edit_out_of_range", "changes.0.end")

    def test_start_after_end(self) -> None:
        with pytest.raises(ValidationError) as caught:
            apply_edits("abc", (TextEdit(0, 0, ""), TextEdit(2, 1, "")))
        assert caught.value.field == "changes.1.start"


class TestDocumentSet:
    """Versions strictly increase; refused changes leave the document as it was."""

    def test_open_change_close(self) -> None:
        d = docs()
        d.open("a", "python", 1, "x = 1")
        assert d.change("a", 2, (TextEdit(4, 5, "2"),)).text == "x = 2"
        d.close("a")
        assert d.get("a") is None

    def test_change_for_unopened_document(self) -> None:
        with pytest.raises(StateError) as caught:
            docs().change("nope", 2, (TextEdit(0, 0, "x"),))
        assert caught.value.code == "unknown_document"

    @pytest.mark.parametrize("version", [1, 0])
    def test_old_or_same_version_is_refused(self, version: int) -> None:
        d = docs()
        d.open("a", "python", 1, "abc")
        with pytest.raises(StateError) as caught:
            d.change("a", version, (TextEdit(0, 0, "x"),))
        assert caught.value.code == "version_conflict"
        assert d.require("a").text == "abc"

    def test_failed_multi_edit_change_is_atomic(self) -> None:
        d = docs()
        d.open("a", "python", 1, "abc")
        with pytest.raises(StateError):
            d.change("a", 2, (TextEdit(0, 0, "x"), TextEdit(0, 99, "")))
        assert (d.require("a").text, d.require("a").version) == ("abc", 1)

    def test_document_limit(self) -> None:
        d = docs(max_documents=1)
        d.open("a", "python", 1, "")
        with pytest.raises(StateError) as caught:
            d.open("b", "python", 1, "")
        assert caught.value.code == "too_many_documents"
        d.open("a", "python", 5, "reopen replaces")  # re-opening does not count twice

    def test_size_limit_on_change(self) -> None:
        d = docs(max_chars=5)
        d.open("a", "python", 1, "abcde")
        with pytest.raises(StateError) as caught:
            d.change("a", 2, (TextEdit(5, 5, "f"),))
        assert caught.value.code == "document_too_large"

    def test_position_checks(self) -> None:
        d = docs()
        d.open("a", "python", 3, "abc")
        assert d.check_position("a", 3, 3).text == "abc"
        with pytest.raises(StateError, match="version"):
            d.check_position("a", 2, 0)
        with pytest.raises(StateError, match="past the document"):
            d.check_position("a", 3, 4)


@st.composite
def edit_scripts(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, str]]]:
    text = draw(st.text(max_size=30))
    length = len(text)
    script = []
    for _ in range(draw(st.integers(0, 15))):
        start = draw(st.integers(0, length))
        end = draw(st.integers(start, length))
        new = draw(st.text(max_size=5))
        script.append((start, end, new))
        length += len(new) - (end - start)
    return text, script


@settings(max_examples=200, deadline=None)
@given(edit_scripts())
def test_edits_match_a_list_model(case: tuple[str, list[tuple[int, int, str]]]) -> None:
    """Whatever the split into messages, the text equals a character-list reference."""
    text, script = case
    model = list(text)
    d = docs(max_chars=10_000)
    d.open("a", "x", 0, text)
    for version, (start, end, new) in enumerate(script, start=1):
        model[start:end] = list(new)
        d.change("a", version, (TextEdit(start, end, new),))
    assert d.require("a").text == "".join(model)
    assert apply_edits(text, tuple(TextEdit(*e) for e in script)) == "".join(model)
