"""Syntax errors of any language tree-sitter parses, as findings (with a fix where the parser
knows the missing token)."""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node, Tree

from schemas.socket import TextEdit
from schemas.tasks import TaskFinding
from tasks.grammars import NO_SYNTAX_ERRORS, parser
from tasks.offsets import Offsets

#: Errors reported per document at most (one broken bracket can make hundreds).
MAX_SYNTAX_ERRORS = 20


def parse(text: str, language_id: str, offsets: Offsets | None = None) -> Tree | None:
    """The syntax tree of ``text``, or ``None`` when no grammar covers the language."""
    found = parser(language_id)
    if found is None:
        return None
    data = offsets.data if offsets is not None else text.encode("utf-8")
    return found.parse(data)


def _problems(root: Node) -> Iterator[Node]:
    """ERROR and MISSING nodes in document order, outermost first; an ERROR's insides are not
    searched again."""
    stack = [root] if root.has_error else []
    while stack:
        deeper = []
        for child in stack.pop().children:
            if child.is_missing or child.type == "ERROR":
                yield child
            elif child.has_error:
                deeper.append(child)
        stack.extend(reversed(deeper))


def syntax_findings(text: str, language_id: str, offsets: Offsets | None = None
                    ) -> list[TaskFinding]:
    """One finding per syntax error tree-sitter recovered from (none for languages in
    :data:`~tasks.grammars.NO_SYNTAX_ERRORS`)."""
    if language_id in NO_SYNTAX_ERRORS:
        return []
    offsets = offsets or Offsets(text)
    tree = parse(text, language_id, offsets)
    if tree is None or not tree.root_node.has_error:
        return []
    findings: list[TaskFinding] = []
    root = tree.root_node
    candidates = [root] if root.type == "ERROR" else list(_problems(root))
    for node in candidates[:MAX_SYNTAX_ERRORS]:
        start = offsets.from_byte(node.start_byte)
        end = offsets.from_byte(node.end_byte)
        if node.is_missing:
            token = node.type
            findings.append(TaskFinding(start, end, "error", "syntax/missing",
                                        f"missing `{token}`",
                                        (TextEdit(start, start, token),)))
            continue
        if end <= start:
            end = min(len(text), start + 1)
        line = offsets.line_of(start) + 1
        snippet_end = min(end, text.find("\n", start) if "\n" in text[start:end] else end)
        what = "unexpected input" if snippet_end > start else "syntax error"
        findings.append(TaskFinding(start, end, "error", "syntax/error",
                                    f"{what}: the {language_id} parser cannot read this "
                                    f"(from line {line})"))
    return findings
