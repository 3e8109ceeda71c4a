"""Repetition: the user added an argument to one call; the suggestion adds the same argument at the
same place to the other calls of that function that passed what this one passed before it.

By the syntax tree: the calls are those with the same callee text (``requests.get``,
``self.assertEqual``) and as many arguments as the edited call had, all positional or keyword
alike (the added one goes at the same index). Only an argument added whole: one edited, removed
or moved is another change (see the signature rule for a definition's side).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tree_sitter import Node

from next_edits.region import Region
from schemas.socket import TextEdit
from tasks.offsets import Offsets
from tasks.syntax import parse

RULE = "repeat"
_CALLS = frozenset({"call", "call_expression", "method_invocation"})
_ARGUMENT_LISTS = frozenset({"argument_list", "arguments"})
_SPREADS = frozenset({"list_splat", "dictionary_splat", "spread_element", "variadic_argument"})


@dataclass(frozen=True, slots=True)
class RepeatSuggestion:
    """The other calls' edits, on the later text, sorted and not overlapping."""

    label: str
    changes: tuple[TextEdit, ...]


def calls(root: Node, source: bytes) -> Iterator[tuple[str, Node]]:
    """(callee as written, argument list) of every call: everything before the arguments, a
    Java call's object included, spaces collapsed."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type not in _CALLS:
            continue
        arguments = node.child_by_field_name("arguments")
        if arguments is None or arguments.type not in _ARGUMENT_LISTS:
            continue
        if node.type == "method_invocation":
            start = node.start_byte
        else:
            callee = node.child_by_field_name("function")
            if callee is None:
                continue
            start = callee.start_byte
        yield " ".join(source[start:arguments.start_byte].decode("utf-8", "replace").split()), \
            arguments


def arguments_of(arguments: Node) -> list[Node]:
    return [child for child in arguments.named_children if child.type != "comment"]


def argument_text(node: Node) -> str:
    return " ".join((node.text or b"").decode("utf-8", "replace").split())


def _around(root: Node, source: bytes, start: int, end: int) -> tuple[str, Node] | None:
    """The innermost call whose argument list holds bytes ``start..end`` (inside its
    parentheses)."""
    best: tuple[str, Node] | None = None
    for callee, arguments in calls(root, source):
        if arguments.start_byte < start and end < arguments.end_byte \
                and (best is None or arguments.start_byte > best[1].start_byte):
            best = (callee, arguments)
    return best


def propagate_repeat(before: str, after: str, language: str, region: Region
                     ) -> RepeatSuggestion | None:
    """The other calls' side of an argument added to one call (see the module's docstring)."""
    if "(" not in after[max(0, region.start - 2000):region.start]:
        return None
    before_offsets, after_offsets = Offsets(before), Offsets(after)
    old_tree = parse(before, language, before_offsets)
    new_tree = parse(after, language, after_offsets)
    if old_tree is None or new_tree is None or new_tree.root_node.has_error:
        return None
    old_source, new_source = before.encode("utf-8"), after.encode("utf-8")
    old = _around(old_tree.root_node, old_source, before_offsets.to_byte(region.start),
                  before_offsets.to_byte(region.before_end))
    new = _around(new_tree.root_node, new_source, after_offsets.to_byte(region.start),
                  after_offsets.to_byte(region.after_end))
    if old is None or new is None or old[0] != new[0] \
            or old[1].start_byte != new[1].start_byte:
        return None
    callee = new[0]
    old_args = [argument_text(a) for a in arguments_of(old[1])]
    new_items = arguments_of(new[1])
    new_args = [argument_text(a) for a in new_items]
    if len(new_args) != len(old_args) + 1:
        return None
    index = next((i for i in range(len(old_args)) if old_args[i] != new_args[i]), len(old_args))
    if new_args[:index] + new_args[index + 1:] != old_args:
        return None
    added_node = new_items[index]
    added = after[after_offsets.from_byte(added_node.start_byte):
                  after_offsets.from_byte(added_node.end_byte)]
    if added_node.type in _SPREADS or "\n" in added:
        return None
    changes: list[TextEdit] = []
    for other_callee, arguments in calls(new_tree.root_node, new_source):
        if arguments.start_byte == new[1].start_byte or other_callee != callee:
            continue
        items = arguments_of(arguments)
        if len(items) != len(old_args) or any(i.type in _SPREADS for i in items) \
                or any(argument_text(i) == argument_text(added_node) for i in items):
            continue
        if not items:
            at = after_offsets.from_byte(arguments.start_byte) + 1
            changes.append(TextEdit(at, at, added))
        elif index < len(items):
            at = after_offsets.from_byte(items[index].start_byte)
            changes.append(TextEdit(at, at, f"{added}, "))
        else:
            at = after_offsets.from_byte(items[-1].end_byte)
            changes.append(TextEdit(at, at, f", {added}"))
    if not changes:
        return None
    count = len(changes)
    label = f"add `{added}` to {count} more call{'s' if count > 1 else ''} of `{callee}`"
    if len(label) > 200:
        label = f"add the argument to {count} more call{'s' if count > 1 else ''} of `{callee}`"
    return RepeatSuggestion(label, tuple(sorted(changes, key=lambda c: c.start)))
