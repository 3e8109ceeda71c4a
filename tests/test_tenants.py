"""The tenants file: keys stored hashed, refused for clear reasons, revocation seen on recheck."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tenants.directory import (
    EXPIRED_KEY,
    NO_KEY,
    REVOKED_KEY,
    UNKNOWN_KEY,
    WRONG_ROLE,
    Directory,
    DirectoryError,
    Principal,
    Tenant,
    load_directory,
    new_key,
    parse_directory,
    render_directory,
    save_directory,
)


def directory() -> tuple[Directory, str, str]:
    acme = Tenant("acme", "enterprise", daily_completions=5000, exclude_paths=("*/secrets/*",))
    key, entry = new_key("acme", "alice")
    expiring, expiring_entry = new_key("acme", "bob", expires_ms=1_000)
    return (Directory().with_tenant(acme).with_key(entry).with_key(expiring_entry), key,
            expiring)


def test_a_valid_key_names_tenant_user_and_terms() -> None:
    found, key, _ = directory()
    principal = found.authenticate(key, now_ms=0)
    assert isinstance(principal, Principal)
    assert (principal.tenant_id, principal.user_id) == ("acme", "alice")
    assert principal.tenant.daily_limit() == 5000


def test_refusals_say_why() -> None:
    found, key, expiring = directory()
    assert found.authenticate(None, 0) == NO_KEY
    assert found.authenticate(key + "x", 0) == UNKNOWN_KEY
    assert found.authenticate(expiring, 999) != EXPIRED_KEY
    assert found.authenticate(expiring, 1_000) == EXPIRED_KEY
    assert found.authenticate(key, 0, role="analyst") == WRONG_ROLE
    principal = found.authenticate(key, 0)
    assert isinstance(principal, Principal)
    revoked = found.revoked(principal.key_id)
    assert revoked.authenticate(key, 0) == REVOKED_KEY
    assert revoked.recheck(principal, 0) == REVOKED_KEY
    assert found.recheck(principal, 0) == principal
    assert Directory(found.tenants, {}).recheck(principal, 0) == REVOKED_KEY


def test_the_file_holds_hashes_only_and_round_trips(tmp_path: Path) -> None:
    found, key, expiring = directory()
    path = tmp_path / "tenants.json"
    save_directory(path, found)
    raw = path.read_text()
    assert key not in raw and expiring not in raw
    assert path.stat().st_mode & 0o077 == 0
    assert load_directory(path) == found
    assert parse_directory(render_directory(found)) == found


@pytest.mark.parametrize(("text", "where"), [
    (b"[]", "top level"),
    (b'{"tenants": {"a": {"plan": "gold"}}, "keys": []}', "tenants.a.plan"),
    (b'{"tenants": {"a": {"plan": "pro", "colour": 1}}, "keys": []}', "unknown field(s) colour"),
    (b'{"tenants": {"a\'; DROP": {"plan": "pro"}}, "keys": []}', "a tenant id is"),
    (b'{"tenants": {}, "keys": [{"key_id": "k", "sha256": "00", "tenant_id": "a", '
     b'"user_id": "u"}]}', "keys[0].tenant_id"),
    (b'{"tenants": {"a": {"plan": "pro"}}, "keys": [{"key_id": "k", "sha256": "00", '
     b'"tenant_id": "a", "user_id": "u"}]}', "keys[0].sha256"),
])
def test_a_malformed_file_names_the_place(text: bytes, where: str) -> None:
    with pytest.raises(DirectoryError, match=re.escape(where)):
        parse_directory(text)


def test_plans_and_exclusions() -> None:
    assert Tenant("t", "free").daily_limit() == 100
    assert Tenant("t", "pro").daily_limit() is None
    assert Tenant("t", "enterprise").daily_limit() is None
    tenant = Tenant("t", "pro", exclude_paths=("*/secrets/*", "*.env"))
    assert tenant.excludes("file:///repo/secrets/db.py")
    assert tenant.excludes("file:///repo/.env")
    assert not tenant.excludes("file:///repo/src/db.py")
