"""What a piece of code defines, read from its tree-sitter tree with one generic walk.

Grammars name their nodes differently but their fields alike (``name``, ``parameters``,
``body``, ``return_type`` / ``result`` / ``returns`` / ``type``), so one reader covers functions
and classes of every language whose grammar uses these fields: Python, JavaScript, TypeScript,
Java, C, C++, C#, Go, Rust, Ruby, PHP, Kotlin, Swift, Scala and more (docs/TASKS.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from tree_sitter import Node

from tasks.offsets import Offsets
from tasks.syntax import parse

FUNCTIONS = frozenset({
    "function_definition", "function_declaration", "method_definition", "method_declaration",
    "function_item", "constructor_declaration", "method", "singleton_method", "arrow_function",
    "function_expression", "generator_function_declaration", "function_signature_item",
    "local_function_statement", "function", "fun_declaration", "secondary_constructor",
})
CLASSES = frozenset({
    "class_definition", "class_declaration", "struct_item", "enum_item", "trait_item",
    "interface_declaration", "class", "module", "struct_specifier", "class_specifier",
    "object_declaration", "record_declaration", "enum_declaration", "type_spec",
})
LOOPS = frozenset({
    "for_statement", "while_statement", "for_in_statement", "for_of_statement",
    "enhanced_for_statement", "do_statement", "loop_expression", "for_expression",
    "while_expression", "for_range_loop", "foreach_statement", "until", "while", "for",
    "list_comprehension", "generator_expression", "set_comprehension", "dictionary_comprehension",
})
BRANCHES = frozenset({
    "if_statement", "elif_clause", "if_expression", "conditional_expression",
    "ternary_expression", "switch_statement", "switch_expression", "match_statement",
    "match_expression", "case_clause", "match_arm", "expression_case", "switch_case", "if",
    "elsif", "unless", "catch_clause", "except_clause",
})
RAISES = frozenset({"raise_statement", "throw_statement", "throw_expression"})
RETURNS = frozenset({"return_statement", "return_expression", "return"})
CALLS = frozenset({"call", "call_expression", "method_invocation", "invocation_expression",
                   "function_call_expression", "member_call_expression", "macro_invocation"})
_IDENTIFIERS = frozenset({"identifier", "field_identifier", "property_identifier",
                          "type_identifier", "simple_identifier", "constant", "name",
                          "qualified_identifier", "variable_name"})


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str | None
    default: str | None


@dataclass(frozen=True, slots=True)
class Definition:
    """A function or class: where it is, what it takes and returns, what its body does."""

    kind: Literal["function", "class"]
    name: str
    parameters: tuple[Parameter, ...]
    returns: str | None
    #: Code points: the whole definition, where its body starts, its first line's indentation.
    start: int
    end: int
    body_start: int
    indent: str
    docstring: str | None
    raises: tuple[str, ...]
    calls: tuple[str, ...]
    loop_depth: int
    branches: int
    return_values: tuple[str, ...]
    recursive: bool
    #: The definitions it contains (a class's methods).
    members: tuple[Definition, ...] = ()
    #: It has a loop whose number of turns its shape does not show (a ``while``, a ``for``
    #: that does not step by one over a range or a collection): no cost can be read from it.
    opaque_loops: bool = False


def _text(node: Node | None, offsets: Offsets) -> str:
    if node is None:
        return ""
    return offsets.text[offsets.from_byte(node.start_byte):offsets.from_byte(node.end_byte)]


def _identifier(node: Node | None, offsets: Offsets) -> str:
    """The name a node declares: itself, its ``name`` / ``declarator`` / ``pattern`` / ``left``,
    or its first identifier."""
    seen = 0
    while node is not None and seen < 8:
        seen += 1
        if node.type in _IDENTIFIERS:
            inner = node.child_by_field_name("name")
            return _text(inner or node, offsets)
        nxt = None
        for field in ("name", "declarator", "pattern", "left"):
            nxt = node.child_by_field_name(field)
            if nxt is not None:
                break
        if nxt is None:
            nxt = next((c for c in node.named_children if c.type in _IDENTIFIERS), None)
        node = nxt
    return ""


def _parameters_node(node: Node) -> Node | None:
    found = node.child_by_field_name("parameters")
    if found is not None:
        return found
    declarator = node.child_by_field_name("declarator")
    while declarator is not None:  # C and C++: the parameters hang off the declarator
        found = declarator.child_by_field_name("parameters")
        if found is not None:
            return found
        declarator = declarator.child_by_field_name("declarator")
    return next((c for c in node.named_children if "parameters" in c.type), None)


def _parameter(node: Node, offsets: Offsets) -> Parameter | None:
    if node.type in ("comment", "line_comment", "block_comment", "self", "this"):
        return None
    text = _text(node, offsets)
    name = _identifier(node, offsets) or text.lstrip("*&").split(":")[0].split("=")[0].strip()
    if not name or name in ("self", "cls", "this"):
        return None
    type_node = node.child_by_field_name("type")
    type_text = _text(type_node, offsets).lstrip(":").strip() or None
    if type_text is None and node.type == "typed_parameter":
        type_text = _text(node.named_children[-1], offsets) or None
    default_node = (node.child_by_field_name("value") or node.child_by_field_name("default_value")
                    or node.child_by_field_name("right"))
    if node.type in ("list_splat_pattern", "dictionary_splat_pattern"):
        name = text
    default = _text(default_node, offsets) or None
    if node.type == "optional_parameter" and default is None:
        default = "undefined"  # TypeScript's `x?: T`: may be left out
    return Parameter(name, type_text, default)


def _parameters(node: Node, offsets: Offsets) -> list[Parameter | None]:
    """One parameter node's parameters: Go declares several with one type (``a, b int``)."""
    names = node.children_by_field_name("name") if node.type == "parameter_declaration" else []
    if len(names) > 1:
        type_text = _text(node.child_by_field_name("type"), offsets) or None
        return [Parameter(_text(n, offsets), type_text, None) for n in names]
    return [_parameter(node, offsets)]


