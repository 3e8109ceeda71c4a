"""What an erasure may touch, decided before anything is: exact identifiers checked against the
tenants file (patterns never pass), exact Redis keys, and names kept out of what it writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.erase import StepFailed, revoke_keys
from analytics.erasure import (
    SETTLE_MARGIN_MS,
    EraseError,
    audit_subject,
    check_subject,
    quota_keys,
    settle_ms,
    subject_hash,
)
from config.settings import Settings
from quota.arithmetic import DAY_MS, day_window, quota_key
from streams.kafka import partition_for
from tenants.directory import Directory, Tenant, load_directory, new_key, save_directory

ACME = Tenant("acme", "free")


def directory() -> Directory:
    found = Directory({ACME.tenant_id: ACME, "acme2": Tenant("acme2", "pro")}, {})
    for tenant, user in (("acme", "bob"), ("acme", "alice"), ("acme2", "carol")):
        found = found.with_key(new_key(tenant, user)[1])
    return found


def test_a_known_user_has_its_keys() -> None:
    keys = check_subject(directory(), "acme", "bob")
    assert [(k.tenant_id, k.user_id) for k in keys] == [("acme", "bob")]


@pytest.mark.parametrize(("tenant", "user", "why"), [
    ("acme", "*", "not an exact identifier"),
    ("acme", "b?b", "not an exact identifier"),
    ("acme", "bo[b]", "not an exact identifier"),
    ("acme", "%", "not an exact identifier"),
    ("acm?", "bob", "not an exact identifier"),
    ("*", "*", "not an exact identifier"),
    ("acme", "", "not an exact identifier"),
    ("nobody-co", "bob", "no tenant"),
    ("acme", "mallory", "no user"),
    ("acme", "carol", "no user"),  # carol is acme2's
])
def test_patterns_and_unknown_subjects_are_refused(tenant: str, user: str, why: str) -> None:
    with pytest.raises(EraseError, match=why):
        check_subject(directory(), tenant, user)


def test_the_quota_keys_are_exact_and_hold_today() -> None:
    now = 20_000 * DAY_MS + 5
    keys = quota_keys("acme", "bob", now)
    assert quota_key("acme", "bob", day_window(now)[0]) in keys
    assert len(keys) == 3 and not any(c in "".join(keys) for c in "*?[")


def test_names_stay_out_of_what_the_erasure_writes() -> None:
    assert subject_hash("s", "bob") == hashlib.sha256(b"sbob").hexdigest()
    assert "bob" not in subject_hash("s", "bob")
    one, two = audit_subject(b"k1", "acme", "bob"), audit_subject(b"k2", "acme", "bob")
    assert one != two and one == audit_subject(b"k1", "acme", "bob")
    assert audit_subject(b"k1", "acme", "bob") != audit_subject(b"k1", "acme2", "bob")


def test_nothing_of_the_user_lands_after_the_settle_time() -> None:
    """The last request may start just before the edge drops the key and end at its deadline;
    its event lands within two sink batches and its usage window closes a window and a grace
    after that."""
    settle = settle_ms(auth_reload_ms=1000, longest_request_ms=30_000, sink_batch_ms=1000,
                       usage_window_ms=3_600_000, usage_grace_ms=60_000)
    last_event = 1000 + 30_000 + 2 * 1000
    assert settle >= last_event + 3_600_000 + 60_000
    assert settle == last_event + 3_600_000 + 60_000 + SETTLE_MARGIN_MS


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 64))
def test_usage_records_land_where_kafkas_partitioner_puts_their_subject(
        key: bytes, count: int) -> None:
    """The usage stream keys records by record id but places them by tenant/user, so an erasure
    reads one partition; the placement must be the one any Kafka client computes."""
    partitions = list(range(count))
    assert partition_for(key, count) == DefaultPartitioner()(key, partitions, partitions)


def test_a_tenants_file_that_cannot_be_written_says_what_to_do(tmp_path: Path) -> None:
    """In a cluster the tenants file is a read-only Secret: the erasure cannot revoke there, and
    says so (revoke where the file is kept, then run again), touching nothing."""
    path = tmp_path / "tenants.json"
    save_directory(path, directory())
    before = path.read_bytes()
    path.with_suffix(".tmp").mkdir()  # the atomic write's temporary file cannot be made
    settings = Settings(tenants_file=str(path))
    with pytest.raises(StepFailed, match=r"1 live API key.*cannot be written here.*run this "
                                         r"again"):
        revoke_keys(settings, "acme", "bob")
    assert path.read_bytes() == before
    # Revoked where the file is kept: the erasure finds no live key and writes nothing.
    revoked = load_directory(path)
    for key in check_subject(revoked, "acme", "bob"):
        revoked = revoked.revoked(key.key_id)
    path.with_suffix(".tmp").rmdir()
    save_directory(path, revoked)
    path.with_suffix(".tmp").mkdir()
    assert revoke_keys(settings, "acme", "bob") == 0
