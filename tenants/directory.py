"""Tenants, users, plans and API keys: one file, read by every edge, keys stored only as hashes.

The directory is one JSON document (``TENANTS_FILE``)::

    {"tenants": {"acme": {"plan": "enterprise", "daily_completions": 5000,
                          "exclude_paths": ["*/secrets/*", "*.env"], "origins": [],
                          "max_sessions_per_user": 8, "messages_per_second": 2000}},
     "keys": [{"key_id": "k3f9a1c2", "sha256": "…", "tenant_id": "acme", "user_id": "alice",
               "role": "developer", "expires_ms": null, "revoked": false}]}

An API key is ``ck_<key_id>_<secret>``; only its SHA-256 is kept (keys are 256-bit random, so a
fast hash is enough and a lookup by hash reveals nothing). Edges re-read the file when it changes,
which is how a revocation reaches live sessions. Parsing and authentication are pure; only
:func:`load_directory` and :func:`save_directory` touch the disk.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import orjson

from schemas.errors import AssistantError

Plan = Literal["free", "pro", "enterprise"]
#: ``developer``: opens editor sessions; ``analyst``: reads its tenant's analytics (SQL, the
#: dashboard, the metrics API); ``operator``: reads every tenant's analytics (its own tenant is
#: only where the key is listed).
Role = Literal["developer", "analyst", "operator"]
PLANS: tuple[Plan, ...] = ("free", "pro", "enterprise")
ROLES: tuple[Role, ...] = ("developer", "analyst", "operator")
KEY_PREFIX = "ck_"
#: The free plan's completions per user per UTC day (the product's promise).
FREE_DAILY_COMPLETIONS = 100
#: Tenant and user ids: they flow into topics, Redis keys (``:``-separated) and SQL filters, so
#: they stay plain.
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class DirectoryError(AssistantError, ValueError):
    """The tenants file is malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    plan: Plan
    #: Enterprise: completions per user per UTC day by contract (``None``: unlimited).
    daily_completions: int | None = None
    #: Glob patterns (fnmatch, matched on the document URI's path): such files never reach a prompt.
    exclude_paths: tuple[str, ...] = ()
    #: Browser origins allowed to open sockets for this tenant (empty: none needed, IDE clients
    #: send no Origin header; a request that carries one must match).
    origins: tuple[str, ...] = ()
    max_sessions_per_user: int = 8
    #: Client frames per second across all of the tenant's sessions on one edge.
    messages_per_second: int = 2000

    def daily_limit(self) -> int | None:
        """Completions per user per UTC day; ``None`` is unlimited."""
        if self.plan == "free":
            return FREE_DAILY_COMPLETIONS
        if self.plan == "enterprise":
            return self.daily_completions
        return None

    def excludes(self, uri: str) -> bool:
        path = uri.split("://", 1)[-1]
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.exclude_paths)


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    sha256: str
    tenant_id: str
    user_id: str
    role: Role = "developer"
    expires_ms: int | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a socket (or an analytics query) acts as: decided by the key, never by the client."""

    tenant: Tenant
    user_id: str
    key_id: str
    role: Role

    @property
    def tenant_id(self) -> str:
        return self.tenant.tenant_id


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a key was refused, with the WebSocket close code the edge answers with."""

    code: int
    reason: str


NO_KEY = Refusal(4401, "missing API key: send it as 'Authorization: Bearer <key>'")
UNKNOWN_KEY = Refusal(4401, "unknown API key")
EXPIRED_KEY = Refusal(4403, "API key expired")
REVOKED_KEY = Refusal(4403, "API key revoked")
WRONG_ROLE = Refusal(4403, "this API key's role may not do this")


@dataclass(frozen=True)
class Directory:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)  # by sha256

    def authenticate(self, key: str | None, now_ms: int,
                     role: Role | tuple[Role, ...] = "developer") -> Principal | Refusal:
        """The principal ``key`` stands for at ``now_ms``, or why it is refused (``role``: the
        role, or roles, that may do what the key is asked for)."""
        if not key:
            return NO_KEY
        entry = self.keys.get(hash_key(key))
        if entry is None:
            return UNKNOWN_KEY
        if entry.revoked:
            return REVOKED_KEY
        if entry.expires_ms is not None and now_ms >= entry.expires_ms:
            return EXPIRED_KEY
        if entry.role not in ((role,) if isinstance(role, str) else role):
            return WRONG_ROLE
        return Principal(self.tenants[entry.tenant_id], entry.user_id, entry.key_id, entry.role)

    @cached_property
    def _by_key_id(self) -> dict[str, ApiKey]:
        return {entry.key_id: entry for entry in self.keys.values()}

    def recheck(self, principal: Principal, now_ms: int) -> Principal | Refusal:
        """A live session's key after a reload: still valid (with fresh tenant terms) or not.
        Runs for every live session every ``AUTH_RELOAD_MS``, so it is one dict lookup."""
        entry = self._by_key_id.get(principal.key_id)
        if entry is None:
            return REVOKED_KEY  # deleted from the file: as good as revoked
        if entry.revoked:
            return REVOKED_KEY
        if entry.expires_ms is not None and now_ms >= entry.expires_ms:
            return EXPIRED_KEY
        return Principal(self.tenants[entry.tenant_id], entry.user_id, entry.key_id, entry.role)

    def with_key(self, entry: ApiKey) -> Directory:
        return Directory(self.tenants, {**self.keys, entry.sha256: entry})

    def with_tenant(self, tenant: Tenant) -> Directory:
        return Directory({**self.tenants, tenant.tenant_id: tenant}, self.keys)

    def revoked(self, key_id: str) -> Directory:
        found = [k for k in self.keys.values() if k.key_id == key_id]
        if not found:
            raise DirectoryError(f"no key with key_id {key_id!r}")
        keys = {h: (ApiKey(**{**asdict(k), "revoked": True}) if k.key_id == key_id else k)
                for h, k in self.keys.items()}
        return Directory(self.tenants, keys)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(tenant_id: str, user_id: str, role: Role = "developer",
            expires_ms: int | None = None) -> tuple[str, ApiKey]:
    """A fresh random key (shown once) and the entry that stores only its hash."""
    key_id = "k" + secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key, ApiKey(key_id, hash_key(key), tenant_id, user_id, role, expires_ms)


