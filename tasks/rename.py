"""Rename refactoring for every language with a grammar: the identifier at the cursor and every
use of it in its scope (the function that declares it, else the document), by the syntax tree,
so attributes, keyword arguments and strings with the same spelling stay."""

from __future__ import annotations

import re

from tree_sitter import Node

from schemas.socket import TextEdit
from schemas.tasks import TaskEdit, short_title
from tasks.offsets import Offsets
from tasks.structure import CLASSES, FUNCTIONS
from tasks.syntax import parse

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INSTRUCTION = re.compile(r"^\s*(?:rename\s+(?:it\s+)?(?:to\s+)?)?`?([A-Za-z_][A-Za-z0-9_]*)`?\s*$",
                          re.IGNORECASE)
RENAMABLE = frozenset({"identifier", "simple_identifier", "variable_name", "name"})
#: (parent type, field) pairs where an identifier names something else: an attribute of an
#: object, a keyword argument of another function.
_NOT_THE_VARIABLE = {("attribute", "attribute"), ("keyword_argument", "name"),
                     ("member_expression", "property"), ("field_expression", "field"),
                     ("selector_expression", "field")}


def new_name(instruction: str | None) -> str | None:
    """``rename to total`` / ``total`` -> ``total``; ``None`` when the instruction is not a
    rename."""
    if not instruction:
        return None
    match = _INSTRUCTION.match(instruction)
    return match.group(1) if match else None


def _at(root: Node, byte: int) -> Node | None:
    for probe in (byte, byte - 1):
        if probe < 0:
            continue
        node = root.named_descendant_for_byte_range(probe, probe + 1)
        if node is not None and node.type in RENAMABLE:
            return node
    return None


def _is_variable(node: Node) -> bool:
    parent = node.parent
    if parent is None:
        return True
    for index, child in enumerate(parent.children):
        if child.id == node.id:
            return (parent.type, parent.field_name_for_child(index)) not in _NOT_THE_VARIABLE
    return True


#: Nodes that declare the names on their left (field ``left``, ``name`` or ``pattern``).
_DECLARATIONS = frozenset({
    "assignment", "variable_declarator", "short_var_declaration", "let_declaration",
    "for_statement", "for_in_clause", "const_spec", "var_spec",
    "local_variable_declaration", "field_declaration", "for_in_statement",
    "enhanced_for_statement", "lexical_declaration", "init_declarator", "with_item",
})
#: What a name inside an assignment's target can be part of without being declared by it.
_USES_IN_TARGETS = frozenset({
    "subscript", "attribute", "call", "field_expression", "member_expression",
    "subscript_expression", "index_expression", "selector_expression", "call_expression",
    "element_reference", "array_access", "field_access", "scoped_identifier",
    "qualified_identifier", "pointer_expression", "argument_list", "arguments",
})
#: Lists of parameters: a bare identifier in one is a parameter's name.
_PARAMETER_LISTS = frozenset({"parameters", "formal_parameters", "parameter_list",
                              "closure_parameters"})
#: Parameters, or lists of them.
_PARAMETERS = frozenset({"parameters", "formal_parameters", "parameter_list", "parameter",
                         "formal_parameter", "typed_parameter", "default_parameter",
                         "typed_default_parameter", "parameter_declaration",
                         "required_parameter", "optional_parameter", "closure_parameters"})


