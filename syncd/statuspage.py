"""The read-only status page served by ``syncd run``: plain server-rendered HTML with inline
SVG charts, no JavaScript, no secrets; optionally behind a bearer token
(``daemon.status_token_env``). It reloads itself every ``REFRESH_SECONDS`` (a meta refresh).

    /status            the verdict, the stores, their last day, store events, the last
                       cycles, open conflicts, recent stock changes
    /status/sku/{sku}  one SKU's state and history across stores

The verdict (``statuspage_banner`` has the rules in full): FAILING when no full cycle has
finished within 3 intervals, or the last one ended in an error or could not pull any store;
DEGRADED when a store's circuit is open or its last pull failed, writes of unknown outcome
wait, conflicts are open, or the last full cycle was interrupted; OK otherwise. The interval
is ``interval_seconds`` when given, else the median gap between recent full cycles.

Every time is written one way, in UTC: ``2026-11-30 06:52:02 UTC``. Everything that came
from a store or the ledger (SKUs, errors, store names) is HTML-escaped.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .http import Clock
from .ledger.queries import (
    lag_history,
    list_conflicts,
    open_conflict_count,
    page_stores,
    recent_cycles,
    sku_history,
    writes_per_hour,
)
from .ledger.tables import JournalRow
from .statuspage_banner import Verdict, verdict
from .statuspage_charts import lag_chart, writes_chart
from .statuspage_format import span, when

__all__ = ["REFRESH_SECONDS", "render_overview", "status_routes"]

REFRESH_SECONDS = 30
CONFLICTS = 50  # open conflicts listed; `syncd conflicts` lists them all
WINDOW = timedelta(days=1)
STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1240px;margin:0 auto;padding:1.2em 1.5em 2em}
h1{font-size:1.5em;margin:.2em 0 .5em}h2{font-size:1.1em;margin:1.6em 0 .5em}
table{border-collapse:collapse;background:#fff;border:1px solid #d0d7de;margin:.3em 0 1em}
td,th{padding:.35em .7em;text-align:left;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f0f3f6;font-weight:600;white-space:nowrap}
td.n,.counts td+td{text-align:right;font-variant-numeric:tabular-nums}
tr:last-child td{border-bottom:0}.t{white-space:nowrap;font-variant-numeric:tabular-nums}
.banner{border-radius:6px;padding:.8em 1.1em;margin:.4em 0 .6em;border:1px solid;background:#fff}
.banner strong{font-size:1.35em;letter-spacing:.04em;margin-right:.6em}.banner ul{margin:.4em 0 0;padding-left:1.3em}
.banner.OK{border-color:#2e7d32;background:#e8f5e9}.banner.OK strong{color:#1b5e20}
.banner.DEGRADED{border-color:#b26a00;background:#fff4e0}.banner.DEGRADED strong{color:#8a4b00}
.banner.FAILING{border-color:#c62828;background:#fdecea}.banner.FAILING strong{color:#b71c1c}
li.FAILING{color:#b71c1c}li.DEGRADED{color:#6d3a00}.meta{color:#57606a;margin:.2em 0}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.9em;font-weight:600;color:#fff}
.b-ok{background:#2e7d32}.b-failed{background:#c77700}.b-error{background:#c62828}
.b-interrupted{background:#6e7781}.b-running{background:#1565c0}
.ok{color:#1b5e20}.bad{color:#b71c1c}.warn{color:#8a4b00}.err{color:#57606a;font-size:.9em;max-width:32em}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;
padding:.5em .8em}.card h3{font-size:1em;margin:0 0 .3em}.card svg{margin-right:.8em;vertical-align:top}
.legend span{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .8em;vertical-align:-.05em}
footer{color:#57606a;margin-top:2em;font-size:.9em}a{color:#0b5cad}
"""


def status_routes(engine: Engine, stores: list[str], clock: Clock, token: str | None,
                  events: Callable[[], dict[str, Any]] | None = None,
                  interval_seconds: float | None = None) -> list[Route]:
    """Routes for the status page; every one answers 401 without the token when one is set.
    ``events``: the daemon's store-event summary, shown when some store sends events.
    ``interval_seconds``: the full cycles' interval (else guessed from the cycles)."""

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
        return render_overview(engine, stores, clock.wall(), events() if events else None, interval_seconds)

    def sku(request: Request) -> str:
        name = request.path_params["sku"]
        return _page(f"syncd: {name}", _history(engine, name), clock.wall())

    return [Route("/status", guarded(overview)), Route("/status/sku/{sku:path}", guarded(sku))]


