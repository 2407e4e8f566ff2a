"""``syncd worker``: a Procrastinate worker running pool cycles, with /healthz, /readyz,
/metrics, a status page per pool and ``POST /webhooks/{pool}/{store}`` (store events),
until SIGTERM (the cycles in flight finish first, within ``[fleet] shutdown_timeout_seconds``)."""

from __future__ import annotations

import contextlib
import os

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..config import Settings
from ..http import SystemClock
from ..serving import start_server, stop_servers
from ..statuspage import status_routes
from .events import event_routes
from .pools import get_pool, list_pools, pool_engine, sync_default
from .status import fleet_status
from .worker import Fleet

__all__ = ["run_worker"]

log = structlog.get_logger("syncd.fleet")


def _routes(fleet: Fleet) -> list[Route]:
    main, clock = fleet.main, fleet.clock

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        try:
            with fleet.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"ready": False, "reason": f"database unreachable: {type(exc).__name__}"}, 503)
        return JSONResponse({"ready": True})

    async def metrics(request: Request) -> Response:
        with contextlib.suppress(Exception):  # the database down: the process's own series still answer
            fleet.metrics.update(fleet_status(fleet.engine, clock.wall(), main.fleet.lagging_pools), clock.wall())
        return Response(fleet.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def pools(request: Request) -> Response:
        rows = "".join(f'<li><a href="/status/{p.name}">{p.name}</a> — {p.last_outcome or "not run yet"}</li>'
                       for p in list_pools(fleet.engine))
        return HTMLResponse(f"<!doctype html><title>syncd fleet</title><h1>Pools</h1><ul>{rows}</ul>")

    async def pool_status(request: Request) -> Response:
        name = request.path_params["pool"]
        pool = get_pool(fleet.engine, name)
        if pool is None:
            return PlainTextResponse(f"no pool named {name!r}\n", status_code=404)
        engine = pool_engine(main, name)
        try:
            [overview, _] = status_routes(engine, [s["name"] for s in pool.config["stores"]], clock, None,
                                          interval_seconds=pool.interval_seconds)
            return await overview.endpoint(request)  # type: ignore[no-any-return]
        finally:
            engine.dispose()

    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
            Route("/status", pools), Route("/status/{pool}", pool_status),
            *event_routes(fleet, fleet.metrics.events)]


async def run_worker(main: Settings) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop."""
    fleet = Fleet(main, clock=SystemClock())
    try:
        async with fleet.app.open_async():
            await fleet.install()
            sync_default(fleet.engine, main, fleet.clock.wall())
            servers = [await start_server(Starlette(routes=_routes(fleet)), main.daemon.listen)]
            log.info("worker.ready", listen=main.daemon.listen, concurrency=main.fleet.concurrency, pid=os.getpid())
            try:
                await fleet.app.run_worker_async(
                    queues=["cycles", "schedule"], concurrency=main.fleet.concurrency,
                    shutdown_graceful_timeout=main.fleet.shutdown_timeout_seconds, install_signal_handlers=True,
                    update_heartbeat_interval=main.fleet.heartbeat_seconds,
                    stalled_worker_timeout=main.fleet.stalled_seconds, name=f"syncd-{os.getpid()}")
            finally:
                await stop_servers(servers)
    finally:
        fleet.close()
    log.info("worker.stopped")
    return 0

