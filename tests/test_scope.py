"""Which queries an analyst's key may run: only its tenant's tables, no table functions; and
that only reads reach the engine at all, for analysts and the operator alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.scope import OPERATOR_READS, literal, refusal, scoped_settings, statement_refusal

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


# Which statements reach the engine at all (``statement_refusal``, checked on the text).

READS = ["SELECT 1", "select count() FROM feedback_events", "  \n\tSELECT 1",
         "WITH t AS (SELECT 1 AS x) SELECT x FROM t", "WITH 1 AS x SELECT x",
         "(SELECT 1) UNION ALL (SELECT 2)", "SELECT 1;", "SELECT 1; -- done", "SELECT 1;;",
         "-- why\nSELECT 1", "/* a /* nested */ comment */ SELECT 1", "#! shebang\nSELECT 1",
         "# note\nSELECT 1", "SELECT 'INSERT INTO x; DROP TABLE y' AS s",
         "SELECT `weird;name`, \"DROP\" FROM feedback_events", "SELECT 'it''s', 'a\\'b'",
         "SELECT 1 AS a$b", "SELECT 1 -- ; DROP TABLE feedback_events",
         "SELECT insert FROM (SELECT 1 AS insert)", "SELECT * FROM t WHERE x IN (SELECT 1)"]

WRITES = ["INSERT INTO feedback_events (event_id) VALUES ('x')", "ALTER TABLE t DELETE WHERE 1",
          "DROP TABLE feedback_events", "SET readonly = 0", "SYSTEM FLUSH LOGS",
          "KILL QUERY WHERE 1", "OPTIMIZE TABLE t FINAL", "CREATE TABLE t (x Int8) ENGINE = Log",
          "ATTACH TABLE t", "DETACH TABLE t", "TRUNCATE TABLE t", "RENAME TABLE a TO b",
          "DELETE FROM t WHERE 1", "UPDATE t SET x = 1 WHERE 1", "GRANT ALL ON *.* TO u",
          "USE system", "EXCHANGE TABLES a AND b", "UNDROP TABLE t", "BACKUP TABLE t TO Disk('a')",
          "SHOW TABLES", "DESCRIBE TABLE feedback_events", "EXPLAIN SELECT 1", "1 + 1"]


@pytest.mark.parametrize("sql", READS)
def test_reads_pass(sql: str) -> None:
    assert statement_refusal(sql) is None


@pytest.mark.parametrize("sql", WRITES)
def test_everything_else_is_refused_by_name(sql: str) -> None:
    why = statement_refusal(sql)
    assert why is not None and "only reads may run here" in why
    first = sql.split()[0].upper()
    assert (first in why) if first.isalpha() else ("this statement" in why)


@pytest.mark.parametrize(("sql", "why"), [
    ("SELECT 1; INSERT INTO t VALUES (1)", "only one statement"),
    ("SELECT 1;\n-- x\nDROP TABLE t", "only one statement"),
    ("SELECT 1;SELECT 2", "only one statement"),
    ("-- SELECT 1\nINSERT INTO t VALUES (1)", "INSERT is refused"),
    ("/* SELECT */ DROP TABLE t", "DROP is refused"),
    ("(((ALTER TABLE t DELETE WHERE 1", "ALTER is refused"),
    ("WITH 1 AS x INSERT INTO t SELECT x", "WITH ... INSERT is refused"),
    ("SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    ("SELECT 'unterminated", "unterminated '"),
    ("SELECT 1 /* unterminated", "unterminated /*"),
    ("SELECT $$'$$; INSERT INTO t VALUES (1) -- '", "heredoc"),
    ("SELECT 1 #x\n; DROP TABLE t", "only one statement"),  # `#x` is no comment to the engine
    ("", "this statement"),
    ("  -- only a comment", "this statement"),
])
def test_edge_cases_are_refused(sql: str, why: str) -> None:
    found = statement_refusal(sql)
    assert found is not None and why in found, found


def test_the_operator_may_also_look_at_schema_and_plans() -> None:
    for sql in ("SHOW TABLES", "DESCRIBE TABLE feedback_events", "EXPLAIN AST SELECT 1",
                "EXISTS TABLE feedback_events", "SELECT 1"):
        assert statement_refusal(sql, OPERATOR_READS) is None, sql
    for sql in ("INSERT INTO t VALUES (1)", "SET readonly = 0", "SHOW TABLES; DROP TABLE t"):
        assert statement_refusal(sql, OPERATOR_READS) is not None, sql


@given(st.text())
def test_a_string_literal_never_changes_the_verdict(text: str) -> None:
    assert statement_refusal(f"SELECT {literal(text)} AS s") is None
    assert statement_refusal(f"INSERT INTO t VALUES ({literal(text)})") is not None


@given(st.sampled_from(READS), st.sampled_from(WRITES),
       st.sampled_from(["", " ", "\n", "-- c\n", "/* c */", "\t# c\n"]))
def test_a_second_statement_is_always_refused(read: str, write: str, gap: str) -> None:
    assert statement_refusal(f"{read}\n;{gap}{write}") is not None
    assert statement_refusal(f"{gap}{write}") is not None


@given(st.text(alphabet=st.sampled_from(list("SELECT INSERT;'\"`()$#-/*\\\n x1"))))
def test_any_text_gets_a_verdict(sql: str) -> None:
    found = statement_refusal(sql)
    assert found is None or isinstance(found, str)


def test_only_a_select_ast_runs_with_a_tenant_key() -> None:
    insert = "InsertQuery   (children 4)\n Identifier feedback_events"
    found = refusal(insert.splitlines(), TABLES, "default")
    assert found is not None and "only SELECT" in found
