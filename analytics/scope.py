"""A tenant's analyst sees only the tenant's rows: the rules for a scoped read-only query (pure).

The engine does the filtering: ``additional_table_filters`` adds ``tenant_id = '<tenant>'`` to
every read of every table that has a ``tenant_id`` column, and ``readonly=1`` forbids changing
that setting from inside the query. What the filter cannot cover is a read that names no table
(table functions such as ``merge()``, ``file()``, ``url()``) or a table without ``tenant_id``
(``system.*``); :func:`refusal` finds those in the query's syntax tree (``EXPLAIN AST``) and the
query is refused before it runs.

Before any of that, :func:`statement_refusal` lets only reads through: the chDB driver applies a
write's settings with ``SET`` on the shared session and cannot undo them once ``readonly=1`` is
on, so a refused write used to leave every later scoped query failing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_NODE = re.compile(r"^(?P<indent> *)(?P<kind>\w+)(?: (?P<rest>.*))?$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: What a tenant's analyst may run; the local operator may also look at the schema and plans.
TENANT_READS = frozenset({"SELECT", "WITH"})
OPERATOR_READS = TENANT_READS | {"SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"}


def literal(text: str) -> str:
    """``text`` as a ClickHouse string literal (for the few statements built with a value)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _skip_quoted(sql: str, start: int) -> int:
    """Index just past the literal or quoted identifier opening at ``start`` (``\\`` escapes,
    doubled quotes)."""
    quote, index = sql[start], start + 1
    while index < len(sql):
        if sql[index] == "\\":
            index += 2
        elif sql[index] != quote:
            index += 1
        elif sql.startswith(quote * 2, index):
            index += 2
        else:
            return index + 1
    raise ValueError(f"an unterminated {quote}")


def _tokens(sql: str) -> Iterator[tuple[str, int]]:
    """Each word (upper-cased), literal (as ``'``) and symbol of ``sql`` with its parenthesis
    depth, comments left out, split as ClickHouse's lexer does (``--``, ``# ``, ``#!``, nested
    ``/* */``). Whatever it skips, the engine skips too; a ``$`` heredoc is not split (an error)."""
    depth = index = 0
    while index < len(sql):
        char = sql[index]
        if char.isspace():
            index += 1
        elif sql.startswith(("--", "# ", "#!"), index):
            end = sql.find("\n", index)
            index = len(sql) if end < 0 else end + 1
        elif sql.startswith("/*", index):
            level, index = 1, index + 2
            while level:
                if index >= len(sql):
                    raise ValueError("an unterminated /* comment")
                step = sql[index:index + 2]
                level += 1 if step == "/*" else -1 if step == "*/" else 0
                index += 2 if step in ("/*", "*/") else 1
        elif char in "'\"`":
            index = _skip_quoted(sql, index)
            yield "'", depth
        elif char == "$":
            raise ValueError("a $ heredoc, which is not accepted here")
        elif word := _WORD.match(sql, index):
            index = word.end()
            yield word[0].upper(), depth
        else:
            depth -= char == ")"
            yield char, depth
            depth += char == "("
            index += 1


def statement_refusal(sql: str, reads: frozenset[str] = TENANT_READS) -> str | None:
    """Why ``sql`` is not one read statement whose first word is in ``reads``, or ``None``.

    Checked on the text before the engine sees it (no engine session can be touched). Refused:
    any other statement (INSERT, ALTER, SET, SYSTEM, ...), a second statement after ``;``, a
    ``WITH`` that leads to an INSERT and ``INTO OUTFILE`` (which writes a file even when read-only).
    """
    try:
        tokens = list(_tokens(sql))
    except ValueError as error:
        return f"the statement has {error}"
    texts = [text for text, _ in tokens]
    if ";" in texts:
        end = texts.index(";")
        if set(texts[end:]) != {";"}:
            return "only one statement may run at a time (found another one after ';')"
        tokens, texts = tokens[:end], texts[:end]
    first = next((text for text in texts if text != "("), "")
    allowed = ", ".join(sorted(reads))
    if first not in reads:
        what = first if _WORD.fullmatch(first) else "this statement"
        return (f"only reads may run here ({allowed}): {what} is refused before it reaches the "
                "analytics store")
    top = [text for text, depth in tokens if depth == 0]
    if first == "WITH" and "INSERT" in top:
        return f"only reads may run here ({allowed}): WITH ... INSERT is refused"
    if any(a == "INTO" and b == "OUTFILE" for a, b in itertools.pairwise(top)):
        return "INTO OUTFILE writes a file on the analytics host and is refused"
    return None


def scoped_settings(tenant_id: str, tenant_tables: set[str]) -> dict[str, object]:
    """Query settings that confine every read of ``tenant_tables`` to ``tenant_id``."""
    if not _ID.fullmatch(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} is not a plain identifier")
    condition = f"tenant_id = '{tenant_id}'"
    return {"readonly": 1,
            "additional_table_filters": {table: condition for table in sorted(tenant_tables)}}


def refusal(ast: list[str], tenant_tables: set[str], database: str) -> str | None:
    """Why a query (as ``EXPLAIN AST`` lines) may not run scoped, or ``None`` if it may.

    The statement must be a SELECT, and every table expression a subquery or one of
    ``tenant_tables`` (optionally qualified with ``database``).
    """
    root = _NODE.match(ast[0]) if ast else None
    if root is None or not root["kind"].startswith("Select"):
        return f"only SELECT may run with a tenant's key, not {root['kind'] if root else 'this'}"
    allowed = tenant_tables | {f"{database}.{table}" for table in tenant_tables}
    for index, line in enumerate(ast):
        node = _NODE.match(line)
        if node is None or node["kind"] != "TableExpression":
            continue
        child = _NODE.match(ast[index + 1]) if index + 1 < len(ast) else None
        if child is None or len(child["indent"]) <= len(node["indent"]):
            return "a table expression without a source"
        if child["kind"] == "Subquery":
            continue
        if child["kind"] == "TableIdentifier":
            name = (child["rest"] or "").split(" ")[0]
            if name in allowed:
                continue
            return (f"table {name} is not readable with a tenant's key (readable: "
                    f"{', '.join(sorted(tenant_tables))})")
        if child["kind"] == "Function":
            name = (child["rest"] or "").split(" ")[0]
            return f"table function {name}() is not allowed with a tenant's key"
        return f"{child['kind']} as a table source is not allowed with a tenant's key"
    return None
