"""Checks the analyzers here do not make, over the tree-sitter parse, kept only where precise:

- **swapped arguments**: a call of a function defined in the same document whose arguments are
  plain names, two of them each named as the other's parameter (``area(height, width)`` for
  ``def area(width, height)``);
- **a repeated condition** in an ``if`` / ``elif`` / ``else if`` chain: the later branch can never
  run (conditions that call anything are left alone: a call may answer differently each time);
- **a loop past the end**: ``for i in range(len(xs) + 1)`` or ``i <= xs.length`` /
  ``i <= len(xs)`` / ``i <= xs.size()`` as a loop's bound, with ``xs[i]`` in its body.

Each finding is a ``warning`` with a ``semantic/...`` rule; docs/TASKS.md gives each rule's
precision measured on held-out code. Pure: text in, diagnostics out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

from tasks.offsets import Offsets
from tasks.ruff import Diagnostic
from tasks.structure import CALLS, FUNCTIONS, signatures
from tasks.syntax import parse

#: Languages the checks are written and measured for.
CHECKED = frozenset({"python", "javascript", "javascriptreact", "typescript", "typescriptreact",
                     "go", "java", "c", "cpp", "rust"})
#: Where reading past the end gives ``undefined`` (often a deliberate sentinel), not a crash.
UNDEFINED_PAST_THE_END = frozenset({"javascript", "javascriptreact", "typescript",
                                    "typescriptreact"})
_IF = frozenset({"if_statement", "if_expression"})
_ALTERNATIVES = frozenset({"elif_clause", "else_clause", "if_statement", "if_expression"})
_SUBSCRIPTS = frozenset({"subscript", "subscript_expression", "index_expression",
                         "array_access", "element_reference"})
_LOOPS = frozenset({"for_statement", "for_expression"})
#: A loop bound one past the last index: `len(xs) + 1`, `i <= xs.length`, `i <= len(xs)`.
_RANGE_PAST_END = re.compile(r"^range\(\s*(?:0\s*,\s*)?len\((\w+)\)\s*\+\s*1\s*\)$")
_BOUND_PAST_END = re.compile(
    r"^(\w+)\s*<=\s*(?:len\((\w+)\)|(\w+)\.(?:length|size\(\)|len\(\)|Length|Count))$")


def _text(node: Node, offsets: Offsets) -> str:
    return offsets.text[offsets.from_byte(node.start_byte):offsets.from_byte(node.end_byte)]


def _walk(root: Node) -> Iterator[Node]:
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.named_children))


#: Test files call with deliberate orders (commutativity, reversed operands): no swap check.
_TEST_FILE = re.compile(r"(^|/)(tests?|testdata|__tests__)/|_test\.go$|(^|/)test_[^/]*\.py$|"
                        r"_test\.py$|\.(test|spec)\.[jt]sx?$|Tests?\.java$")


def semantic_findings(text: str, language: str, uri: str = "") -> list[Diagnostic]:
    """The findings of the three checks in ``text`` (none for a language not in
    :data:`CHECKED`, or one tree-sitter cannot parse); ``uri`` tells a test file."""
    if language not in CHECKED:
        return []
    in_tests = bool(_TEST_FILE.search(uri))
    offsets = Offsets(text)
    tree = parse(text, language, offsets)
    if tree is None:
        return []
    parameters = _parameters(tree.root_node, offsets)
    found: list[Diagnostic] = []
    chains_seen: set[int] = set()
    for node in _walk(tree.root_node):
        if node.type in CALLS and not in_tests:
            found.extend(_swapped(node, parameters, offsets))
        elif node.type in _IF and node.id not in chains_seen:
            found.extend(_repeated_condition(node, chains_seen, offsets))
        elif node.type in _LOOPS and language not in UNDEFINED_PAST_THE_END:
            found.extend(_past_the_end(node, offsets))
    return sorted(found, key=lambda d: (d.start, d.rule))


def _parameters(root: Node, offsets: Offsets) -> dict[str, tuple[str, ...] | None]:
    """Each function's parameter names, by name (``None`` where two definitions share one:
    which one a call means is not known)."""
    found: dict[str, tuple[str, ...] | None] = {}
    for name, parameters in signatures(root, offsets):
        if not name:
            continue
        names = tuple(p.name for p in parameters)
        if any(not re.fullmatch(r"\w+", n) for n in names):
            names = ()  # `*args`, patterns: positions are not plain
        found[name] = None if name in found else names
    return found


def _callee(call: Node, offsets: Offsets) -> str:
    callee = call.child_by_field_name("function") or call.child_by_field_name("name")
    return _text(callee, offsets).removeprefix("self.").removeprefix("this.") if callee else ""


def _argument_names(call: Node, offsets: Offsets) -> list[str | None] | None:
    """Each positional argument's name where it is a plain name (``None`` for any other
    expression); ``None`` for a call with keyword or spread arguments."""
    arguments = call.child_by_field_name("arguments")
    if arguments is None:
        return None
    args = arguments.named_children
    if any(a.type in ("keyword_argument", "list_splat", "dictionary_splat", "spread_element")
           for a in args):
        return None  # by keyword or spread: positions are not what they seem
    return [_text(a, offsets) if a.type == "identifier" else None for a in args]


def _header(function: Node, offsets: Offsets) -> str:
    """A function's text before its body: its name and parameters."""
    body = function.child_by_field_name("body")
    end = body.start_byte if body is not None else function.end_byte
    return offsets.text[offsets.from_byte(function.start_byte):offsets.from_byte(end)]


def _enclosing(node: Node) -> Node | None:
    """The function a node is in."""
    current = node.parent
    while current is not None and current.type not in FUNCTIONS:
        current = current.parent
    return current