def declares(node: Node) -> bool:
    """Whether ``node`` (an identifier) is where its name is declared: a parameter, the target
    of an assignment or declaration, a loop variable, a function's or class's name."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type in FUNCTIONS or parent.type in CLASSES:
        name = parent.child_by_field_name("name")
        return name is not None and name.id == node.id
    current: Node | None = parent
    while current is not None and current.type not in FUNCTIONS:
        if current.type in _PARAMETERS:
            # The parameter's name, not a name in its type or default value.
            if current.type in _PARAMETER_LISTS:
                return parent.id == current.id
            name = (current.child_by_field_name("name") or current.child_by_field_name("pattern")
                    or current.child_by_field_name("declarator")
                    or (current.named_children[0] if current.named_children else None))
            return name is not None and name.id == node.id
        if current.type in _DECLARATIONS:
            left = (current.child_by_field_name("left") or current.child_by_field_name("name")
                    or current.child_by_field_name("pattern")
                    or current.child_by_field_name("declarator"))
            if left is None or not left.start_byte <= node.start_byte < left.end_byte:
                return False
            # Bound by the target itself or a pattern of names, not used inside an element,
            # attribute or call there (``a[i] = v`` declares neither ``a`` nor ``i``).
            step: Node | None = node
            while step is not None and step.id != current.id:
                if step.type in _USES_IN_TARGETS:
                    return False
                step = step.parent
            return True
        if current.type.endswith(("statement", "block", "body")):
            return False
        current = current.parent
    return False


def _uses(scope: Node, name: bytes, kind: str) -> list[Node]:
    found: list[Node] = []
    stack = [scope]
    while stack:
        node = stack.pop()
        if node.type == kind and node.text == name and _is_variable(node):
            found.append(node)
        stack.extend(node.children)
    return found


def parameter_list(function: Node) -> Node | None:
    """A function's parameter list (in C and C++, on its declarator)."""
    current: Node | None = function
    while current is not None:
        params = current.child_by_field_name("parameters")
        if params is not None:
            return params
        current = current.child_by_field_name("declarator")
    return None


def _prototype_parameters(node: Node) -> Node | None:
    """The C or C++ parameter list ``node`` is in when no function definition owns it (a
    prototype, a function pointer's type): its names mean nothing outside it."""
    current = node.parent
    while current is not None and current.type not in FUNCTIONS:
        if current.type in _PARAMETER_LISTS:
            if current.parent is None or current.parent.type != "function_declarator":
                return None
            owner: Node | None = current.parent
            while owner is not None and owner.type not in FUNCTIONS:
                owner = owner.parent
            owned = parameter_list(owner) if owner is not None else None
            return current if owned is None or owned.id != current.id else None
        current = current.parent
    return None


def _scope(node: Node, name: bytes, kind: str) -> Node:
    """The innermost function around ``node`` that declares ``name`` (a parameter, or a
    name it assigns or declares: :func:`declares`), else the root; a prototype's parameter
    list for one of its parameters."""
    prototype = _prototype_parameters(node)
    if prototype is not None:
        return prototype
    current = node.parent
    while current is not None:
        if current.type in FUNCTIONS:
            params = parameter_list(current)
            if params is not None and _uses(params, name, kind):
                return current
            body = current.child_by_field_name("body")
            if body is not None and any(declares(use) for use in _uses(body, name, kind)):
                return current
        root = current
        current = current.parent
        if current is None:
            return root
    return node


def rename(text: str, language: str, offset: int, to: str) -> TaskEdit | None:
    """The edit renaming the identifier at ``offset`` to ``to`` in its scope, or ``None`` when
    there is no identifier there (or no grammar)."""
    offsets = Offsets(text)
    tree = parse(text, language, offsets)
    if tree is None or not NAME.fullmatch(to):
        return None
    node = _at(tree.root_node, offsets.to_byte(offset))
    if node is None or node.text is None or not _is_variable(node):
        return None  # nothing, or an attribute / keyword argument: not this scope's variable
    old = node.text
    scope = _scope(node, old, node.type)
    if _uses(scope, to.encode("utf-8"), node.type):
        return None  # the new name is taken there: renaming would change what the code means
    edits = tuple(TextEdit(offsets.from_byte(n.start_byte), offsets.from_byte(n.end_byte), to)
                  for n in sorted(_uses(scope, old, node.type), key=lambda n: n.start_byte))
    if not edits or old.decode("utf-8") == to:
        return None
    where = ("its function" if scope.type in FUNCTIONS
             else "its declaration" if scope.type in _PARAMETER_LISTS else "the document")
    return TaskEdit(short_title(f"Rename `{old.decode('utf-8')}` to `{to}` ({len(edits)} places "
                                f"in {where})"), edits)
