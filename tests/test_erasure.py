"""What an erasure may touch, decided before anything is: exact identifiers checked against the
tenants file (patterns never pass), exact Redis keys, and names kept out of what it writes."""

from __future__ import annotations

import hashlib

import pytest

from analytics.erasure import (
    EraseError,
    audit_subject,
    check_subject,
    quota_keys,
    subject_hash,
)
from quota.arithmetic import DAY_MS, day_window, quota_key
from tenants.directory import Directory, Tenant, new_key

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