def render_overview(engine: Engine, stores: list[str], now: datetime, events: dict[str, Any] | None = None,
                    interval_seconds: float | None = None) -> str:
    """The whole /status page at ``now``."""
    state = page_stores(engine, stores, now)
    cycles = recent_cycles(engine, limit=12)
    fulls = recent_cycles(engine, limit=11, kind="full")
    running = any(c["outcome"] == "running" for c in cycles)
    conflicts = open_conflict_count(engine)
    v = verdict(now, state, fulls, running, conflicts, interval_seconds)
    body = (_banner(v, now, fulls) + _stores(state, now, v.stale_after)
            + _charts(stores, lag_history(engine, stores, now, WINDOW), writes_per_hour(engine, stores, now),
                      now, v.stale_after)
            + (_events(events) if events else "") + _cycles(cycles, now) + _conflicts(engine, conflicts)
            + _changes(engine))
    return _page("syncd status", body, now)


def _page(title: str, body: str, now: datetime) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
            f"<h1>{escape(title)}</h1>{body}"
            f'<footer>generated at <span class="t">{when(now)}</span> · refreshes every {REFRESH_SECONDS} s · '
            '<a href="/status">overview</a> · <a href="/metrics">metrics</a></footer></main></body></html>')


def _table(headers: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _t(ts: datetime | str | None, missing: str = "never") -> str:
    return f'<span class="t">{escape(when(ts, missing))}</span>'


def _banner(v: Verdict, now: datetime, fulls: list[dict[str, Any]]) -> str:
    reasons = "".join(f'<li class="{state}">{escape(text)}</li>' for state, text in v.reasons[:12])
    more = f"<li>and {len(v.reasons) - 12} more</li>" if len(v.reasons) > 12 else ""
    last = next((c for c in fulls if c["finished_at"] is not None), None)
    cadence = f" · stale after {span(v.stale_after)} without a full cycle" if v.stale_after else ""
    return (f'<div class="banner {v.state}"><strong>{v.state}</strong><ul>{reasons}{more}</ul></div>'
            f'<p class="meta">generated at {_t(now)} · last full cycle finished '
            f"{_t(last['finished_at'] if last else None)}{cadence}</p>")


def _health(s: dict[str, Any]) -> str:
    error = f'<div class="err">{escape(s["last_error"][:300])}</div>' if s["last_error"] else ""
    if s["circuit_open_until"]:
        return f'<span class="bad">circuit open until {_t(s["circuit_open_until"])}</span>{error}'
    if s["failures_in_a_row"]:
        return f'<span class="bad">{s["failures_in_a_row"]} failed in a row</span>{error}'
    return '<span class="ok">ok</span>'


def _stores(state: dict[str, dict[str, Any]], now: datetime, stale_after: float | None) -> str:
    rows = []
    for name, s in state.items():
        lag = (now - s["last_pull"]).total_seconds() if s["last_pull"] else None
        unsettled = ", ".join(f"{n} {escape(k.replace('_', ' '))}" for k, n in sorted(s["unsettled"].items()))
        late = lag is not None and stale_after is not None and lag > stale_after
        rows.append([f"<strong>{escape(name)}</strong>", _health(s), _t(s["last_pull"]),
                     f'<span class="bad">{span(lag)}</span>' if late else span(lag),
                     _t(s["last_push"]), f"{s['items']:,}", unsettled or "—", str(s["open_conflicts"])])
    return "<h2>Stores</h2>" + _table(["store", "health", "last pull", "lag", "last push", "items",
                                       "writes not settled", "open conflicts"], rows, frozenset({5, 7}))


def _charts(stores: list[str], lags: dict[str, list[tuple[datetime, float]]],
            writes: dict[str, list[dict[str, int]]], now: datetime, stale_after: float | None) -> str:
    cards = "".join(f'<div class="card"><h3>{escape(store)}</h3>'
                    f"{lag_chart(store, lags.get(store, []), now, WINDOW, stale_after)}"
                    f"{writes_chart(store, writes.get(store, []) or [{}] * 24, now)}</div>" for store in stores)
    legend = ('<p class="meta legend">lag: the time since the store\'s last successful pull, just before '
              'each pull' + (" (dashed: stale)" if stale_after else "") + '; writes:<span style="background:#2e7d32">'
              '</span>applied<span style="background:#c62828"></span>rejected or unknown'
              '<span style="background:#9e9e9e"></span>other</p>')
    return f"<h2>Last {WINDOW.total_seconds() / 3600:g} hours</h2>{legend}<div class=\"cards\">{cards}</div>"


def _events(summary: dict[str, Any]) -> str:
    lag = ("no event synced yet" if summary["lag_p50"] is None else
           f"event to every store in step: p50 {span(summary['lag_p50'])}, p95 {span(summary['lag_p95'])} "
           f"(last {summary['lag_samples']} events)")
    rows = [[escape(store), *(str(n) for n in counts.values())] for store, counts in summary["stores"].items()]
    outcomes = list(next(iter(summary["stores"].values()), {}))
    return (f"<h2>Store events</h2><p>{escape(lag)}; {summary['queue']} waiting</p>"
            + _table(["store", *outcomes], rows).replace("<table>", '<table class="counts">', 1))


def _cycles(recent: list[dict[str, Any]], now: datetime) -> str:
    rows = []
    for c in recent:
        end = c["finished_at"]
        took = ((end or now) - c["started_at"]).total_seconds()
        outcome = f'<span class="badge b-{escape(c["outcome"])}">{escape(c["outcome"])}</span>'
        error = f'<div class="err">{escape(c["error"][:300])}</div>' if c["error"] else ""
        failed = f' <span class="bad">+{c["stores_failed"]} failed</span>' if c["stores_failed"] else ""
        rows.append([str(c["id"]), escape(c["kind"]), f'<span class="t">{escape(c["runner"] or "—")}</span>',
                     _t(end) if end else f"running since {_t(c['started_at'])}",
                     escape(span(took)) + ("" if end else " so far"), outcome + error, f"{c['stores_pulled']}{failed}",
                     str(c["journal_rows"]), str(c["writes_applied"]), str(c["conflicts"])])
    return "<h2>Last cycles</h2>" + _table(["cycle", "kind", "runner", "finished", "duration", "outcome",
                                            "stores pulled", "changes", "writes applied", "new conflicts"], rows,
                                           frozenset({0, 4, 7, 8, 9}))


def _sku_link(sku: str | None) -> str:
    return "" if not sku else f'<a href="/status/sku/{quote(sku, safe="")}">{escape(sku)}</a>'


def _conflicts(engine: Engine, total: int) -> str:
    rows = [[escape(c["kind"]), escape(c["store"] or "*"), _sku_link(c["sku"]), escape(c["message"]),
             str(c["cycle"]), _t(c["created_at"])] for c in list_conflicts(engine, open_only=True, limit=CONFLICTS)]
    if not rows:
        return "<h2>Open conflicts</h2><p>none</p>"
    shown = (f'<p class="meta">{total} open; the newest {len(rows)} below, all of them in '
             "<code>syncd conflicts --open</code></p>" if total > len(rows) else "")
    return (f"<h2>Open conflicts</h2>{shown}"
            + _table(["kind", "store", "SKU", "message", "cycle", "since"], rows))


def _changes(engine: Engine) -> str:
    table = JournalRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        recent = conn.execute(select(table).order_by(table.c.id.desc()).limit(20)).mappings().all()
    rows = [[str(j["cycle_id"]), _t(j["created_at"]), _sku_link(j["sku"]), escape(j["store"] or "first sight"),
             f"{j['delta']:+d}", escape(j["reason"])] for j in recent]
    return "<h2>Recent stock changes</h2>" + _table(["cycle", "when", "SKU", "store", "change", "reason"], rows,
                                                    frozenset({0, 4}))


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
        events.append([str(e.cycle), _t(e.at, ""), escape(e.store or "first sight"), text])
    return (f"<p>available: <strong>{h.available}</strong></p>"
            + _table(["store", "expected", "remote id"], stores)
            + "<h2>History</h2>" + _table(["cycle", "when", "store", "event"], events))