def own_calls(name: str) -> tuple[str, ...]:
    """The spellings of a call to ``name`` on the object or class defining it (``self.name``),
    besides the bare name: a call on another object (``other.name``) may be anything's."""
    return (f"self.{name}", f"this.{name}", f"cls.{name}", f"Self::{name}", f"self::{name}",
            f"static::{name}")


def _name(node: Node, offsets: Offsets) -> str:
    name = node.child_by_field_name("name")
    if name is not None:
        return _text(name, offsets)
    if node.type in ("arrow_function", "function_expression", "function"):
        parent = node.parent
        if parent is not None and parent.type in ("variable_declarator", "pair", "assignment"):
            return _identifier(parent.child_by_field_name("name")
                               or parent.child_by_field_name("key")
                               or parent.child_by_field_name("left"), offsets)
        return ""
    return _identifier(node.child_by_field_name("declarator") or node, offsets)


#: A Python string literal's prefix and quotes, at either end.
_STRING_QUOTES = re.compile(r"^[rRbBuUfF]*(\"\"\"|'\'\'|\"|')|(\"\"\"|'\'\'|\"|')$")


def _python_docstring(body: Node | None, offsets: Offsets) -> str | None:
    if body is None or not body.named_children:
        return None
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children:
        first = first.named_children[0]
    if first.type == "string":
        return _STRING_QUOTES.sub("", _text(first, offsets)).strip()
    return None


#: Nodes that wrap a definition: its doc comment sits above them.
_WRAPPERS = frozenset({"export_statement", "lexical_declaration", "variable_declaration",
                       "variable_declarator", "decorated_definition", "template_declaration"})
#: Siblings that may stand between a doc comment and its definition.
_ATTRIBUTES = frozenset({"attribute_item", "decorator", "annotation", "marker_annotation",
                         "attribute_list"})


def _comment_before(node: Node, offsets: Offsets) -> str | None:
    """The doc comment right above a definition (JSDoc, Javadoc, ``///``, ``//``, ``#``),
    looking past what wraps it (``export``, ``const f =``) and its attributes."""
    while node.parent is not None and node.parent.type in _WRAPPERS:
        node = node.parent
    previous = node.prev_named_sibling
    while previous is not None and previous.type in _ATTRIBUTES:
        node, previous = previous, previous.prev_named_sibling
    lines: list[str] = []
    # Line comments (`//`, `///`, `#`) are a node each: the comment is the run of them that
    # ends on the line above the definition, each on the line above the next.
    while previous is not None and "comment" in previous.type and \
            offsets.line_of(offsets.from_byte(node.start_byte)) - \
            offsets.line_of(offsets.from_byte(previous.end_byte)) <= 1:
        lines.insert(0, _text(previous, offsets))
        node, previous = previous, previous.prev_named_sibling
        if lines[0].lstrip().startswith("/*"):
            break  # a block comment is whole
    return "\n".join(lines) or None


