"""Next-edit suggestions in the editor's terms: which one is current per document, and what an
editor is given for it (a ``codeAssistant/nextEdit`` notification, an "Apply next edit" code
action).

Pure: frames and the document's text in, LSP values out, positions in the session's encoding. A
suggestion applies to one version of the document only; the first change after it makes it stale
(it is then forgotten here, and the bridge reports it ``dismissed`` unless the editor gives a
verdict within :data:`ide.verdicts.GRACE_S`: an accepted suggestion's own edit comes before its
command). Edits go out with the editor's version, so an editor whose buffer has moved on refuses
them instead of applying them to other text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from ide.actions import lsp_range
from ide.positions import Encoding, line_starts
from ide.suggestions import lf_only
from schemas.socket import EditSuggestion

NOTIFICATION = "codeAssistant/nextEdit"
FEEDBACK_COMMAND = "codeAssistant.nextEditFeedback"
#: What an editor may report (``partial`` with ``acceptedChanges``).
VERDICTS = ("shown", "accepted", "partial", "rejected", "dismissed")


@dataclass
class Offers:
    """The current suggestion of each document (at most one: a newer one replaces it, as the
    edge ends the older one ``dismissed`` itself)."""

    _current: dict[str, EditSuggestion] = field(default_factory=dict)

    def offered(self, suggestion: EditSuggestion, version: int | None) -> str | None:
        """Keep ``suggestion`` if it is for the document's ``version`` (``None``: not open);
        returns the id of the one it replaces, if any."""
        if version is None or suggestion.version != version:
            return None
        old = self._current.get(suggestion.uri)
        self._current[suggestion.uri] = suggestion
        return old.suggestion_id if old is not None else None

    def current(self, uri: str, version: int) -> EditSuggestion | None:
        found = self._current.get(uri)
        return found if found is not None and found.version == version else None

    def changed(self, uri: str) -> EditSuggestion | None:
        """The document changed (or closed): its suggestion, now stale, is returned and forgotten."""
        return self._current.pop(uri, None)


def text_edits(text: str, suggestion: EditSuggestion, encoding: Encoding) -> list[types.TextEdit]:
    """The suggestion's changes against ``text`` (the version it is for), in document order."""
    starts = line_starts(text)
    return [types.TextEdit(lsp_range(text, starts, c.start, c.end, encoding), lf_only(c.text))
            for c in sorted(suggestion.changes, key=lambda c: c.start)]


def announcement(text: str, suggestion: EditSuggestion, editor_version: int | None,
                 encoding: Encoding) -> dict[str, Any]:
    """The ``codeAssistant/nextEdit`` params: what an editor package draws and applies."""
    edits = text_edits(text, suggestion, encoding)
    return {"suggestionId": suggestion.suggestion_id, "uri": suggestion.uri,
            "version": editor_version, "label": suggestion.label, "rule": suggestion.rule,
            "confidence": suggestion.confidence,
            "edits": [{"range": {"start": {"line": e.range.start.line,
                                           "character": e.range.start.character},
                                 "end": {"line": e.range.end.line,
                                         "character": e.range.end.character}},
                       "newText": e.new_text} for e in edits]}


def feedback_command(suggestion_id: str, kind: str) -> types.Command:
    return types.Command(title="Next edit feedback", command=FEEDBACK_COMMAND,
                         arguments=[{"suggestionId": suggestion_id, "kind": kind}])


def code_action(text: str, suggestion: EditSuggestion, editor_version: int | None,
                encoding: Encoding) -> types.CodeAction:
    """"Apply next edit": its edit is the whole suggestion at the editor's version (one undo
    step in the editors that apply a workspace edit as one), its command reports it accepted."""
    edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        types.OptionalVersionedTextDocumentIdentifier(uri=suggestion.uri, version=editor_version),
        list(text_edits(text, suggestion, encoding)))])
    return types.CodeAction(title=f"Code assistant: Apply next edit: {suggestion.label}"[:160],
                            kind=types.CodeActionKind.RefactorRewrite, is_preferred=True,
                            edit=edit, command=feedback_command(suggestion.suggestion_id,
                                                                "accepted"))
