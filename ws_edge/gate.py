"""Who may hold a socket on this edge: the API key at the handshake, the tenant's Origin
allowlist and per-user session cap, and the tenants file re-read while sessions live.

A missing or unknown key is answered HTTP 401 before any upgrade (the cheapest answer to a
connection flood); a known key that is expired or revoked, a foreign Origin or one session too
many becomes a :class:`~tenants.directory.Refusal` that the handler turns into a 44xx close code
with a reason the plugin can show. The tenants file is re-read when it changes; a key revoked or
expired since is refused at the next re-check of each live session.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from config.settings import Settings
from tenants.directory import (
    NO_KEY,
    UNKNOWN_KEY,
    Directory,
    DirectoryError,
    Principal,
    Refusal,
    load_directory,
)
from ws_edge.ratelimit import TokenBucket, UserBudget
from ws_edge.session import EdgeLimits

log = logging.getLogger("ws_edge")

CLOSE_ORIGIN = 4403
CLOSE_TOO_MANY_SESSIONS = 4429


class Gate:
    """The tenants directory, the handshakes' verdicts and the live sessions per user."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.directory = load_directory(settings.tenants_path)
        self._stamp = _stamp(settings)
        #: Handshake verdicts, from ``process_request`` to the connection's handler.
        self._verdicts: weakref.WeakKeyDictionary[ServerConnection, Principal | Refusal] = (
            weakref.WeakKeyDictionary())
        self._user_sessions: Counter[tuple[str, str]] = Counter()
        self._tenant_buckets: dict[str, TokenBucket] = {}
        #: Per user with a live session here: what its sessions may send together.
        self._user_budgets: dict[tuple[str, str], UserBudget] = {}
        self.refused_handshakes = 0

    def handshake(self, connection: ServerConnection, request: Request, now_ms: int
                  ) -> Response | None:
        """A 401 for no key or an unknown one; otherwise the verdict waits for :meth:`enter`."""
        authorization = request.headers.get("Authorization", "")
        scheme, _, key = authorization.partition(" ")
        verdict = self.directory.authenticate(key.strip() if scheme.lower() == "bearer" else None,
                                              now_ms)
        if verdict in (NO_KEY, UNKNOWN_KEY):
            self.refused_handshakes += 1
            response = connection.respond(HTTPStatus.UNAUTHORIZED, verdict.reason + "\n")
            response.headers["WWW-Authenticate"] = 'Bearer realm="completions"'
            return response
        if isinstance(verdict, Principal):
            origin = request.headers.get("Origin")
            if origin is not None and origin not in verdict.tenant.origins:
                verdict = Refusal(CLOSE_ORIGIN, f"origin {origin[:100]} is not allowed for this "
                                  "tenant")
            elif (self._user_sessions[(verdict.tenant_id, verdict.user_id)]
                  >= verdict.tenant.max_sessions_per_user):
                verdict = Refusal(CLOSE_TOO_MANY_SESSIONS, "too many sessions for this user "
                                  f"(at most {verdict.tenant.max_sessions_per_user}); close one")
        self._verdicts[connection] = verdict
        return None

    def enter(self, connection: ServerConnection) -> Principal | Refusal:
        """The connection's principal, counted against its user's cap (call :meth:`leave`)."""
        verdict = self._verdicts.pop(connection, None)
        if not isinstance(verdict, Principal):
            self.refused_handshakes += 1
            return verdict or Refusal(4401, "not authenticated")
        user = (verdict.tenant_id, verdict.user_id)
        if self._user_sessions[user] >= verdict.tenant.max_sessions_per_user:
            self.refused_handshakes += 1  # raced with another handshake of the same user
            return Refusal(CLOSE_TOO_MANY_SESSIONS, "too many sessions for this user")
        self._user_sessions[user] += 1
        return verdict

    def leave(self, principal: Principal) -> None:
        user = (principal.tenant_id, principal.user_id)
        self._user_sessions[user] -= 1
        if self._user_sessions[user] <= 0:
            del self._user_sessions[user]
            self._user_budgets.pop(user, None)

    def user_budget(self, principal: Principal, limits: EdgeLimits, now_ms: int) -> UserBudget:
        """The frames and bytes per second shared by the principal's sessions on this edge."""
        user = (principal.tenant_id, principal.user_id)
        budget = self._user_budgets.get(user)
        if budget is None:
            budget = UserBudget.new(limits.messages_per_second, limits.user_bytes_per_second,
                                    limits.max_frame_bytes, now_ms)
            self._user_budgets[user] = budget
        return budget

    def tenant_bucket(self, principal: Principal, now_ms: int) -> TokenBucket:
        """The message rate shared by all sessions of the principal's tenant."""
        rate = principal.tenant.messages_per_second
        bucket = self._tenant_buckets.get(principal.tenant_id)
        if bucket is None:
            bucket = TokenBucket(rate, rate, now_ms)
            self._tenant_buckets[principal.tenant_id] = bucket
        return bucket

    def reload(self) -> Directory:
        """Re-read the tenants file if it changed (a broken file keeps the last good one)."""
        stamp = _stamp(self._settings)
        if stamp != self._stamp:
            try:
                self.directory = load_directory(self._settings.tenants_path)
                self._stamp = stamp
                log.info("tenants file reloaded: %d tenants, %d keys",
                         len(self.directory.tenants), len(self.directory.keys))
            except DirectoryError as error:
                log.error("tenants file not reloaded: %s", error)
        # Every time, not only on a change: a bucket made from a principal read before the
        # reload gets the tenant's current rate.
        for tenant_id, bucket in self._tenant_buckets.items():
            tenant = self.directory.tenants.get(tenant_id)
            if tenant is not None:
                bucket.set_rate(tenant.messages_per_second, tenant.messages_per_second)
        return self.directory


def _stamp(settings: Settings) -> tuple[int, int] | None:
    try:
        stat = settings.tenants_path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
