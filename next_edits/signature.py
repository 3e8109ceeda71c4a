"""Signature propagation: the user removed a parameter from a function's definition, or
reordered its parameters; the suggestion does the same to the arguments of the calls of that
function in the document.

By the syntax tree. Only what follows for sure: a call whose arguments are all positional (no
keyword argument, no spread), matched to the function by its name alone where the document
defines only one function of that name, and passing every parameter (a call that passes fewer
may be updated already, or lean on defaults). A function's calls are its plain calls; a method
with an explicit receiver (``self``, ``cls``, Rust's ``self``) is called through the class's
own receiver (``self.area(w, h)``, the receiver not counted: another object's ``area`` may be
another class's, and ``Shape.area(s, w, h)`` passes the receiver itself); a method with an
implicit one (Java, JavaScript, C++) plainly or through ``this``. A parameter added, or one
whose name or type changed, is no signature change here: the calls' new arguments cannot be
known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tree_sitter import Node

from next_edits.region import Region
from schemas.socket import TextEdit
from tasks.offsets import Offsets
from tasks.rename import parameter_list
from tasks.structure import CLASSES, FUNCTIONS
from tasks.syntax import parse

RULE = "signature"
_CALLS = frozenset({"call", "call_expression", "method_invocation"})
_ARGUMENT_LISTS = frozenset({"argument_list", "arguments"})
#: Arguments that are not one positional value each.
_NOT_POSITIONAL = frozenset({"keyword_argument", "list_splat", "dictionary_splat",
                             "spread_element", "variadic_argument", "named_argument",
                             "parenthesized_expression_spread"})
#: Member accesses whose last part names a method.
_MEMBERS = {"attribute": "attribute", "member_expression": "property",
            "field_expression": "field", "selector_expression": "field"}
_RECEIVERS = frozenset({"self", "cls", "this"})
#: A call through one of these is a call of the enclosing class's own method.
_OWN_RECEIVERS = frozenset({b"self", b"cls", b"this", b"super()"})
_PUNCTUATION = frozenset({"(", ")", ",", "comment"})


@dataclass(frozen=True, slots=True)
class SignatureSuggestion:
    """The calls' edits, on the later text, sorted and not overlapping."""

    function: str
    label: str
    changes: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class Function:
    node: Node
    name: str
    parameters: tuple[str, ...]
    #: Parameters a call does not pass (an explicit receiver first).
    skipped: int
    #: Which calls are its: ``plain`` ``name(...)`` (a function), ``self`` ``self.name(...)``
    #: (a method with an explicit receiver: through its own receiver only, since another
    #: object's method of that name may be another class's, and ``Class.name(obj, ...)``
    #: passes the receiver itself), ``this`` ``name(...)`` or ``this.name(...)`` (a method with
    #: an implicit one).
    calls: str


def _items(node: Node) -> list[Node]:
    """The named children of a parameter or argument list, comments left out."""
    return [child for child in node.named_children if child.type != "comment"]


def _text(node: Node) -> str:
    return " ".join((node.text or b"").decode("utf-8", "replace").split())


def functions(root: Node) -> Iterator[Function]:
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type not in FUNCTIONS:
            continue
        params = parameter_list(node)
        name = _name(node)
        if params is None or name is None:
            continue
        items = _items(params)
        texts = tuple(_text(p) for p in items)
        method = _in_class(node)
        explicit = bool(items) and (items[0].type == "self_parameter" or (
            method and texts[0].split(":")[0].strip() in _RECEIVERS))
        calls = "self" if explicit else "this" if method else "plain"
        yield Function(node, name, texts, 1 if explicit else 0, calls)


def _in_class(node: Node) -> bool:
    current = node.parent
    while current is not None:
        if current.type in CLASSES or current.type in ("impl_item", "class_body"):
            return True
        if current.type in FUNCTIONS:
            return False
        current = current.parent
    return False


def _name(function: Node) -> str | None:
    current: Node | None = function
    while current is not None:
        if current.type in ("identifier", "field_identifier"):  # C's declarator is the name
            return (current.text or b"").decode("utf-8", "replace")
        name = current.child_by_field_name("name")
        if name is not None:
            return (name.text or b"").decode("utf-8", "replace")
        current = current.child_by_field_name("declarator")
    return None


def _around(functions: Sequence[Function], start: int, end: int) -> Function | None:
    """The function whose parameter list holds bytes ``start..end``."""
    for function in functions:
        params = parameter_list(function.node)
        if params is not None and params.start_byte <= start and end <= params.end_byte:
            return function
    return None


def parameter_change(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, int | list[int]] | None:
    """("removed", index) or ("reordered", new order as old indices), or ``None``."""
    if len(new) == len(old) - 1:
        for index in range(len(old)):
            if old[:index] + old[index + 1:] == new:
                return "removed", index
        return None
    if len(new) == len(old) and new != old and sorted(new) == sorted(old) \
            and len(set(old)) == len(old):
        return "reordered", [old.index(p) for p in new]
    return None


