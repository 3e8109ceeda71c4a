"""The language server's copy of each open document, and the protocol frames that keep the edge's
copy equal to it.

Pure: LSP's ``didOpen`` / ``didChange`` / ``didClose`` come in (ranges in the negotiated position
encoding, or a whole new text), ``doc_open`` / ``doc_change`` / ``doc_close`` go out (code-point
offsets). The versions sent to the edge are the mirror's own counter, so an editor that repeats or
skips versions (or a reconnection, which starts a new session) never makes the edge refuse an edit.
A change the mirror cannot apply leaves the document *unsynced*: the editor's text is no longer
known, so completions on it are refused until the editor opens it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ide.positions import Encoding, Position, PositionError, line_starts, offset_of
from schemas.errors import AssistantError
from schemas.socket import DocChange, DocClose, DocOpen, TextEdit

#: ``doc_change`` carries at most this many edits (schemas/socket.py).
MAX_EDITS_PER_FRAME = 1000


class DocumentError(AssistantError):
    """An editor event that does not fit the documents' state; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Change:
    """One LSP content change: ``start``/``end`` ``None`` means the whole text is replaced."""

    text: str
    start: Position | None = None
    end: Position | None = None


@dataclass(slots=True)
class MirroredDocument:
    """One open document: the editor's text as of ``version`` (our counter)."""

    uri: str
    language_id: str
    text: str
    version: int = 1
    synced: bool = True
    _starts: list[int] | None = field(default=None, repr=False)

    @property
    def starts(self) -> list[int]:
        """Line starts, computed once per text."""
        if self._starts is None:
            self._starts = line_starts(self.text)
        return self._starts

    def offset(self, position: Position, encoding: Encoding) -> int:
        return offset_of(self.text, self.starts, position, encoding)

    def snapshot(self) -> DocOpen:
        """The frame that (re-)opens this document at the edge."""
        return DocOpen(self.uri, self.language_id, self.version, self.text)


def minimal_edit(old: str, new: str) -> TextEdit:
    """One edit that turns ``old`` into ``new``, sparing their common start and end (what a
    whole-text change of one keystroke becomes)."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return TextEdit(head, len(old) - tail, new[head:len(new) - tail])


class Mirror:
    """The open documents of one editor session."""

    def __init__(self, encoding: Encoding = "utf-16") -> None:
        self.encoding: Encoding = encoding
        self._docs: dict[str, MirroredDocument] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[MirroredDocument]:
        return iter(list(self._docs.values()))

    def find(self, uri: str) -> MirroredDocument | None:
        """The document ``uri`` if it is open, synced or not."""
        return self._docs.get(uri)

    def get(self, uri: str) -> MirroredDocument:
        """The open, synced document ``uri``; :class:`DocumentError` otherwise."""
        doc = self._docs.get(uri)
        if doc is None:
            raise DocumentError("unknown_document", f"{uri} is not open (didOpen first)")
        if not doc.synced:
            raise DocumentError(
                "document_unsynced",
                f"{uri}: an earlier change could not be applied, so its text is unknown; "
                "close and reopen it")
        return doc

    def open(self, uri: str, language_id: str, text: str) -> DocOpen:
        """``didOpen`` (again: replaces the document, which becomes synced)."""
        old = self._docs.get(uri)
        doc = MirroredDocument(uri, language_id or "plaintext", text,
                               version=old.version + 1 if old else 1)
        self._docs[uri] = doc
        return doc.snapshot()

    def change(self, uri: str, changes: Sequence[Change]) -> DocChange | DocOpen:
        """``didChange``: apply ``changes`` in order; the frame carries the same edits in code
        points (or the whole text, past the protocol's edits per frame). A change that names no
        place in the text marks the document unsynced."""
        doc = self.get(uri)
        text, starts = doc.text, doc.starts
        edits = []
        try:
            for index, change in enumerate(changes):
                if index:
                    starts = line_starts(text)
                if change.start is None or change.end is None:
                    edit = minimal_edit(text, change.text)
                else:
                    start = offset_of(text, starts, change.start, self.encoding)
                    end = offset_of(text, starts, change.end, self.encoding)
                    if end < start:
                        raise PositionError(f"range end {change.end} is before its start {change.start}")
                    edit = TextEdit(start, end, change.text)
                text = text[:edit.start] + edit.text + text[edit.end:]
                edits.append(edit)
        except PositionError as error:
            doc.synced = False
            raise DocumentError("position_out_of_range", f"{uri}: {error}") from error
        if not edits:
            raise DocumentError("empty_change", f"{uri}: didChange without content changes")
        doc.text, doc._starts = text, None
        doc.version += 1
        if len(edits) > MAX_EDITS_PER_FRAME:
            return doc.snapshot()
        return DocChange(uri, doc.version, tuple(edits))

    def close(self, uri: str) -> DocClose:
        """``didClose``."""
        if self._docs.pop(uri, None) is None:
            raise DocumentError("unknown_document", f"{uri} is not open")
        return DocClose(uri)
