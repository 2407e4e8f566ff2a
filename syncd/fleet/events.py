"""Store events in a fleet: ``POST /webhooks/{pool}/{store}`` on any worker.

The event is verified with that pool's store's secret (a reference, read on the worker
like tokens), its items are written to ``fleet_event``, and one ``syncd.pool_targeted``
job is queued for the pool with the pool's lock (so it never runs beside the pool's full
cycle) and a queueing lock of its own: events that arrive while a targeted job waits are
taken by it; those that arrive while it runs queue the next one. The job takes every
waiting event of its pool at once (``DELETE … RETURNING``) and runs one targeted cycle.
Nothing is lost: an event's rows are deleted only by the job that reads them, and the
full cycle stays the safety net.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy import Engine, insert, text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..config import resolve_webhook_secret
from ..errors import ConfigError
from ..ledger.tables import FleetEventRow
from ..webhooks import Invalid, Malformed, parse_event, verify
from ..webhooks.receiver import MAX_BODY

__all__ = ["event_routes", "take_events"]

log = structlog.get_logger("syncd.fleet")
EVENT = FleetEventRow.__table__  # type: ignore[attr-defined]


def take_events(engine: Engine, pool: str) -> tuple[dict[str, set[str]], dict[str, set[str]], int]:
    """Every waiting event of the pool, removed: (ids by store, refs by store, events)."""
    ids: dict[str, set[str]] = {}
    refs: dict[str, set[str]] = {}
    with engine.begin() as conn:
        rows = conn.execute(text("DELETE FROM fleet_event WHERE pool = :p RETURNING store, kind, ref"),
                            {"p": pool}).all()
    for store, kind, ref in rows:
        (ids if kind == "id" else refs).setdefault(store, set()).add(ref)
    return ids, refs, len(rows)


def event_routes(fleet: object, counter: Counter) -> list[Route]:
    """The webhook route of a worker (``fleet``: the ``Fleet`` whose queue takes the jobs)."""
    from .pools import get_pool, pool_settings
    from .worker import Fleet

    assert isinstance(fleet, Fleet)

    async def receive(request: Request) -> Response:
        pool_name, store_name = request.path_params["pool"], request.path_params["store"]
        pool = get_pool(fleet.engine, pool_name)
        stores = {s.name: s for s in pool_settings(fleet.main, pool.config).stores} if pool is not None else {}
        store = stores.get(store_name)
        try:
            secret = resolve_webhook_secret(store) if store is not None else None
        except ConfigError as exc:
            log.error("fleet.event_secret_unreadable", pool=pool_name, store=store_name, error=str(exc))
            return JSONResponse({"error": "this worker cannot read the store's webhook secret"}, 503,
                                headers={"Retry-After": "60"})
        if store is None or secret is None:
            return JSONResponse({"error": "no such pool or store, or it is polled only"}, 404)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, 413)
        try:
            claims = verify(store.platform, body, request.headers, secret.get_secret_value(),
                            header=store.webhook_header)
        except Invalid as exc:
            counter.labels("invalid").inc()
            log.warning("fleet.event_invalid", pool=pool_name, store=store_name, reason=str(exc))
            return JSONResponse({"error": "signature does not verify"}, 401)
        try:
            event = parse_event(store.platform, store_name, body, request.headers, claims)
        except Malformed as exc:
            counter.labels("malformed").inc()
            return JSONResponse({"error": str(exc)}, 400)
        if not (event.ids or event.refs):
            counter.labels("ignored").inc()
            return JSONResponse({"ok": True, "outcome": "ignored"})
        now: datetime = fleet.clock.wall()
        with fleet.engine.begin() as conn:
            conn.execute(insert(EVENT), [{"pool": pool_name, "store": store_name, "kind": kind, "ref": ref,
                                          "received_at": now}
                                         for kind, refs in (("id", event.ids), ("ref", event.refs)) for ref in refs])
        await fleet.enqueue_targeted(pool_name)
        counter.labels("received").inc()
        return JSONResponse({"ok": True, "outcome": "queued"})

    return [Route("/webhooks/{pool}/{store}", receive, methods=["POST"])]