#: Loops over a collection or iterator: one turn per element.
_EACH = frozenset({"for_in_statement", "for_of_statement", "enhanced_for_statement",
                   "for_range_loop", "foreach_statement", "for_expression", "for",
                   "list_comprehension", "generator_expression", "set_comprehension",
                   "dictionary_comprehension"})
_STEP_BY_ONE = re.compile(r"^\s*(?:\+\+\s*\w+|\w+\s*\+\+|--\s*\w+|\w+\s*--|\w+\s*[+-]=\s*1)\s*$")


def _evident_loop(node: Node, offsets: Offsets) -> bool:
    """Whether a loop's number of turns shows in its shape: one per element of what it walks,
    or a counter stepped by one (``i++``, ``i += 1``). A ``while`` (a binary search's halving, a
    queue drained) shows nothing."""
    if node.type in _EACH:
        return True
    if node.type != "for_statement":
        return False
    if node.child_by_field_name("left") is not None:  # Python: for x in xs
        return True
    clauses = [c for c in node.named_children if c.type in ("range_clause", "for_clause")]
    if clauses and clauses[0].type == "range_clause":  # Go: for i, x := range xs
        return True
    holder = clauses[0] if clauses else node
    update = (holder.child_by_field_name("update") or holder.child_by_field_name("increment"))
    return update is not None and bool(_STEP_BY_ONE.match(_text(update, offsets)))


def _walk(body: Node, facts: dict[str, list[str]], loops: list[int], offsets: Offsets) -> None:
    """Collect what a body does: branches, raises, returns, calls, and each loop's depth."""
    stack: list[tuple[Node, int]] = [(child, 0) for child in reversed(body.named_children)]
    while stack:
        child, depth = stack.pop()
        kind = child.type
        if kind in FUNCTIONS or kind in CLASSES:
            continue  # a nested definition's body is its own
        child_depth = depth + (1 if kind in LOOPS else 0)
        if kind in LOOPS:
            loops.append(child_depth)
            if not _evident_loop(child, offsets):
                facts["opaque"].append(kind)
        elif kind in BRANCHES:
            facts["branches"].append(kind)
        elif kind in RAISES:
            thrown = child.named_children[0] if child.named_children else None
            if thrown is not None and thrown.type in ("call", "new_expression",
                                                       "object_creation_expression"):
                thrown = (thrown.child_by_field_name("function")
                          or thrown.child_by_field_name("constructor")
                          or thrown.child_by_field_name("type") or thrown)
            facts["raises"].append(_text(thrown, offsets) if thrown is not None else "")
        elif kind in RETURNS:
            value = child.named_children[0] if child.named_children else None
            facts["returns"].append(_text(value, offsets) if value is not None else "")
        elif kind in CALLS:
            callee = (child.child_by_field_name("function") or child.child_by_field_name("name")
                      or child.child_by_field_name("macro")
                      or (child.named_children[0] if child.named_children else None))
            called = _text(callee, offsets)
            if child.type == "method_invocation":  # Java: `obj.name(...)`, or `name(...)`
                receiver = child.child_by_field_name("object")
                called = _text(child.child_by_field_name("name"), offsets)
                if receiver is not None:
                    called = f"{_text(receiver, offsets)}.{called}"
            if called and len(called) <= 80 and "\n" not in called:
                facts["calls"].append(called)
        stack.extend((grandchild, child_depth) for grandchild in reversed(child.named_children))


def _parameter_list(node: Node, offsets: Offsets) -> tuple[Parameter, ...]:
    params_node = _parameters_node(node)
    return tuple(p for c in (params_node.named_children if params_node else ())
                 for p in _parameters(c, offsets) if p is not None)


def signatures(root: Node, offsets: Offsets) -> Iterator[tuple[str, tuple[Parameter, ...]]]:
    """The name and parameters of each function :func:`definitions` finds (top level and class
    members), read from a tree already parsed and without walking their bodies."""
    stack = _definitions_in(root, offsets)
    while stack:
        node = stack.pop()
        if node.type in CLASSES:
            body = node.child_by_field_name("body")
            stack.extend(_definitions_in(body, offsets) if body is not None else ())
        else:
            yield _name(node, offsets), _parameter_list(node, offsets)