def _calls(root: Node, name: str, calls: str) -> Iterator[Node]:
    """The argument lists of the calls of ``name`` that are sure to be the function's (see
    :class:`Function`; a call through another object may be another class's method)."""
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type not in _CALLS:
            continue
        arguments = node.child_by_field_name("arguments")
        if arguments is None or arguments.type not in _ARGUMENT_LISTS:
            continue
        if node.type == "method_invocation":  # Java: an optional object, then the name
            called = node.child_by_field_name("name")
            target = node.child_by_field_name("object")
        else:
            callee = node.child_by_field_name("function")
            if callee is None:
                continue
            field = _MEMBERS.get(callee.type)
            called = callee.child_by_field_name(field) if field else callee
            target = (callee.child_by_field_name("object") or callee.child_by_field_name("value")
                      or callee.child_by_field_name("operand")) if field else None
        if called is None or (called.text or b"").decode("utf-8", "replace") != name:
            continue
        own = target is not None and (target.text or b"") in _OWN_RECEIVERS
        if (target is None and calls == "self") or (target is not None and not own) \
                or (own and calls == "plain"):
            continue
        yield arguments


#: After a definition's parameter list: its body or its return type (``):``, ``) -> int:``,
#: ``) {``, ``) int {``, ``) (string, bool) {``, ``) throws IOException {``, ``): number {``,
#: ``) -> u32 {``).
_STATEMENTS = frozenset({"if", "for", "while", "switch", "catch", "with", "elif", "match",
                         "foreach", "until", "return"})
_AFTER_DEFINITION = re.compile(r"\)\s*(?:->[^\n{:;]*)?[:{]|\)[\w\s\[\]*&<>,.:?|()]*\{")


def in_definition_parameters(text: str, at: int, reach: int = 2000) -> bool:
    """Whether ``at`` lies between the parentheses of what reads as a definition (an unclosed
    ``(`` before it whose ``)`` is followed by a body or a return type, with no ``=`` before it on
    its line): the cheap test that keeps every other pause, a call's arguments being typed
    among them, from parsing the document twice."""
    depth, opened = 0, -1
    for index in range(at - 1, max(-1, at - 1 - reach), -1):
        char = text[index]
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                opened = index
                break
            depth -= 1
    before = text[text.rfind("\n", 0, opened) + 1:opened]
    words = before.split()
    if opened < 0 or "=" in before or (words and words[-1] in _STATEMENTS):
        return False
    depth = 0
    for index in range(opened + 1, min(len(text), opened + 1 + reach)):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return _AFTER_DEFINITION.match(text, index, index + 200) is not None
            depth -= 1
    return False


def propagate_signature(before: str, after: str, language: str, region: Region
                        ) -> SignatureSuggestion | None:
    """The calls' side of a parameter removed or reordered at a definition (see the module's
    docstring), or ``None``."""
    if not in_definition_parameters(after, region.start):
        return None
    before_offsets, after_offsets = Offsets(before), Offsets(after)
    old_tree = parse(before, language, before_offsets)
    new_tree = parse(after, language, after_offsets)
    if old_tree is None or new_tree is None or new_tree.root_node.has_error:
        return None
    old_functions = list(functions(old_tree.root_node))
    new_functions = list(functions(new_tree.root_node))
    old = _around(old_functions, before_offsets.to_byte(region.start),
                  before_offsets.to_byte(region.before_end))
    new = _around(new_functions, after_offsets.to_byte(region.start),
                  after_offsets.to_byte(region.after_end))
    if old is None or new is None or old.name != new.name:
        return None
    if sum(f.name == new.name for f in new_functions) != 1:
        return None  # overloads, or a name defined twice: a call names which one?
    change = parameter_change(old.parameters[old.skipped:], new.parameters[new.skipped:])
    if change is None:
        return None
    kind, how = change
    changes: list[TextEdit] = []
    calls = 0
    for arguments in _calls(new_tree.root_node, new.name, new.calls):
        items = _items(arguments)
        if any(item.type in _NOT_POSITIONAL for item in items):
            continue
        pieces = _edit(after, after_offsets, items, kind, how,
                       len(old.parameters) - old.skipped)
        if pieces:
            calls += 1
            changes.extend(pieces)
    if not changes:
        return None
    what = "remove the argument from" if kind == "removed" else "reorder the arguments of"
    label = f"{what} {calls} call{'s' if calls > 1 else ''} of `{new.name}`"
    return SignatureSuggestion(new.name, label, tuple(sorted(changes, key=lambda c: c.start)))


def _edit(text: str, offsets: Offsets, items: list[Node], kind: str, how: int | list[int],
          count: int) -> list[TextEdit]:
    spans = [(offsets.from_byte(i.start_byte), offsets.from_byte(i.end_byte)) for i in items]
    if len(items) != count:
        # Fewer: updated already, or leaning on defaults; more: variadic. Which is unknown.
        return []
    if kind == "removed":
        assert isinstance(how, int)
        if how + 1 < len(items):
            return [TextEdit(spans[how][0], spans[how + 1][0], "")]
        if how == 0:
            return [TextEdit(spans[0][0], spans[0][1], "")]
        return [TextEdit(spans[how - 1][1], spans[how][1], "")]
    assert isinstance(how, list)
    texts = [text[s:e] for s, e in spans]
    return [TextEdit(spans[slot][0], spans[slot][1], texts[source])
            for slot, source in enumerate(how) if source != slot]
