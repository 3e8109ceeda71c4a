"""A completion answer as LSP items: inline (ghost text, LSP 3.18) and classic completion items.

Pure. Both kinds carry the ``codeAssistant.feedback`` command, which an editor runs when the user
accepts the item (as Copilot's and Tabby's clients do), so acceptance reaches analytics from any
editor. A classic completion item replaces the word being typed with that word plus the
suggestion, so clients that filter items by the word before the cursor keep it. Line breaks in
the text are ``\\n`` whatever the document's: editors hold lines without their ends and insert
``\\r`` literally (Neovim, Emacs) or normalise (VS Code).
"""

from __future__ import annotations

from lsprotocol import types

from ide.positions import Encoding, Position, line_starts, position_of

FEEDBACK_COMMAND = "codeAssistant.feedback"


def lf_only(text: str) -> str:
    """``text`` with its line breaks (``\\r\\n``, ``\\r``) as ``\\n``: the model continues a CRLF
    document with ``\\r\\n``, which editors would insert with a literal ``\\r``. A final lone
    ``\\r`` is half a line break whose ``\\n`` the model's line rules cut off (``"mit):\\r"`` where an
    LF document gets ``"mit):"``, or the edge's offsets end inside the document's CRLF, which
    LSP puts at the line's end): it is dropped, not turned into a line."""
    return text.removesuffix("\r").replace("\r\n", "\n").replace("\r", "\n")


def word_start(text: str, offset: int) -> int:
    """Where the identifier that ends at ``offset`` begins (``offset`` itself if none does)."""
    start = offset
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


def accept_command(request_id: str) -> types.Command:
    return types.Command(title="Accept suggestion", command=FEEDBACK_COMMAND,
                         arguments=[{"requestId": request_id, "kind": "accepted"}])


def lsp_position(position: Position) -> types.Position:
    return types.Position(position.line, position.character)


def inline_items(suggestion: str, request_id: str, position: Position) -> types.InlineCompletionList:
    """Ghost text at the cursor (nothing when the model has nothing to show); ``position`` as
    the text has it (see :func:`completion_items`)."""
    suggestion = lf_only(suggestion)
    if not suggestion:
        return types.InlineCompletionList(items=[])
    here = types.Position(position.line, position.character)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(
        insert_text=suggestion, range=types.Range(here, here), command=accept_command(request_id))])


def completion_items(suggestion: str, request_id: str, text: str, offset: int,
                     encoding: Encoding) -> types.CompletionList:
    """One completion item whose edit turns the word before the cursor into word + suggestion.
    Its range is computed from the text, not taken from the request: a cursor past the line's
    end (which LSP reads as the end) must not become a range past it."""
    suggestion = lf_only(suggestion)
    if not suggestion:
        return types.CompletionList(is_incomplete=True, items=[])
    start = word_start(text, offset)
    word = text[start:offset]
    starts = line_starts(text)
    first = lsp_position(position_of(text, starts, start, encoding))
    here = lsp_position(position_of(text, starts, offset, encoding))
    label = (word + suggestion).strip().splitlines()[0] if (word + suggestion).strip() else suggestion
    return types.CompletionList(is_incomplete=True, items=[types.CompletionItem(
        label=label[:80], kind=types.CompletionItemKind.Text, detail="code assistant",
        filter_text=word + suggestion, sort_text="0",
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(types.Range(first, here), word + suggestion),
        command=accept_command(request_id))])
