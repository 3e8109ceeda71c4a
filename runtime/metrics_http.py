"""``GET /metrics`` over HTTP for a process's :class:`~runtime.metrics.Registry`, on a port of
its own (the workers'; the edges' when their metrics must not face clients)."""

from __future__ import annotations

from aiohttp import web

from runtime.metrics import Registry


async def serve_metrics(registry: Registry, port: int, host: str = "127.0.0.1"
                        ) -> web.AppRunner:
    """Serve ``registry`` on ``host:port`` (Prometheus text format) until the runner is
    cleaned up."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(text=registry.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()  # e.g. the port is taken: nothing is left open
        raise
    return runner
