"""What a GDPR erasure of one user removes, decided before anything is touched (pure).

The subject is named by exact identifiers, checked against the tenants file: the tenant must
exist and the user must hold (or have held) a key in it; identifiers are plain names, never
patterns (no ``*``, ``?``, ``[``, ``%``: a Redis ``SCAN`` pattern or an SQL ``LIKE`` built from
them would reach other users). Past this check the user id is used only in exact keys (Redis)
and, towards ClickHouse, as a salted hash (:func:`subject_hash`): the statements ClickHouse runs,
logs and keeps as mutation files never hold the id itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from quota.arithmetic import DAY_MS, quota_key
from schemas.errors import AssistantError
from tenants.directory import ApiKey, Directory

#: What a tenant or user id may be (the identifiers keys are issued for).
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


class EraseError(AssistantError):
    """The erasure cannot start: the subject is not one user of one tenant."""


def check_subject(directory: Directory, tenant_id: str, user_id: str) -> list[ApiKey]:
    """The user's keys (revoked ones too), or why the subject is not erasable."""
    for what, value in (("tenant", tenant_id), ("user", user_id)):
        if not IDENTIFIER.fullmatch(value):
            raise EraseError(f"{what} {value[:80]!r} is not an exact identifier (letters, digits, "
                             "._@+- only; patterns are never accepted)")
    if tenant_id not in directory.tenants:
        raise EraseError(f"no tenant {tenant_id!r} in the tenants file")
    keys = [k for k in directory.keys.values()
            if k.tenant_id == tenant_id and k.user_id == user_id]
    if not keys:
        raise EraseError(f"no user {user_id!r} in tenant {tenant_id!r} (no key was ever issued "
                         "to it in the tenants file)")
    return keys


def subject_hash(salt: str, user_id: str) -> str:
    """The id as ClickHouse is asked to match it: ``lower(hex(SHA256(concat(salt, user_id))))``
    (the salt is new for each run and kept nowhere)."""
    return hashlib.sha256((salt + user_id).encode("utf-8")).hexdigest()


def audit_subject(secret: bytes, tenant_id: str, user_id: str) -> str:
    """Whom an audit record is about, for the operator only: an HMAC under a secret kept outside
    ClickHouse, so "was this user erased?" has an answer and the audit table names nobody."""
    return hmac.new(secret, f"{tenant_id}\n{user_id}".encode(), hashlib.sha256).hexdigest()


def quota_keys(tenant_id: str, user_id: str, now_ms: int) -> list[str]:
    """Every quota counter the user can have: a counter lives until an hour past its UTC day,
    so yesterday's and today's (and tomorrow's, against a skewed clock): exact keys, no scan."""
    today = now_ms // DAY_MS
    return [quota_key(tenant_id, user_id, str(day)) for day in (today - 1, today, today + 1)]


#: Slack for the last steps of a record's way (a consumer's poll, a producer's flush).
SETTLE_MARGIN_MS = 10_000


def settle_ms(auth_reload_ms: int, longest_request_ms: int, sink_batch_ms: int,
              usage_window_ms: int, usage_grace_ms: int) -> int:
    """How long after its keys were revoked a user's last row or usage record can still land:
    edges drop the key within a reload, the requests in flight end within the longest deadline,
    the sink writes within two batches, and the usage window of the last event closes a window
    and a grace later."""
    return (auth_reload_ms + longest_request_ms + 2 * sink_batch_ms + usage_window_ms
            + usage_grace_ms + SETTLE_MARGIN_MS)


@dataclass(frozen=True, slots=True)
class Erasure:
    """The audit record of one run: who asked, when, what was removed; whom only as
    :func:`audit_subject`. A run that stopped half-way is recorded by the run that finishes."""

    erasure_id: str
    requested_at_ms: int
    requested_by: str
    reason: str
    tenant_id: str
    subject: str
    api_keys_revoked: int
    redis_keys_removed: int
    usage_records_removed: int = 0
    rows_removed: dict[str, int] = field(default_factory=dict)