def _definition(node: Node, offsets: Offsets) -> Definition:
    kind: Literal["function", "class"] = "class" if node.type in CLASSES else "function"
    name = _name(node, offsets)
    parameters = _parameter_list(node, offsets) if kind == "function" else ()
    returns_node = None
    if kind == "function":
        for field in ("return_type", "result", "returns", "type"):
            returns_node = node.child_by_field_name(field)
            if returns_node is not None:
                break
    returns = _text(returns_node, offsets).lstrip(":").lstrip("->").strip() or None
    body = node.child_by_field_name("body")
    start = offsets.from_byte(node.start_byte)
    line_start = offsets.line_start(offsets.line_of(start))
    indent = offsets.text[line_start:start]
    indent = indent[:len(indent) - len(indent.lstrip())]
    docstring = _python_docstring(body, offsets) if node.type in (
        "function_definition", "class_definition") else None
    if docstring is None and node.type not in ("function_definition", "class_definition"):
        docstring = _comment_before(node, offsets)
    facts: dict[str, list[str]] = {"branches": [], "raises": [], "returns": [], "calls": [],
                                   "opaque": []}
    loops: list[int] = []
    if body is not None:
        _walk(body, facts, loops, offsets)
    throws = next((c for c in node.named_children if c.type == "throws"), None)
    raises = [*facts["raises"], *(_text(t, offsets) for t in
                                   (throws.named_children if throws else ()))]
    members: tuple[Definition, ...] = ()
    if kind == "class" and body is not None:
        members = tuple(_definition(c, offsets) for c in _definitions_in(body, offsets))
    return Definition(
        kind=kind, name=name, parameters=parameters, returns=returns, start=start,
        end=offsets.from_byte(node.end_byte),
        body_start=offsets.from_byte(body.start_byte) if body is not None else start,
        indent=indent, docstring=docstring,
        raises=tuple(dict.fromkeys(r for r in raises if r)),
        calls=tuple(dict.fromkeys(facts["calls"])), loop_depth=max(loops, default=0),
        branches=len(facts["branches"]), return_values=tuple(facts["returns"]),
        recursive=bool(name) and any(c == name or c in own_calls(name)
                                     for c in facts["calls"]),
        members=members, opaque_loops=bool(facts["opaque"]),
    )


def _definitions_in(node: Node, offsets: Offsets) -> list[Node]:
    """Definitions directly inside ``node`` (through wrappers such as decorators and exports)."""
    found: list[Node] = []
    for child in node.named_children:
        if child.type in FUNCTIONS or child.type in CLASSES:
            if child.type != "arrow_function" or _name(child, offsets):
                found.append(child)
        elif child.type in ("decorated_definition", "export_statement", "lexical_declaration",
                            "variable_declaration", "variable_declarator", "declaration_list",
                            "class_body", "template_declaration", "impl_item",
                            "expression_statement", "field_declaration_list", "block"):
            found.extend(_definitions_in(child, offsets))
    return found


def definitions(text: str, language_id: str, start: int, end: int) -> list[Definition]:
    """The definitions a range selects: those inside ``[start, end)``, or (for an empty or
    partial range) the innermost one around ``start``. Empty when nothing is defined there or
    the language has no grammar."""
    offsets = Offsets(text)
    tree = parse(text, language_id, offsets)
    if tree is None:
        return []
    lo, hi = offsets.to_byte(start), offsets.to_byte(end)
    inside: list[Node] = []
    around: Node | None = None

    stack = [tree.root_node]
    while stack:  # depth first, in document order
        deeper: list[Node] = []
        for child in stack.pop().named_children:
            if (child.end_byte <= lo and hi > lo) or child.start_byte > max(hi, lo):
                continue
            is_def = child.type in FUNCTIONS or child.type in CLASSES
            if is_def and hi > lo and child.start_byte >= lo and child.end_byte <= hi:
                inside.append(child)
                continue
            if is_def and child.start_byte <= lo < child.end_byte and (
                    child.type != "arrow_function" or _name(child, offsets)):
                around = child
            value = child.child_by_field_name("value")
            if child.type in ("variable_declarator", "pair") and value is not None and \
                    value.type in FUNCTIONS and child.start_byte <= lo < child.end_byte:
                around = value  # the cursor on the name of `const f = () => ...`
            deeper.append(child)
        stack.extend(reversed(deeper))
    nodes = inside or ([around] if around is not None else [])
    return [_definition(node, offsets) for node in nodes]