def parse_directory(data: bytes) -> Directory:
    """Validate the tenants file; errors name the offending entry and field."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise DirectoryError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise DirectoryError("the top level must be an object with 'tenants' and 'keys'")
    tenants: dict[str, Tenant] = {}
    for tenant_id, body in _field(raw, "tenants", dict, "").items():
        where = f"tenants.{tenant_id}"
        if not _ID.fullmatch(tenant_id):
            raise DirectoryError(f"{where}: a tenant id is 1-64 of A-Z a-z 0-9 _ . -")
        _only(body, {"plan", "daily_completions", "exclude_paths", "origins",
                     "max_sessions_per_user", "messages_per_second"}, where)
        plan = _field(body, "plan", str, where)
        if plan not in PLANS:
            raise DirectoryError(f"{where}.plan: {plan!r} is not one of {', '.join(PLANS)}")
        tenants[tenant_id] = Tenant(
            tenant_id, plan,
            daily_completions=_optional_int(body, "daily_completions", where),
            exclude_paths=tuple(_strings(body, "exclude_paths", where)),
            origins=tuple(_strings(body, "origins", where)),
            max_sessions_per_user=_optional_int(body, "max_sessions_per_user", where) or 8,
            messages_per_second=_optional_int(body, "messages_per_second", where) or 2000,
        )
    keys: dict[str, ApiKey] = {}
    for index, body in enumerate(_field(raw, "keys", list, "")):
        where = f"keys[{index}]"
        if not isinstance(body, dict):
            raise DirectoryError(f"{where}: must be an object")
        _only(body, {"key_id", "sha256", "tenant_id", "user_id", "role", "expires_ms",
                     "revoked"}, where)
        entry = ApiKey(
            _field(body, "key_id", str, where), _field(body, "sha256", str, where),
            _field(body, "tenant_id", str, where), _field(body, "user_id", str, where),
            role=body.get("role", "developer"), expires_ms=_optional_int(body, "expires_ms", where),
            revoked=bool(body.get("revoked", False)),
        )
        if not _ID.fullmatch(entry.user_id):
            raise DirectoryError(f"{where}.user_id: a user id is 1-64 of A-Z a-z 0-9 _ . -")
        if entry.tenant_id not in tenants:
            raise DirectoryError(f"{where}.tenant_id: no tenant {entry.tenant_id!r}")
        if entry.role not in ROLES:
            raise DirectoryError(f"{where}.role: {entry.role!r} is not one of {', '.join(ROLES)}")
        if len(entry.sha256) != 64:
            raise DirectoryError(f"{where}.sha256: expected 64 hex digits (keys are stored hashed)")
        keys[entry.sha256] = entry
    return Directory(tenants, keys)


def render_directory(directory: Directory) -> bytes:
    tenants = {}
    for tenant_id, tenant in directory.tenants.items():
        body: dict[str, Any] = asdict(tenant)
        del body["tenant_id"]
        tenants[tenant_id] = body
    return orjson.dumps({"tenants": tenants, "keys": [asdict(k) for k in directory.keys.values()]},
                        option=orjson.OPT_INDENT_2)


def load_directory(path: Path) -> Directory:
    try:
        return parse_directory(path.read_bytes())
    except FileNotFoundError:
        raise DirectoryError(f"{path} does not exist; create keys with "
                             "`python -m infra keys create`") from None
    except DirectoryError as error:
        raise DirectoryError(f"{path}: {error}") from None


def save_directory(path: Path, directory: Directory) -> None:
    """Write atomically (readers never see half a file), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(render_directory(directory))
    temporary.chmod(0o600)
    os.replace(temporary, path)


def _field(body: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = body.get(name)
    if not isinstance(value, kind):
        raise DirectoryError(f"{where + '.' if where else ''}{name}: expected {kind.__name__}")
    return value


def _optional_int(body: dict[str, Any], name: str, where: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DirectoryError(f"{where}.{name}: expected a non-negative integer or null")
    return value


def _strings(body: dict[str, Any], name: str, where: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DirectoryError(f"{where}.{name}: expected a list of strings")
    return value


def _only(body: Any, allowed: set[str], where: str) -> None:
    if not isinstance(body, dict):
        raise DirectoryError(f"{where}: must be an object")
    unknown = set(body) - allowed
    if unknown:
        raise DirectoryError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