def _swapped(call: Node, parameters: dict[str, tuple[str, ...] | None],
             offsets: Offsets) -> Iterator[Diagnostic]:
    """Deliberate orders are left alone: the caller passing its own parameters reversed
    (``rcompare(a, b)`` calling ``compare(b, a)``), a call made both ways in one function
    (``similar(x, y) and similar(y, x)``), a function calling itself or one of its name."""
    name = _callee(call, offsets)
    if call.type == "method_invocation" and call.child_by_field_name("object") is not None:
        return  # another object's method
    params = parameters.get(name)
    if not params:
        return
    caller = _enclosing(call)
    if caller is not None and re.search(rf"\b{re.escape(name)}\b", _header(caller, offsets)):
        return  # the function calling itself, or a method calling the function of its name
    own = set(re.findall(r"\w+", _header(caller, offsets))) if caller is not None else set()
    names = _argument_names(call, offsets)
    if names is None:
        return
    displaced = [i for i, n in enumerate(names[:len(params)])
                 if n is not None and n != params[i] and n in params]
    if len(displaced) != 2:
        return  # none, or a rotation of many (`round(e, f, g, h, a, b, c, d)`): deliberate
    i, j = displaced
    first, second = names[i], names[j]
    if first is None or second is None or first != params[j] or second != params[i] or \
            {first, second} <= own:
        return
    straight = [*names[:i], second, *names[i + 1:j], first, *names[j + 1:]]
    if caller is not None and any(
            _argument_names(other, offsets) == straight for other in _walk(caller)
            if other.type in CALLS and other is not call and _callee(other, offsets) == name):
        return  # made both ways: `similar(x, y) and similar(y, x)`
    arguments = call.child_by_field_name("arguments")
    assert arguments is not None  # `_argument_names` read them
    args = arguments.named_children
    yield Diagnostic("semantic/swapped-arguments",
                     f"`{first}` and `{second}` are passed to `{name}`'s parameters "
                     f"`{params[i]}` and `{params[j]}`: swapped?",
                     offsets.from_byte(args[i].start_byte), offsets.from_byte(args[j].end_byte),
                     "warning")


def _chain(node: Node) -> Iterator[tuple[Node, str]]:
    """An ``if``'s conditions, then its ``elif`` / ``else if`` ones, in order, each with what
    runs before it (Go's ``if v, ok := f(); ok``: the same ``ok`` after another statement is
    another condition)."""
    current: Node | None = node
    while current is not None:
        condition = current.child_by_field_name("condition")
        initializer = current.child_by_field_name("initializer")
        if condition is not None:
            yield condition, "" if initializer is None else f"{initializer.id}"
        following = None
        for alternative in current.children_by_field_name("alternative"):
            if alternative.type == "elif_clause":
                condition = alternative.child_by_field_name("condition")
                if condition is not None:
                    yield condition, ""
            elif alternative.type in _IF:
                following = alternative
            elif alternative.type == "else_clause":
                following = next((c for c in alternative.named_children if c.type in _IF), None)
        current = following


def _repeated_condition(node: Node, seen: set[int], offsets: Offsets) -> Iterator[Diagnostic]:
    first_at: dict[str, Node] = {}
    for condition, before in _chain(node):
        if condition.parent is not None:
            seen.add(condition.parent.id)
        said = before + re.sub(r"\s+", " ", _text(condition, offsets)).strip().strip("()").strip()
        if any(n.type in CALLS for n in _walk(condition)):
            continue  # a call may answer differently the second time
        if said in first_at:
            line = offsets.line_of(offsets.from_byte(first_at[said].start_byte)) + 1
            yield Diagnostic("semantic/repeated-condition",
                             f"the same condition as on line {line}: this branch never runs",
                             offsets.from_byte(condition.start_byte),
                             offsets.from_byte(condition.end_byte), "warning")
        else:
            first_at[said] = condition


def _past_the_end(loop: Node, offsets: Offsets) -> Iterator[Diagnostic]:
    body = loop.child_by_field_name("body")
    if body is None:
        return
    collection = index = None
    bound = loop.child_by_field_name("right")  # Python: `for i in range(len(xs) + 1)`
    if loop.type == "for_statement" and bound is not None:
        target = loop.child_by_field_name("left")
        match = _RANGE_PAST_END.match(re.sub(r"\s+", " ", _text(bound, offsets)))
        if match and target is not None and target.type == "identifier":
            collection, index = match.group(1), _text(target, offsets)
    else:
        clause = next((c for c in loop.named_children if c.type == "for_clause"), loop)
        bound = clause.child_by_field_name("condition")
        if bound is not None:
            match = _BOUND_PAST_END.match(re.sub(r"\s+", " ", _text(bound, offsets)))
            if match:
                index, collection = match.group(1), match.group(2) or match.group(3)
    if not collection or not index or bound is None:
        return
    guard = rf"\b{re.escape(index)}\s*(?:==|>=|<|!=)\s*(?:len\(\s*{re.escape(collection)}\s*\)|" \
        rf"{re.escape(collection)}\.(?:length|size\(\)|len\(\)))"
    if re.search(guard, _text(body, offsets)):
        return  # `if i == len(xs) || xs[i] ...`: the end is handled
    for node in _walk(body):
        if node.type in _SUBSCRIPTS and re.fullmatch(
                rf"{re.escape(collection)}\s*\[\s*{re.escape(index)}\s*\]", _text(node, offsets)):
            yield Diagnostic("semantic/past-the-end",
                             f"`{collection}[{index}]` in a loop whose last `{index}` is "
                             f"`{collection}`'s length: one past its last element",
                             offsets.from_byte(bound.start_byte), offsets.from_byte(bound.end_byte),
                             "warning")
            return
