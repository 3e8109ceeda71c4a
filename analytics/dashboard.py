"""The dashboard for admins and analysts, and the metrics API shaped like GitHub Copilot's, over
HTTP (aiohttp). The analytics process serves it (it owns the embedded engine) on
``DASHBOARD_HOST:DASHBOARD_PORT``.

Every request but the static page needs a key in ``Authorization: Bearer`` (GitHub's ``token``
scheme too): an analyst's key sees its tenant, an operator's key every tenant; a developer's,
an unknown, an expired or a revoked key is refused with the reason and nothing else. The
tenant is enforced by the engine (``analytics.scope``), not by the panels' SQL. The page keeps
the key in the tab's session storage and sends it with each call: no cookie, so no request
forged from another site can carry it.

Routes: ``/dashboard/`` (the page and its scripts; the chart library is Chart.js from npm,
installed by ``make install``, served from here: no CDN, works air-gapped),
``/dashboard/api/whoami``, ``/dashboard/api/panels``, ``/dashboard/api/panels/{name}``
(``?since&until&language&editor&model``, ``&format=csv`` for a CSV file),
``/dashboard/api/options`` (the filters' choices) and ``/orgs/{org}/copilot/metrics``
(``analytics.copilot_metrics``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from analytics import copilot_metrics
from analytics.panels import BY_NAME, PANELS, FilterError, options_sql, parse_filters, to_csv
from config.settings import Settings
from tenants.directory import Directory, DirectoryError, Principal, load_directory

log = logging.getLogger("analytics.dashboard")

#: Runs one read statement, confined to a tenant (``None``: every tenant).
Query = Callable[[str, str | None], Awaitable[dict[str, Any]]]

STATIC = Path(__file__).resolve().parent / "dashboard_static"
_PAGES = {"": "index.html", "index.html": "index.html", "dashboard.js": "dashboard.js",
          "dashboard.css": "dashboard.css"}
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
#: The page runs only its own scripts and styles, and cannot be framed.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def chart_library(settings: Settings) -> Path:
    """Where ``make install`` puts Chart.js (``infra/dashboard``'s lock)."""
    return (settings.vendor_dir / "dashboard" / "node_modules" / "chart.js" / "dist"
            / "chart.umd.js")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=_HEADERS)


