"""Rename propagation: the user renamed an identifier where it is declared (a parameter, an
assignment's target, a loop variable, a function's or class's name); the suggestion renames the
other uses in the same scope, by the syntax tree (the function that
declares it, else the document; attributes, keyword arguments, strings and comments with the
same spelling stay), as the refactoring ``rename`` does (tasks/rename.py).

Not suggested when the new word is no identifier in the later text (a keyword, an unfinished
edit), nor for an edit of a use: replayed on real commits, replacing one use of a name was
mostly choosing another name there (a module alias, another method, another constant), the
other uses staying (``python -m evaluation.next_edits``; docs/NEXT_EDITS.md). Nor while the user
may still be typing the name (the new name extends the old one,
or the old extends the new: ``c`` -> ``co`` -> ``count``), when the new name is already used in
that scope (then the edit chose another variable, it renamed nothing), or when no other use is
left.
"""

from __future__ import annotations

from dataclasses import dataclass

from next_edits.region import Region, Replaced
from schemas.socket import TextEdit
from tasks.offsets import Offsets
from tasks.rename import RENAMABLE, declares, rename
from tasks.syntax import parse

RULE = "rename"
def _identifier_at(text: str, language: str, start: int, declaration: bool) -> bool:
    """Whether an identifier (where its name is declared, if ``declaration``) starts at
    ``start`` of ``text``."""
    offsets = Offsets(text)
    tree = parse(text, language, offsets)
    if tree is None:
        return False
    node = tree.root_node.named_descendant_for_byte_range(offsets.to_byte(start),
                                                           offsets.to_byte(start) + 1)
    return (node is not None and node.type in RENAMABLE
            and (not declaration or declares(node)))


@dataclass(frozen=True, slots=True)
class RenameSuggestion:
    """The other uses' edits, on the later text, sorted and not overlapping."""

    old: str
    new: str
    changes: tuple[TextEdit, ...]


def propagate_rename(before: str, after: str, language: str, region: Region,
                     replaced: Replaced) -> RenameSuggestion | None:
    """The rest of the rename ``replaced`` begun in ``before`` (now ``after``; see the module's
    docstring)."""
    old, new = replaced.old, replaced.new
    if new.startswith(old) or old.startswith(new):
        return None
    if not _identifier_at(before, language, replaced.start, declaration=True):
        return None
    if not _identifier_at(after, language, replaced.start, declaration=False):
        return None  # a keyword now (``x := f()`` -> ``var x = f()``), or text being typed
    edit = rename(before, language, replaced.start, new)
    if edit is None:
        return None
    own_end = replaced.start + len(old)
    changes = []
    for change in edit.edits:
        if change.start <= replaced.start < change.end or replaced.start <= change.start < own_end:
            continue  # the use the user renamed
        if change.start >= region.before_end:
            change = TextEdit(change.start + region.delta, change.end + region.delta, change.text)
        elif change.end > region.start:
            return None  # overlaps the user's change: the texts do not line up
        changes.append(change)
    if not changes:
        return None
    return RenameSuggestion(old, new, tuple(sorted(changes, key=lambda c: c.start)))
