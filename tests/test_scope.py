"""Which queries an analyst's key may run: only its tenant's tables, no table functions."""

from __future__ import annotations

import pytest

from analytics.scope import refusal, scoped_settings

TABLES = {"feedback_events"}

# What ``EXPLAIN AST`` prints (recorded from the engine; the e2e test runs it for real).
PLAIN = """SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 3)
   ExpressionList (children 1)
    Asterisk
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      TableIdentifier {table}
   Set
 Identifier Native"""

FUNCTION = """SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 3)
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      Function merge (children 1)
       ExpressionList (children 2)
        Literal '^feedback_events$'"""

SUBQUERY_WITH_FUNCTION = """SelectWithUnionQuery (children 2)
 ExpressionList (children 1)
  SelectQuery (children 4)
   TablesInSelectQuery (children 1)
    TablesInSelectQueryElement (children 1)
     TableExpression (children 1)
      Subquery (children 1)
       SelectWithUnionQuery (children 1)
        ExpressionList (children 1)
         SelectQuery (children 2)
          TablesInSelectQuery (children 1)
           TablesInSelectQueryElement (children 1)
            TableExpression (children 1)
             Function url (children 1)"""


@pytest.mark.parametrize(("ast", "why"), [
    (PLAIN.format(table="feedback_events"), None),
    (PLAIN.format(table="default.feedback_events"), None),
    (PLAIN.format(table="system.parts"), "table system.parts"),
    (PLAIN.format(table="other.feedback_events"), "table other.feedback_events"),
    (FUNCTION, "table function merge()"),
    (SUBQUERY_WITH_FUNCTION, "table function url()"),
])
def test_refusal(ast: str, why: str | None) -> None:
    found = refusal(ast.splitlines(), TABLES, "default")
    assert (found is None) if why is None else (found is not None and why in found)


def test_settings_filter_every_tenant_table() -> None:
    settings = scoped_settings("acme", {"feedback_events", "usage_daily"})
    assert settings == {"readonly": 1, "additional_table_filters": {
        "feedback_events": "tenant_id = 'acme'", "usage_daily": "tenant_id = 'acme'"}}
    with pytest.raises(ValueError, match="plain identifier"):
        scoped_settings("x' OR 1=1 --", TABLES)
