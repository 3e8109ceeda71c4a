"""A tenant's analyst sees only the tenant's rows: the rules for a scoped read-only query (pure).

The engine does the filtering: ``additional_table_filters`` adds ``tenant_id = '<tenant>'`` to
every read of every table that has a ``tenant_id`` column, and ``readonly=1`` forbids changing
that setting from inside the query. What the filter cannot cover is a read that names no table
(table functions such as ``merge()``, ``file()``, ``url()``) or a table without ``tenant_id``
(``system.*``); :func:`refusal` finds those in the query's syntax tree (``EXPLAIN AST``) and the
query is refused before it runs.
"""

from __future__ import annotations

import re

_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_NODE = re.compile(r"^(?P<indent> *)(?P<kind>\w+)(?: (?P<rest>.*))?$")


def scoped_settings(tenant_id: str, tenant_tables: set[str]) -> dict[str, object]:
    """Query settings that confine every read of ``tenant_tables`` to ``tenant_id``."""
    if not _ID.fullmatch(tenant_id):
        raise ValueError(f"tenant id {tenant_id!r} is not a plain identifier")
    condition = f"tenant_id = '{tenant_id}'"
    return {"readonly": 1,
            "additional_table_filters": {table: condition for table in sorted(tenant_tables)}}


def refusal(ast: list[str], tenant_tables: set[str], database: str) -> str | None:
    """Why a query (as ``EXPLAIN AST`` lines) may not run scoped, or ``None`` if it may.

    Every table expression must be a subquery or one of ``tenant_tables`` (optionally qualified
    with ``database``).
    """
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
