"""A completion answer as LSP items: inline (ghost text, LSP 3.18) and classic completion items.

Pure. Both kinds carry the ``codeAssistant.feedback`` command, which an editor runs when the user
accepts the item (as Copilot's and Tabby's clients do), so acceptance reaches analytics from any
editor. A classic completion item replaces the word being typed with that word plus the
suggestion, so clients that filter items by the word before the cursor keep it.
"""

from __future__ import annotations

from lsprotocol import types

from ide.positions import Encoding, Position, units

FEEDBACK_COMMAND = "codeAssistant.feedback"


def word_start(text: str, offset: int) -> int:
    """Where the identifier that ends at ``offset`` begins (``offset`` itself if none does)."""
    start = offset
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


def accept_command(request_id: str) -> types.Command:
    return types.Command(title="Accept suggestion", command=FEEDBACK_COMMAND,
                         arguments=[{"requestId": request_id, "kind": "accepted"}])


def inline_items(suggestion: str, request_id: str, position: Position) -> types.InlineCompletionList:
    """Ghost text at the cursor (nothing when the model has nothing to show)."""
    if not suggestion:
        return types.InlineCompletionList(items=[])
    here = types.Position(position.line, position.character)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(
        insert_text=suggestion, range=types.Range(here, here), command=accept_command(request_id))])


def completion_items(suggestion: str, request_id: str, text: str, offset: int, position: Position,
                     encoding: Encoding) -> types.CompletionList:
    """One completion item whose edit turns the word before the cursor into word + suggestion."""
    if not suggestion:
        return types.CompletionList(is_incomplete=True, items=[])
    start = word_start(text, offset)
    word = text[start:offset]
    first = types.Position(position.line, position.character - sum(units(c, encoding) for c in word))
    here = types.Position(position.line, position.character)
    label = (word + suggestion).strip().splitlines()[0] if (word + suggestion).strip() else suggestion
    return types.CompletionList(is_incomplete=True, items=[types.CompletionItem(
        label=label[:80], kind=types.CompletionItemKind.Text, detail="code assistant",
        filter_text=word + suggestion, sort_text="0",
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(types.Range(first, here), word + suggestion),
        command=accept_command(request_id))])
