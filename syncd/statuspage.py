"""The read-only status page served by ``syncd run``: plain server-rendered HTML, no
JavaScript, no secrets; optionally behind a bearer token (``daemon.status_token_env``).

    /status            stores and their health, the last cycles, open conflicts
    /status/sku/{sku}  one SKU's state and history across stores
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from html import escape
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .http import Clock
from .ledger.queries import list_conflicts, sku_history, store_status
from .ledger.tables import CycleRow, JournalRow

__all__ = ["status_routes"]

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}.bad{color:#a00}.ok{color:#070}"""


def status_routes(engine: Engine, stores: list[str], clock: Clock, token: str | None,
                  events: Callable[[], dict[str, Any]] | None = None) -> list[Route]:
    """Routes for the status page; every one answers 401 without the token when one is set.
    ``events``: the daemon's store-event summary, shown when some store sends events."""

    def guarded(render: Callable[[Request], str]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if token is not None:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    return PlainTextResponse("a bearer token is required\n", status_code=401,
                                             headers={"WWW-Authenticate": "Bearer"})
            return HTMLResponse(render(request))

        return endpoint

    def overview(request: Request) -> str:
        status = store_status(engine, stores, clock.wall())
        sections = _stores(status) + (_events(events()) if events else "")
        return _page("syncd status", sections + _cycles(engine) + _conflicts(engine) + _changes(engine))

    def sku(request: Request) -> str:
        name = request.path_params["sku"]
        return _page(f"syncd: {name}", _history(engine, name))

    return [Route("/status", guarded(overview)), Route("/status/sku/{sku:path}", guarded(sku))]


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            "<p><a href=\"/status\">overview</a></p></body></html>")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _stores(status: dict[str, Any]) -> str:
    rows = []
    for name, s in status["stores"].items():
        health = (f"<span class=bad>circuit open until {escape(str(s['circuit_open_until']))}</span>"
                  if s["circuit_open_until"] else
                  f"<span class=bad>{s['failures_in_a_row']} failure(s) in a row: {escape(str(s['last_error']))}</span>"
                  if s["failures_in_a_row"] else "<span class=ok>ok</span>")
        writes = ", ".join(f"{escape(k)} {v}" for k, v in sorted(s["writes"].items())) or "—"
        rows.append([escape(name), escape(s["last_pull"] or "never"), escape(s["last_push"] or "never"),
                     str(s["items"]), writes, str(s["open_conflicts"]), health])
    return "<h2>Stores</h2>" + _table(["store", "last pull", "last push", "items", "writes", "open conflicts",
                                       "health"], rows)


def _events(summary: dict[str, Any]) -> str:
    lag = ("no event synced yet" if summary["lag_p50"] is None else
           f"event to every store in step: p50 {summary['lag_p50']} s, p95 {summary['lag_p95']} s "
           f"(last {summary['lag_samples']} events)")
    rows = [[escape(store), *(str(n) for n in counts.values())] for store, counts in summary["stores"].items()]
    outcomes = list(next(iter(summary["stores"].values()), {}))
    return (f"<h2>Store events</h2><p>{escape(lag)}; {summary['queue']} waiting</p>"
            + _table(["store", *outcomes], rows))


def _cycles(engine: Engine) -> str:
    table = CycleRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        recent = conn.execute(select(table).order_by(table.c.id.desc()).limit(10)).mappings().all()
    rows = [[str(c["id"]), escape(c["kind"]), escape(str(c["started_at"])), escape(c["outcome"]),
             str(c["stores_pulled"]), str(c["journal_rows"]), str(c["writes_applied"]), str(c["conflicts"])]
            for c in recent]
    return "<h2>Last cycles</h2>" + _table(["cycle", "kind", "started", "outcome", "stores pulled", "changes",
                                            "writes applied", "new conflicts"], rows)


def _sku_link(sku: str | None) -> str:
    return "" if not sku else f'<a href="/status/sku/{quote(sku, safe="")}">{escape(sku)}</a>'


def _conflicts(engine: Engine) -> str:
    rows = [[escape(c["kind"]), escape(c["store"] or "*"), _sku_link(c["sku"]), escape(c["message"]),
             str(c["cycle"])] for c in list_conflicts(engine, open_only=True, limit=200)]
    return "<h2>Open conflicts</h2>" + (_table(["kind", "store", "SKU", "message", "cycle"], rows)
                                        if rows else "<p>none</p>")


def _changes(engine: Engine) -> str:
    table = JournalRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        recent = conn.execute(select(table).order_by(table.c.id.desc()).limit(20)).mappings().all()
    rows = [[str(j["cycle_id"]), _sku_link(j["sku"]), escape(j["store"] or "first sight"),
             f"{j['delta']:+d}", escape(j["reason"])] for j in recent]
    return "<h2>Recent stock changes</h2>" + _table(["cycle", "SKU", "store", "change", "reason"], rows)


def _history(engine: Engine, sku: str) -> str:
    h = sku_history(engine, sku)
    if h.available is None and not h.events:
        return f"<p>SKU {escape(sku)} is not in the ledger.</p>"
    stores = [[escape(store), escape(str(state["expected"] if state["expected"] is not None else "unlimited")),
               escape(state["remote_id"])] for store, state in sorted(h.stores.items())]
    events = []
    for e in h.events:
        if e.what == "journal":
            text = f"{escape(e.detail['reason'])} {e.detail['delta']:+d}"
        else:
            text = (f"write {e.detail['before']} → {e.detail['target']} ({e.detail['change']:+d}): "
                    f"{escape(e.detail['status'])}")
        events.append([str(e.cycle), escape(e.at or ""), escape(e.store or "first sight"), text])
    return (f"<p>available: <strong>{h.available}</strong></p>"
            + _table(["store", "expected", "remote id"], stores)
            + "<h2>History</h2>" + _table(["cycle", "when", "store", "event"], events))
