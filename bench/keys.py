"""API keys for benchmarks and tests: one tenant per plan, a pool of users with fresh keys each.

Written to the stack instance's tenants file before ``up``, so the edges know every key from
their first handshake (a key added later is only seen after the next reload).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config.settings import Settings
from tenants.directory import PLANS, Directory, Tenant, new_key, save_directory


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    user_id: str
    api_key: str


@dataclass
class Keyring:
    """Unused callers per plan; :meth:`take` hands each one out once."""

    pools: dict[str, list[Caller]] = field(default_factory=dict)

    def take(self, plan: str = "pro") -> Caller:
        pool = self.pools[plan]
        if not pool:
            raise RuntimeError(f"no unused {plan} API key left; provision more users")
        return pool.pop()


def provision(settings: Settings, users_per_plan: int, prefix: str = "user",
              tenants: tuple[Tenant, ...] = ()) -> Keyring:
    """Tenants ``<prefix>-<plan>`` (plus ``tenants``) with ``users_per_plan`` keyed users each."""
    directory = Directory({t.tenant_id: t for t in tenants})
    ring = Keyring()
    for plan in PLANS:
        tenant = Tenant(f"{prefix}-{plan}", plan, max_sessions_per_user=64,
                        messages_per_second=100_000)
        directory.tenants[tenant.tenant_id] = tenant
        ring.pools[plan] = []
        for n in range(users_per_plan):
            user = f"{plan}-{n:05d}"
            key, entry = new_key(tenant.tenant_id, user)
            directory.keys[entry.sha256] = entry
            ring.pools[plan].append(Caller(tenant.tenant_id, user, key))
    save_directory(settings.tenants_path, directory)
    return ring
