"""A generated history of usage, written straight into the analytics tables: the dashboard's
test data and the volume its timing is measured on (``tests/test_dashboard_timing.py``).

Deterministic for a seed. Every row has the shape the sink writes (metadata only, as always):
completions and tasks over several tenants, users, languages, editors and models, with the
feedback, persistence checkpoints and next-edit suggestions that follow from them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from analytics.schema import (
    COMPLETION_COLUMNS,
    COMPLETIONS_TABLE,
    FEEDBACK_COLUMNS,
    FEEDBACK_TABLE,
    PERSISTENCE_COLUMNS,
    PERSISTENCE_TABLE,
    SUGGESTION_COLUMNS,
    SUGGESTIONS_TABLE,
)
from schemas.socket import TASK_KINDS
from schemas.topics import RequestKind

LANGUAGES = ("python", "typescript", "javascript", "go", "java", "rust", "cpp", "csharp",
             "ruby", "php")
EDITORS = ("vscode", "vscode", "vscode", "jetbrains", "neovim", "emacs")
COMPLETION_MODELS = ("code_fim", "code_fim", "qwen_coder")
CHECKPOINTS = (30, 120, 600)
RULES = ("rename_follow", "signature_follow", "model")


@dataclass(frozen=True, slots=True)
class Spec:
    """How much history: ``completions`` requests over ``days`` UTC days up to ``today``."""

    completions: int
    days: int
    today: date
    tenants: tuple[tuple[str, str], ...] = (("acme", "free"), ("globex", "pro"))
    users_per_tenant: int = 40
    seed: int = 7
    #: Share of requests that are tasks (explain, find_bugs, ...).
    task_share: float = 0.05


Rows = list[tuple[Any, ...]]


def generate(spec: Spec, batch: int = 50_000) -> Iterator[tuple[str, tuple[str, ...], Rows]]:
    """Batches of rows, each as (table, columns, rows), in insertion order."""
    rng = random.Random(spec.seed)  # noqa: S311 - a reproducible history
    start = datetime.combine(spec.today - timedelta(days=spec.days - 1), datetime.min.time(),
                             UTC)
    span_ms = spec.days * 86_400_000
    out: dict[str, Rows] = {COMPLETIONS_TABLE: [], FEEDBACK_TABLE: [], PERSISTENCE_TABLE: [],
                            SUGGESTIONS_TABLE: []}
    columns = {COMPLETIONS_TABLE: COMPLETION_COLUMNS, FEEDBACK_TABLE: FEEDBACK_COLUMNS,
               PERSISTENCE_TABLE: PERSISTENCE_COLUMNS, SUGGESTIONS_TABLE: SUGGESTION_COLUMNS}
    for n in range(spec.completions):
        tenant, plan = spec.tenants[n % len(spec.tenants)]
        user = f"user{rng.randrange(spec.users_per_tenant):03d}"
        session = f"{tenant}-{user}-s{rng.randrange(3)}"
        at = start + timedelta(milliseconds=rng.randrange(span_ms))
        language = LANGUAGES[min(int(rng.expovariate(0.5)), len(LANGUAGES) - 1)]
        editor = EDITORS[rng.randrange(len(EDITORS))]
        request = f"r{n}"
        event = uuid.UUID(int=rng.getrandbits(128)).hex
        kind: RequestKind
        if rng.random() < spec.task_share:
            kind = TASK_KINDS[rng.randrange(len(TASK_KINDS))]
            model = f"task_{kind}"
        else:
            kind, model = "completion", COMPLETION_MODELS[rng.randrange(len(COMPLETION_MODELS))]
        roll = rng.random()
        if plan == "free" and roll < 0.04:
            source, admitted, reason, latency = "none", False, "quota", None
            model = "none"
        elif roll < 0.15:
            source, admitted, reason, latency = "none", False, "superseded", None
            model = "none"
        else:
            source, admitted, reason = "inferred", True, "stop"
            latency = int(rng.lognormvariate(4.0, 0.5))
        chunks = 0 if latency is None else rng.randrange(1, 6)
        chars = chunks * rng.randrange(4, 30)
        out[COMPLETIONS_TABLE].append((
            event, session, tenant, user, plan, request, model, language, source, admitted,
            reason, chunks, chars, at, at + timedelta(milliseconds=(latency or 0) + 40), latency,
            kind, editor))
        if latency is not None and kind == "completion" and rng.random() < 0.85:
            shown_at = at + timedelta(milliseconds=latency + 5)
            out[FEEDBACK_TABLE].append((
                uuid.UUID(int=rng.getrandbits(128)).hex, session, tenant, user, plan, request,
                "shown", language, None, latency, shown_at, editor, kind))
            fate = rng.random()
            verdict = ("accepted" if fate < 0.28 else "partial" if fate < 0.33
                       else "rejected" if fate < 0.43 else "dismissed")
            accepted = chars if verdict == "accepted" else (
                rng.randrange(1, max(chars, 2)) if verdict == "partial" else None)
            out[FEEDBACK_TABLE].append((
                uuid.UUID(int=rng.getrandbits(128)).hex, session, tenant, user, plan, request,
                verdict, language, accepted, latency, shown_at + timedelta(seconds=2), editor,
                kind))
            if accepted:
                surviving = accepted
                for checkpoint in CHECKPOINTS:
                    surviving = max(0, surviving - rng.randrange(0, max(accepted // 3, 1)))
                    out[PERSISTENCE_TABLE].append((
                        uuid.UUID(int=rng.getrandbits(128)).hex, session, tenant, user, plan,
                        request, language, checkpoint, accepted, surviving,
                        shown_at + timedelta(seconds=checkpoint)))
        elif latency is not None and kind != "completion" and rng.random() < 0.5:
            verdict = "accepted" if rng.random() < 0.6 else "rejected"
            out[FEEDBACK_TABLE].append((
                uuid.UUID(int=rng.getrandbits(128)).hex, session, tenant, user, plan, request,
                verdict, language, None, latency, at + timedelta(seconds=3), editor, kind))
        if rng.random() < 0.03:
            suggestion = uuid.UUID(int=rng.getrandbits(128)).hex
            for kind_seen in ("shown", ("accepted", "rejected", "dismissed")[rng.randrange(3)]):
                out[SUGGESTIONS_TABLE].append((
                    uuid.UUID(int=rng.getrandbits(128)).hex, session, tenant, user, plan,
                    suggestion, RULES[rng.randrange(len(RULES))], language, kind_seen, 1,
                    None, at + timedelta(seconds=1)))
        if len(out[COMPLETIONS_TABLE]) >= batch or n == spec.completions - 1:
            for table, rows in out.items():
                if rows:
                    yield table, columns[table], rows
                out[table] = []


class Inserter(Protocol):
    def insert(self, table: str, data: Any, column_names: Any = ...) -> Any: ...


def write(client: Inserter, spec: Spec) -> dict[str, int]:
    """Insert the history; the rows written per table."""
    written: dict[str, int] = {}
    for table, columns, rows in generate(spec):
        client.insert(table, rows, column_names=list(columns))
        written[table] = written.get(table, 0) + len(rows)
    return written
