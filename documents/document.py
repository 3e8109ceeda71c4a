"""Document state rebuilt from editor events: open, incremental edits with versions, close.

Pure: the edge keeps one :class:`DocumentSet` per session to validate events before they enter
Kafka (and to answer a worker that needs a snapshot); the worker keeps one per session to build
prompts. Both apply the same rules, so they agree on every document's text at every version.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.errors import StateError, ValidationError
from schemas.socket import TextEdit


@dataclass(frozen=True, slots=True)
class Document:
    """One open document at one version."""

    uri: str
    language_id: str
    version: int
    text: str


def apply_edits(text: str, edits: tuple[TextEdit, ...]) -> str:
    """Apply ``edits`` in order, each against the text left by the previous one."""
    for index, edit in enumerate(edits):
        if edit.start > edit.end:
            raise ValidationError(
                f"start {edit.start} is after end {edit.end}", f"changes.{index}.start")
        if edit.end > len(text):
            raise StateError(
                "edit_out_of_range",
                f"end {edit.end} is past the document's length {len(text)}",
                f"changes.{index}.end",
            )
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


class DocumentSet:
    """The open documents of one session, with limits on how many and how large."""

    def __init__(self, max_documents: int, max_chars: int) -> None:
        self._docs: dict[str, Document] = {}
        self._max_documents = max_documents
        self._max_chars = max_chars

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def all(self) -> list[Document]:
        return list(self._docs.values())

    def require(self, uri: str) -> Document:
        doc = self._docs.get(uri)
        if doc is None:
            raise StateError("unknown_document", "document is not open; send doc_open first", "uri")
        return doc

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        """Open (or re-open, replacing) a document."""
        if uri not in self._docs and len(self._docs) >= self._max_documents:
            raise StateError(
                "too_many_documents",
                f"at most {self._max_documents} documents may be open per session; close one",
                "uri",
            )
        self._check_size(text, "text")
        doc = Document(uri, language_id, version, text)
        self._docs[uri] = doc
        return doc

    def change(self, uri: str, version: int, edits: tuple[TextEdit, ...]) -> Document:
        """Apply edits that take ``uri`` to ``version``; versions must strictly increase."""
        doc = self.require(uri)
        if version <= doc.version:
            raise StateError(
                "version_conflict",
                f"version {version} is not newer than the document's version {doc.version}",
                "version",
            )
        text = apply_edits(doc.text, edits)
        self._check_size(text, "changes")
        new = Document(uri, doc.language_id, version, text)
        self._docs[uri] = new
        return new

    def close(self, uri: str) -> None:
        self.require(uri)
        del self._docs[uri]

    def check_position(self, uri: str, version: int, offset: int, field: str = "offset"
                       ) -> Document:
        """The document a request at (``version``, ``offset``) refers to, if it is current;
        ``field`` names the offset in the refusal (a task's is its ``end``)."""
        doc = self.require(uri)
        if version != doc.version:
            raise StateError(
                "version_conflict",
                f"request is for version {version} but the document is at {doc.version}",
                "version",
            )
        if offset > len(doc.text):
            raise StateError(
                "offset_out_of_range",
                f"{field} {offset} is past the document's length {len(doc.text)}",
                field,
            )
        return doc

    def _check_size(self, text: str, field: str) -> None:
        if len(text) > self._max_chars:
            raise StateError(
                "document_too_large",
                f"document would have {len(text)} characters; the limit is {self._max_chars}",
                field,
            )
