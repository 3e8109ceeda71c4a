"""The analytics tables on the ClickHouse engine itself (chDB, the embedded stack's engine; no
ClickHouse server runs here): which of two reports of one request stays after a merge, and both
ways an erasure removes one user's rows (the rewrite the embedded stack uses, the mutation a
server gets): only the user's rows go, and nothing the engine keeps of the statements (its
mutation entries) holds the user's id."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from analytics.erasure import Erasure, subject_hash
from analytics.schema import (
    COMPLETION_COLUMNS,
    COMPLETIONS_TABLE,
    ERASURE_COLUMNS,
    ERASURES_TABLE,
    USER_TABLES,
    create_tables,
    erase_and_record,
)

USERS = ("alice", "bob-7f3a9c", "carol")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Client]:
    """An engine of its own per test (chDB opens one directory per process at a time)."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path}/db")
    create_tables(client, 400)
    yield client
    client.close()


def fill(client: Client, tenant: str) -> None:
    now = datetime.now(UTC)
    client.insert(COMPLETIONS_TABLE, [
        (uuid.uuid4().hex, "s-" + user, tenant, user, "free", f"r{i}", "code_fim", "python",
         "inferred", True, "stop", 3, 12, now, now, 40, "completion", "vscode")
        for user in USERS for i in range(5)], column_names=list(COMPLETION_COLUMNS))


def left(client: Client, tenant: str) -> dict[str, int]:
    found = client.query(f"SELECT user_id, count() FROM {COMPLETIONS_TABLE} "
                         "WHERE tenant_id = %(t)s GROUP BY user_id", parameters={"t": tenant})
    return {str(user): int(count) for user, count in found.result_rows}


@pytest.mark.parametrize("rewrite", [True, False], ids=["rewrite (embedded)", "mutation (server)"])
def test_only_the_users_rows_go_and_the_statements_name_nobody(engine: Client,
                                                               rewrite: bool) -> None:
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    fill(engine, tenant)
    salt = secrets.token_hex(16)
    erasure = Erasure(uuid.uuid4().hex, 1_700_000_000_000, "ticket-1", "test", tenant, "ab" * 32,
                      1, 1, 2)
    done = erase_and_record(engine, erasure, salt, subject_hash(salt, "bob-7f3a9c"), rewrite)
    assert done.rows_removed[COMPLETIONS_TABLE] == 5
    assert set(done.rows_removed) == set(USER_TABLES)
    assert left(engine, tenant) == {"alice": 5, "carol": 5}
    again = erase_and_record(engine, erasure, salt, subject_hash(salt, "bob-7f3a9c"), rewrite)
    assert sum(again.rows_removed.values()) == 0, "run again: nothing left to remove"
    commands = engine.query("SELECT command FROM system.mutations").result_rows
    assert not any("bob" in str(row[0]) for row in commands)
    if not rewrite:
        assert commands, "negative control: the mutation is listed"
    audit = engine.query(f"SELECT {', '.join(ERASURE_COLUMNS)} FROM {ERASURES_TABLE} "
                         "WHERE tenant_id = %(t)s", parameters={"t": tenant}).result_rows
    assert len(audit) == 2 and all("bob" not in str(row) for row in audit)
    assert audit[0][ERASURE_COLUMNS.index("usage_records_removed")] == 2


def test_an_audit_table_made_before_the_usage_column_gets_it(tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path}/old")
    try:
        client.command(f"CREATE TABLE {ERASURES_TABLE} (erasure_id String, requested_at "
                       "DateTime64(3, 'UTC'), requested_by String, reason String, tenant_id "
                       "String, subject String, api_keys_revoked UInt32, redis_keys_removed "
                       "UInt32, rows_removed Map(String, UInt64)) ENGINE = MergeTree ORDER BY "
                       "(requested_at, erasure_id)")
        create_tables(client, 400)
        columns = [row[0] for row in client.query(f"DESCRIBE {ERASURES_TABLE}").result_rows]
        assert columns == list(ERASURE_COLUMNS)
    finally:
        client.close()


def test_of_two_reports_of_a_request_the_one_that_says_most_stays(engine: Client) -> None:
    """A request an edge gave up on (not admitted) that a worker answered (admitted): after a
    merge the admitted row stays, whatever the order they were inserted in, so ClickHouse counts
    what the usage stream and billing count."""
    now = datetime.now(UTC)

    def report(event: str, admitted: bool, latency: int | None) -> None:
        engine.insert(COMPLETIONS_TABLE, [(event, "s", "t", "u", "free", "r", "m", "python",
                                           "inferred" if admitted else "none", admitted,
                                           "stop" if admitted else "error", 1, 1, now, now,
                                           latency, "completion", "vscode")],
                      column_names=list(COMPLETION_COLUMNS))

    report("worker-first", True, 40)
    report("worker-first", False, None)
    report("edge-first", False, None)
    report("edge-first", True, 40)
    engine.command(f"OPTIMIZE TABLE {COMPLETIONS_TABLE} FINAL")
    kept = engine.query(f"SELECT event_id, admitted, reason FROM {COMPLETIONS_TABLE} "
                        "WHERE tenant_id = 't' ORDER BY event_id").result_rows
    assert [tuple(row) for row in kept] == [("edge-first", True, "stop"),
                                            ("worker-first", True, "stop")]
