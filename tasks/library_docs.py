"""The documentation of the library functions a Python document calls, read statically: the
module's source is found on this server's path without importing it, parsed with Python's own
parser, and the function's docstring taken. Nothing of the library or the document is run."""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

#: Library files larger than this are not parsed (generated modules).
MAX_SOURCE_BYTES = 2_000_000


def python_imports(text: str) -> dict[str, str]:
    """Names a document binds by importing -> what they stand for (``np`` -> ``numpy``,
    ``loads`` -> ``json.loads``); empty when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def module_source(dotted: str) -> Path | None:
    """The source file of module ``dotted`` on ``sys.path``, found by looking, not importing."""
    parts = dotted.split(".")
    for entry in sys.path:
        if not entry:
            continue
        base = Path(entry).joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


@functools.lru_cache(maxsize=512)
def docstring_of(dotted: str) -> str | None:
    """The first paragraph of the docstring of ``package.module.name`` (or a class's method),
    from the longest prefix that is a module with source."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        source = module_source(".".join(parts[:cut]))
        if source is None:
            continue
        if source.stat().st_size > MAX_SOURCE_BYTES:
            return None
        try:
            tree = ast.parse(source.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            return None
        scope: list[ast.stmt] = tree.body
        found: ast.AST | None = None
        for name in parts[cut:]:
            found = next((n for n in scope if isinstance(
                n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == name),
                None)
            if found is None:
                return None
            scope = found.body
        doc = ast.get_docstring(found) if isinstance(
            found, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) else None
        return doc.strip().split("\n\n")[0].replace("\n", " ") if doc else None
    return None


def library_doc(call: str, imports: dict[str, str]) -> str | None:
    """The documentation of ``call`` (as written in the document: ``json.loads``,
    ``np.mean``, ``loads``) when the document imports it and its source is here."""
    head, _, rest = call.partition(".")
    target = imports.get(head)
    if target is None:
        return None
    return docstring_of(target + (f".{rest}" if rest else ""))
