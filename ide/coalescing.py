"""Edits toward the edge, coalesced: only the latest state matters for a completion.

Pure. An editor may send thousands of ``didChange`` a second (a paste storm, a macro, a
formatter that sends one edit per line); one frame per edit would queue them all ahead of the
next completion request. The bridge holds a document's edits for a short while and sends them
as one ``doc_change`` (the edits in order, under the latest version), or the whole text once
that is the smaller frame.
"""

from __future__ import annotations

from ide.mirror import MAX_EDITS_PER_FRAME
from schemas.socket import DocChange


def merge(earlier: DocChange, later: DocChange, text_chars: int) -> DocChange | None:
    """One frame for two consecutive changes of a document of ``text_chars`` code points;
    ``None`` when the whole text is the better frame (too many edits, or more text in them)."""
    edits = earlier.changes + later.changes
    if len(edits) > MAX_EDITS_PER_FRAME or sum(len(edit.text) for edit in edits) > text_chars:
        return None
    return DocChange(later.uri, later.version, edits)
