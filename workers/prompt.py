"""The prompt around the cursor: bounded prefix and suffix of the document, cut at line starts.

Pure. Cutting at a line boundary keeps the model from seeing half a token at the edge of its
window; the bounds keep per-request cost flat however large the file is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from documents import cross_file
from documents.document import Document
from documents.languages import by_id, canonical_id
from documents.redaction import HeadMemo, redact, redact_prefix


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the model sees: text before and after the cursor, and the language."""

    prefix: str
    suffix: str
    language_id: str
    #: Snippets and signatures of the session's other open documents, as comments (may be empty).
    context: str = ""


def build_prompt(doc: Document, offset: int, prefix_chars: int, suffix_chars: int,
                 neighbours: Sequence[cross_file.Neighbour] = (),
                 memo: HeadMemo | None = None) -> Prompt:
    """Prefix up to ``prefix_chars`` before ``offset``, suffix up to ``suffix_chars`` after it,
    with secrets masked (the edge masks what it can see in each edit; a secret typed key by key
    is only whole here, in the document), and context chosen from ``neighbours`` (the session's
    other open documents of the language, already masked). ``memo``: the document's secrets
    above the cursor's line from its last prompt."""
    text = doc.text
    start = max(0, offset - prefix_chars)
    if start > 0:
        newline = text.find("\n", start, offset)
        start = newline + 1 if newline != -1 else start
    end = min(len(text), offset + suffix_chars)
    if end < len(text):
        newline = text.rfind("\n", offset, end)
        end = newline + 1 if newline != -1 else end
    prefix = redact_prefix(text[start:offset], memo)
    language_id = canonical_id(doc.language_id, doc.uri)
    language = by_id(language_id)
    context = cross_file.render(cross_file.choose(prefix, neighbours),
                                language.line_comment if language else None) if neighbours else ""
    return Prompt(prefix=prefix, suffix=redact(text[offset:end]), language_id=language_id,
                  context=context)