def _today() -> Any:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a request gets no data: its HTTP status and the reason, said as it is."""

    status: int
    message: str


def _limits(directory: Directory, scope: str | None) -> dict[str, int]:
    """Each tenant's daily completions per user, where it has a limit (``scope``: one
    tenant's, or every tenant's)."""
    limits: dict[str, int] = {}
    for tenant in directory.tenants.values():
        limit = tenant.daily_limit()
        if limit is not None and scope in (None, tenant.tenant_id):
            limits[tenant.tenant_id] = limit
    return limits


class Dashboard:
    """The routes' handlers: who is asking, then one query per panel."""

    def __init__(self, settings: Settings, query: Query) -> None:
        self.settings = settings
        self.query = query

    def _who(self, request: web.Request) -> tuple[Principal, Directory] | Refused:
        """The key's principal and the tenants file it was checked against (read once per
        request), or why the request is refused (status and message)."""
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            return Refused(401, "missing key: send an analyst's or operator's API key as "
                                "'Authorization: Bearer <key>'")
        try:
            directory = load_directory(self.settings.tenants_path)
        except DirectoryError as error:
            # The detail names tenants and the file's path: for the operator's log, not for
            # whoever is knocking.
            log.error("the dashboard cannot read the tenants file: %s", error)
            return Refused(503, "the service cannot check keys right now (the operator's log "
                                "says why); try again later")
        verdict = directory.authenticate(key.strip(), time.time_ns() // 1_000_000,
                                         role=("analyst", "operator"))
        if not isinstance(verdict, Principal):
            return Refused(401 if verdict.code == 4401 else 403, verdict.reason)
        return verdict, directory

    @staticmethod
    def _scope(principal: Principal) -> str | None:
        return None if principal.role == "operator" else principal.tenant_id

    async def page(self, request: web.Request) -> web.StreamResponse:
        name = _PAGES.get(request.match_info.get("file", ""))
        if name is None:
            raise web.HTTPNotFound()
        path = STATIC / name
        return web.Response(body=path.read_bytes(), content_type=_TYPES[path.suffix],
                            headers=_HEADERS)

    async def vendor(self, request: web.Request) -> web.StreamResponse:
        path = chart_library(self.settings)
        if not path.exists():
            return web.Response(status=404, text="// Chart.js is not installed: run "
                                "`make install` (charts are left out; tables still show)",
                                content_type="text/javascript", headers=_HEADERS)
        return web.Response(body=path.read_bytes(), content_type="text/javascript",
                            headers=_HEADERS)

    async def whoami(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if isinstance(who, Refused):
            return _error(who.status, who.message)
        principal = who[0]
        scope = self._scope(principal)
        return web.json_response({"user": principal.user_id, "tenant": principal.tenant_id,
                                  "role": principal.role,
                                  "scope": "every tenant" if scope is None else f"tenant {scope}"},
                                 headers=_HEADERS)

    async def panels(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if isinstance(who, Refused):
            return _error(who.status, who.message)
        return web.json_response([panel.spec() for panel in PANELS], headers=_HEADERS)

    async def options(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if isinstance(who, Refused):
            return _error(who.status, who.message)
        principal = who[0]
        try:
            filters = parse_filters(request.query, _today())
            result = await self.query(options_sql(filters), self._scope(principal))
        except FilterError as error:
            return _error(400, str(error))
        except Exception as error:  # noqa: BLE001 - the engine's message is the useful answer
            return _error(500, f"the filters' choices could not be read: {str(error)[:500]}")
        languages, editors, models = result["rows"][0] if result["rows"] else ([], [], [])
        return web.json_response({"language": sorted(languages), "editor": sorted(editors),
                                  "model": sorted(models)}, headers=_HEADERS)

    async def panel(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if isinstance(who, Refused):
            return _error(who.status, who.message)
        principal, directory = who
        panel = BY_NAME.get(request.match_info["name"])
        if panel is None:
            return _error(404, f"no panel {request.match_info['name'][:64]!r}; the panels: "
                               + ", ".join(BY_NAME))
        try:
            filters = parse_filters(request.query, _today())
        except FilterError as error:
            return _error(400, str(error))
        scope = self._scope(principal)
        limits = _limits(directory, scope)
        started = time.perf_counter()
        try:
            result = await self.query(panel.sql(filters, limits), scope)
        except Exception as error:  # noqa: BLE001 - one panel fails alone, saying why
            log.warning("panel %s failed: %s", panel.name, str(error)[:300])
            return _error(500, f"this panel's query failed: {str(error).strip()[:500]}")
        if request.query.get("format") == "csv":
            name = f"{panel.name}_{filters.since}_{filters.until}.csv"
            return web.Response(
                text=to_csv(result["columns"], result["rows"]), content_type="text/csv",
                headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})
        body = orjson.dumps({**panel.spec(), "columns": result["columns"],
                             "rows": result["rows"],
                             "query_ms": round((time.perf_counter() - started) * 1000, 1)},
                            option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS)
        return web.Response(body=body, content_type="application/json", headers=_HEADERS)

    async def copilot(self, request: web.Request) -> web.Response:
        """``GET /orgs/{org}/copilot/metrics``: the org is a tenant; an analyst's key reads
        only its own (another answers 404, as GitHub does for an org one cannot see)."""
        who = self._who(request)
        if isinstance(who, Refused):
            return web.json_response({"message": who.message}, status=who.status,
                                     headers=_HEADERS)
        principal = who[0]
        org = request.match_info["org"]
        if principal.role != "operator" and org != principal.tenant_id:
            return web.json_response({"message": "Not Found"}, status=404, headers=_HEADERS)
        try:
            filters, number, per_page = copilot_metrics.parse_window(dict(request.query),
                                                                     _today())
        except FilterError as error:
            return web.json_response({"message": str(error)}, status=422, headers=_HEADERS)
        try:
            activity = await self.query(copilot_metrics.activity_sql(filters), org)
            completions = await self.query(copilot_metrics.completions_sql(filters), org)
        except Exception as error:  # noqa: BLE001
            return web.json_response({"message": f"metrics query failed: {str(error)[:500]}"},
                                     status=500, headers=_HEADERS)
        days = copilot_metrics.metrics(activity["rows"], completions["rows"])
        return web.json_response(copilot_metrics.page(days, number, per_page),
                                 headers=_HEADERS)


def dashboard_app(settings: Settings, query: Query) -> web.Application:
    handlers = Dashboard(settings, query)
    app = web.Application(client_max_size=64 * 1024)

    async def home(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/dashboard/")

    app.router.add_get("/", home)
    app.router.add_get("/dashboard", home)
    app.router.add_get("/dashboard/vendor/chart.umd.js", handlers.vendor)
    app.router.add_get("/dashboard/api/whoami", handlers.whoami)
    app.router.add_get("/dashboard/api/panels", handlers.panels)
    app.router.add_get("/dashboard/api/options", handlers.options)
    app.router.add_get("/dashboard/api/panels/{name}", handlers.panel)
    app.router.add_get("/orgs/{org}/copilot/metrics", handlers.copilot)
    app.router.add_get("/dashboard/{file:[a-z.]*}", handlers.page)
    return app
