"""ClickHouse tables and views of the analytics store. Metadata only: ids, kinds, lengths,
timings, hashes; never code.

Raw tables (``feedback_events``, ``completion_events``) are ReplacingMergeTrees keyed by
``event_id`` inside tenant and day, so a batch replayed after a crash collapses onto the rows
already there; inserts also carry an ``insert_deduplication_token`` so an identical retried batch
is dropped at once. Until a merge has run, a replay may still show as two rows: every view here
counts ``uniqExact(event_id)``, never ``count()``, so a replay can never be counted twice.

``usage_daily`` is maintained by a materialized view as ``uniqExact`` states, for the same reason.
Every table has a TTL (``ANALYTICS_RETENTION_DAYS``); one user's rows are erased on request with
:func:`erase_subject` (GDPR; ``python -m analytics.erase``), each erasure leaving a record in
``erasures`` that names nobody.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from analytics.erasure import Erasure

FEEDBACK_TABLE = "feedback_events"
COMPLETIONS_TABLE = "completion_events"
PERSISTENCE_TABLE = "persistence_events"
AUTHORSHIP_TABLE = "authorship_events"
SUGGESTIONS_TABLE = "suggestion_events"

FEEDBACK_COLUMNS = (
    "event_id", "session_id", "tenant_id", "user_id", "plan", "request_id", "kind",
    "language_id", "accepted_chars", "latency_ms", "received_at", "editor", "request_kind",
)
COMPLETION_COLUMNS = (
    "event_id", "session_id", "tenant_id", "user_id", "plan", "request_id", "model",
    "language_id", "source", "admitted", "reason", "chunks", "generated_chars", "received_at",
    "ended_at", "first_chunk_latency_ms", "kind", "editor",
)
PERSISTENCE_COLUMNS = (
    "event_id", "session_id", "tenant_id", "user_id", "plan", "request_id", "language_id",
    "checkpoint_s", "accepted_chars", "surviving_chars", "received_at",
)
AUTHORSHIP_COLUMNS = (
    "event_id", "session_id", "tenant_id", "user_id", "plan", "language_id", "typed_chars",
    "completion_chars", "received_at",
)
SUGGESTION_COLUMNS = (
    "event_id", "session_id", "tenant_id", "user_id", "plan", "suggestion_id", "rule",
    "language_id", "kind", "changes", "accepted_changes", "received_at",
)
#: Tables holding rows of one user (what :func:`erase_subject` deletes from).
USER_TABLES = (FEEDBACK_TABLE, COMPLETIONS_TABLE, "usage_daily", PERSISTENCE_TABLE,
               AUTHORSHIP_TABLE, SUGGESTIONS_TABLE)
#: One row per erasure run (``analytics.erasure.Erasure``): no user id in it.
ERASURES_TABLE = "erasures"
ERASURE_COLUMNS = ("erasure_id", "requested_at", "requested_by", "reason", "tenant_id",
                   "subject", "api_keys_revoked", "redis_keys_removed", "usage_records_removed",
                   "rows_removed")
#: A user's rows, matched by a salted hash of the id (``analytics.erasure.subject_hash``).
_SUBJECT = ("tenant_id = %(tenant)s AND lower(hex(SHA256(concat(%(salt)s, user_id)))) "
            "= %(subject)s")


def _event_table(name: str, ttl: str, columns: tuple[str, ...], version: str = "") -> str:
    """A raw event table: who and which session first, then ``columns``; one row per
    ``event_id`` inside tenant and day (replays collapse on merge: the row with the highest
    ``version`` column stays, the last inserted among equals), partitioned by month."""
    return f"""
        CREATE TABLE IF NOT EXISTS {name} (
            event_id String,
            session_id String,
            tenant_id LowCardinality(String),
            user_id String,
            plan LowCardinality(String),
            {", ".join(columns)},
            inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
        )
        ENGINE = ReplacingMergeTree({version})
        PARTITION BY toYYYYMM(received_at)
        ORDER BY (tenant_id, toDate(received_at), user_id, event_id)
        {ttl}
        SETTINGS non_replicated_deduplication_window = 10000
        """


def ddl(retention_days: int) -> list[str]:
    ttl = f"TTL toDateTime(received_at) + INTERVAL {int(retention_days)} DAY"
    return [
        _event_table(FEEDBACK_TABLE, ttl, (
            "request_id String",
            "kind LowCardinality(String)",
            "language_id LowCardinality(String)",
            "accepted_chars Nullable(UInt32)",
            "latency_ms Nullable(UInt32)",
            "received_at DateTime64(3, 'UTC')",
            "editor LowCardinality(String) DEFAULT 'other'",
            "request_kind LowCardinality(String) DEFAULT 'completion'",
        )),
        _event_table(COMPLETIONS_TABLE, ttl, (
            "request_id String",
            "model LowCardinality(String)",
            "language_id LowCardinality(String)",
            "source LowCardinality(String)",
            "admitted Bool",
            "reason LowCardinality(String)",
            "chunks UInt32",
            "generated_chars UInt32",
            "received_at DateTime64(3, 'UTC')",
            "ended_at DateTime64(3, 'UTC')",
            "first_chunk_latency_ms Nullable(Int32)",
            "kind LowCardinality(String) DEFAULT 'completion'",
            "editor LowCardinality(String) DEFAULT 'other'",
            # One request can be reported twice (a replay after a crash, an edge that gave up
            # on it): the report that says most stays, as usage counts it (admitted if any
            # report was, then answered), not whichever was inserted last.
            "report_rank UInt8 MATERIALIZED toUInt8(admitted) * 2 "
            "+ toUInt8(first_chunk_latency_ms IS NOT NULL)",
        ), version="report_rank"),
        # Tables made before these columns were (an instance's tables outlive an upgrade):
        # their old rows read the defaults.
        f"ALTER TABLE {FEEDBACK_TABLE} ADD COLUMN IF NOT EXISTS editor LowCardinality(String) "
        "DEFAULT 'other' AFTER received_at",
        f"ALTER TABLE {FEEDBACK_TABLE} ADD COLUMN IF NOT EXISTS request_kind "
        "LowCardinality(String) DEFAULT 'completion' AFTER editor",
        f"ALTER TABLE {COMPLETIONS_TABLE} ADD COLUMN IF NOT EXISTS kind LowCardinality(String) "
        "DEFAULT 'completion' AFTER first_chunk_latency_ms",
        f"ALTER TABLE {COMPLETIONS_TABLE} ADD COLUMN IF NOT EXISTS editor "
        "LowCardinality(String) DEFAULT 'other' AFTER kind",
        # Usage per tenant, user and UTC day: replay-proof states, kept up to date on insert.
        f"""
        CREATE TABLE IF NOT EXISTS usage_daily (
            tenant_id LowCardinality(String),
            user_id String,
            plan LowCardinality(String),
            day Date,
            requests AggregateFunction(uniqExact, String),
            admitted AggregateFunction(uniqExactIf, String, UInt8)
        )
        ENGINE = AggregatingMergeTree
        ORDER BY (tenant_id, day, user_id, plan)
        {ttl.replace("toDateTime(received_at)", "day")}
        """,
        f"""
        CREATE MATERIALIZED VIEW IF NOT EXISTS usage_daily_mv TO usage_daily AS
        SELECT tenant_id, user_id, plan, toDate(received_at) AS day,
               uniqExactState(event_id) AS requests,
               uniqExactIfState(event_id, toUInt8(admitted)) AS admitted
        FROM {COMPLETIONS_TABLE}
        GROUP BY tenant_id, user_id, plan, day
        """,
        _event_table(PERSISTENCE_TABLE, ttl, (
            "request_id String",
            "language_id LowCardinality(String)",
            "checkpoint_s UInt32",
            "accepted_chars UInt32",
            "surviving_chars UInt32",
            "received_at DateTime64(3, 'UTC')",
        )),
        _event_table(AUTHORSHIP_TABLE, ttl, (
            "language_id LowCardinality(String)",
            "typed_chars UInt64",
            "completion_chars UInt64",
            "received_at DateTime64(3, 'UTC')",
        )),
        # What became of next-edit suggestions: the client's feedback, or the edge's dismissal.
        _event_table(SUGGESTIONS_TABLE, ttl, (
            "suggestion_id String",
            "rule LowCardinality(String)",
            "language_id LowCardinality(String)",
            "kind LowCardinality(String)",
            "changes UInt16",
            "accepted_changes Nullable(UInt16)",
            "received_at DateTime64(3, 'UTC')",
        )),
        f"""
        CREATE OR REPLACE VIEW next_edits_daily AS
        SELECT tenant_id, toDate(received_at) AS day, rule, language_id,
               uniqExact(suggestion_id) AS suggestions,
               uniqExactIf(suggestion_id, kind = 'shown') AS shown,
               uniqExactIf(suggestion_id, kind IN ('accepted', 'partial')) AS accepted,
               uniqExactIf(suggestion_id, kind IN ('rejected', 'dismissed')) AS not_accepted,
               accepted / greatest(accepted + not_accepted, 1) AS acceptance_rate
        FROM {SUGGESTIONS_TABLE}
        GROUP BY tenant_id, day, rule, language_id
        """,
        f"""
        CREATE OR REPLACE VIEW persistence_daily AS
        SELECT tenant_id, toDate(received_at) AS day, language_id, checkpoint_s,
               count() AS completions, sum(accepted_chars) AS accepted_chars,
               sum(surviving_chars) AS surviving_chars,
               surviving_chars / greatest(accepted_chars, 1) AS surviving_share
        FROM (SELECT * FROM {PERSISTENCE_TABLE} FINAL)
        GROUP BY tenant_id, day, language_id, checkpoint_s
        """,
        # Views for analysts: plain views over the raw tables, deduplicated by event id.
        f"""
        CREATE OR REPLACE VIEW acceptance_daily AS
        SELECT f.tenant_id AS tenant_id, toDate(f.received_at) AS day, f.plan AS plan,
               f.language_id AS language_id, c.model AS model,
               uniqExactIf(f.event_id, f.kind = 'shown') AS shown,
               uniqExactIf(f.event_id, f.kind IN ('accepted', 'partial')) AS accepted,
               uniqExactIf(f.event_id, f.kind IN ('rejected', 'dismissed')) AS rejected,
               accepted / greatest(accepted + rejected, 1) AS acceptance_rate
        FROM {FEEDBACK_TABLE} AS f
        LEFT JOIN (SELECT DISTINCT tenant_id, session_id, request_id, model
                   FROM {COMPLETIONS_TABLE}) AS c
          ON c.tenant_id = f.tenant_id AND c.session_id = f.session_id
             AND c.request_id = f.request_id
        GROUP BY tenant_id, day, plan, language_id, model
        """,
        f"""
        CREATE TABLE IF NOT EXISTS {ERASURES_TABLE} (
            erasure_id String,
            requested_at DateTime64(3, 'UTC'),
            requested_by String,
            reason String,
            tenant_id LowCardinality(String),
            subject String,
            api_keys_revoked UInt32,
            redis_keys_removed UInt32,
            usage_records_removed UInt32,
            rows_removed Map(String, UInt64)
        )
        ENGINE = MergeTree
        ORDER BY (requested_at, erasure_id)
        """,
        # Tables made before the column was (an instance's tables outlive an upgrade).
        f"ALTER TABLE {ERASURES_TABLE} ADD COLUMN IF NOT EXISTS usage_records_removed UInt32 "
        "AFTER redis_keys_removed",
        f"""
        CREATE OR REPLACE VIEW latency_daily AS
        SELECT tenant_id, toDate(received_at) AS day, model, source,
               uniqExact(event_id) AS answered,
               quantileExact(0.5)(first_chunk_latency_ms) AS first_token_p50_ms,
               quantileExact(0.95)(first_chunk_latency_ms) AS first_token_p95_ms,
               quantileExact(0.99)(first_chunk_latency_ms) AS first_token_p99_ms
        FROM (SELECT * FROM {COMPLETIONS_TABLE} FINAL)
        WHERE first_chunk_latency_ms IS NOT NULL
        GROUP BY tenant_id, day, model, source
        """,
        # What users asked for and what became of it: every request has its row, whatever its
        # end (the edge and the workers both report the ones they end).
        f"""
        CREATE OR REPLACE VIEW requests_daily AS
        SELECT tenant_id, toDate(received_at) AS day, plan, language_id, model, reason,
               uniqExact(event_id) AS requests,
               uniqExactIf(event_id, admitted) AS admitted,
               uniqExactIf(event_id, first_chunk_latency_ms IS NOT NULL) AS answered
        FROM (SELECT * FROM {COMPLETIONS_TABLE} FINAL)
        GROUP BY tenant_id, day, plan, language_id, model, reason
        """,
    ]


class CommandClient(Protocol):
    def command(self, cmd: str, parameters: Any = None) -> object: ...


def create_tables(client: CommandClient, retention_days: int = 400) -> None:
    for statement in ddl(retention_days):
        client.command(statement)


class QueryClient(CommandClient, Protocol):
    def query(self, query: str, parameters: Any = None) -> Any: ...

    def insert(self, table: str, data: Any, column_names: Any = ...) -> Any: ...


def erase_subject(client: QueryClient, tenant_id: str, salt: str, subject: str,
                  rewrite: bool = False, tables: Sequence[str] = USER_TABLES) -> dict[str, int]:
    """Delete one user's rows, named by ``subject`` (the salted hash of the id), from
    ``tables``; the rows each held. Running it again removes what a stopped run left.

    A ClickHouse server: a mutation that rewrites the parts holding them and returns once done
    (``mutations_sync``); the parts it replaced are dropped a second after (``old_parts_lifetime``)
    by the server's cleanup, every 30 s or so: :func:`replaced_parts_sql` says when no copy is
    left. ``rewrite`` (the embedded engine, whose cleanup was seen to leave replaced parts for
    minutes; only while nothing else writes the tables): each table is copied without the rows,
    swapped in, and the old one dropped at once with its parts."""
    parameters = {"tenant": tenant_id, "salt": salt, "subject": subject}
    removed: dict[str, int] = {}
    for table in tables:
        found = client.query(f"SELECT count() FROM {table} WHERE {_SUBJECT}",
                             parameters=parameters).result_rows
        removed[table] = int(found[0][0])
        if not removed[table]:
            continue
        if rewrite:
            client.command(f"DROP TABLE IF EXISTS {table}_erasing SYNC")  # a stopped run's
            client.command(f"CREATE TABLE {table}_erasing AS {table}")
            client.command(f"INSERT INTO {table}_erasing SELECT * FROM {table} "
                           f"WHERE NOT ({_SUBJECT})", parameters=parameters)
            client.command(f"EXCHANGE TABLES {table} AND {table}_erasing")
            client.command(f"DROP TABLE {table}_erasing SYNC")
        else:
            client.command(f"ALTER TABLE {table} MODIFY SETTING old_parts_lifetime = 1")
            client.command(f"ALTER TABLE {table} DELETE WHERE {_SUBJECT} "
                           "SETTINGS mutations_sync = 2", parameters=parameters)
    return removed


def replaced_parts_sql(tables: Sequence[str] = USER_TABLES) -> str:
    """How many parts of ``tables`` are still on disk though no longer read (what a delete
    replaced, until the engine's cleanup drops them)."""
    names = ", ".join(f"'{table}'" for table in tables)
    return ("SELECT count() FROM system.parts WHERE database = currentDatabase() "
            f"AND table IN ({names}) AND NOT active")


def erase_and_record(client: QueryClient, erasure: Erasure, salt: str, subject: str,
                     rewrite: bool = False) -> Erasure:
    """The ClickHouse part of an erasure: the rows (:func:`erase_subject`), then the audit
    record with the rows removed."""
    done = dataclasses.replace(erasure, rows_removed=erase_subject(
        client, erasure.tenant_id, salt, subject, rewrite))
    client.insert(ERASURES_TABLE, [[
        done.erasure_id, datetime.fromtimestamp(done.requested_at_ms / 1000, UTC),
        done.requested_by, done.reason, done.tenant_id, done.subject, done.api_keys_revoked,
        done.redis_keys_removed, done.usage_records_removed, done.rows_removed]],
        column_names=list(ERASURE_COLUMNS))
    return done
