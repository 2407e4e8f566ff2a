"""The status page of `syncd run`: content, escaping, no secrets, the optional token, the
OK / DEGRADED / FAILING verdict, the SVG charts, one form of timestamp, staying light on a
big ledger, and a real headless Chromium that loads it, follows a SKU link and takes
screenshots (``SYNCD_STATUS_SCREENSHOT``, default /tmp/status-page.png, and the same name
with ``-day``: a day of made-up history)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, insert
from starlette.applications import Starlette

from syncd.config import Settings
from syncd.daemon import Daemon
from syncd.ledger import Breaker, CycleCounts, Ledger
from syncd.ledger.tables import ConflictRow, CycleRow, OutboxRow, SkuRow, StoreItemRow, StorePullRow
from syncd.statuspage import render_overview, status_routes
from syncd.systemd import SystemdNotifier
from syncd.testing import FakeClock
from syncd.testing.pool import SquarespacePool
from syncd.testing.serve import free_port

HOSTILE = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def running_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token_env: str | None = None
                         ) -> AsyncIterator[tuple[str, SquarespacePool]]:
    pool = SquarespacePool({"north": {"OIL": 10, HOSTILE: 3}, "south": {"OIL": 8}})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    port = free_port()
    base = pool.settings(f"sqlite:///{tmp_path}/l.db")
    daemon_cfg = {"listen": f"127.0.0.1:{port}", "status_token_env": token_env}
    settings = Settings(ledger=base.ledger, sync={"interval_seconds": 3600}, stores=base.stores, daemon=daemon_cfg)
    daemon = Daemon(settings, transports=pool.transports(), notifier=SystemdNotifier({}))
    task = asyncio.create_task(daemon.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        for _ in range(200):
            try:
                if "syncd_cycles_total{" in (await http.get("/metrics")).text:
                    break
            except httpx.ConnectError:
                pass
            await asyncio.sleep(0.05)
    try:
        yield url, pool
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def daemon_url(tmp_path, monkeypatch) -> AsyncIterator[tuple[str, SquarespacePool]]:
    async for value in running_daemon(tmp_path, monkeypatch):
        yield value


async def test_the_page_shows_stores_cycles_conflicts_and_sku_history(daemon_url):
    """Plain HTML: stores and health, the last cycles, open conflicts, a SKU's history."""
    url, pool = daemon_url
    async with httpx.AsyncClient(base_url=url) as http:
        page = (await http.get("/status")).text
        assert "<h2>Stores</h2>" in page and "north" in page and "south" in page
        assert "<h2>Last cycles</h2>" in page and "<h2>Open conflicts</h2>" in page
        assert "missing" in page  # the hostile SKU is only in north
        assert "<script" not in page.lower() and "&lt;script&gt;" in page  # escaped, never run
        assert not any(sim.token in page for sim in pool.sims.values())
        oil = (await http.get("/status/sku/OIL")).text
        assert "available: <strong>8</strong>" in oil and "seed:min" in oil
        assert "not in the ledger" in (await http.get("/status/sku/NOPE")).text


async def test_the_page_can_require_a_bearer_token(tmp_path, monkeypatch):
    """With daemon.status_token_env set: 401 without the token, 200 with it."""
    monkeypatch.setenv("SYNCD_STATUS_TOKEN", "let-me-in-0123")
    async for url, _ in running_daemon(tmp_path, monkeypatch, token_env="SYNCD_STATUS_TOKEN"):
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/status")).status_code == 401
            wrong = await http.get("/status", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await http.get("/status", headers={"Authorization": "Bearer let-me-in-0123"})
            assert ok.status_code == 200 and "let-me-in" not in ok.text
            assert (await http.get("/healthz")).status_code == 200  # probes stay open


async def chromium(*args: str, profile: Path) -> str:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)")
async def test_headless_chromium_loads_the_page_follows_a_sku_link_and_screenshots(daemon_url, tmp_path):
    """A real browser renders the page without JavaScript, a SKU link leads to its history."""
    url, _ = daemon_url
    dom = await chromium("--dump-dom", f"{url}/status", profile=tmp_path / "p1")
    assert "<h1>syncd status</h1>" in dom
    links = re.findall(r'href="(/status/sku/[^"]+)"', dom)
    assert "/status/sku/OIL" in links
    sku_dom = await chromium("--dump-dom", f"{url}/status/sku/OIL", profile=tmp_path / "p2")
    assert "<h1>syncd: OIL</h1>" in sku_dom and "available:" in sku_dom
    shot = Path(os.environ.get("SYNCD_STATUS_SCREENSHOT", "/tmp/status-page.png"))
    await chromium(f"--screenshot={shot}", "--window-size=1280,1000", f"{url}/status", profile=tmp_path / "p3")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)")
async def test_headless_chromium_renders_a_day_of_history(engine, tmp_path):
    """A day with an outage, failed writes and an open conflict: charts and all, as a browser shows it."""
    ledger = Ledger(engine)
    day_of_history(ledger, outage=True)
    page = tmp_path / "day.html"
    page.write_text(render_overview(engine, STORES, NOW, EVENTS, 300))
    dom = await chromium("--dump-dom", page.as_uri(), profile=tmp_path / "p1")
    assert dom.count("<svg") == 2 * len(STORES) and "DEGRADED" in dom and "<script" not in dom.lower()
    assert "south: 1 write of unknown outcome" in dom
    shot = Path(os.environ.get("SYNCD_STATUS_SCREENSHOT", "/tmp/status-page.png"))
    shot = shot.with_name(f"{shot.stem}-day{shot.suffix}")
    await chromium(f"--screenshot={shot}", "--window-size=1280,1200", page.as_uri(), profile=tmp_path / "p2")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


# --- a ledger filled through the public Ledger API (and plain inserts for the outbox) ------

NOW = datetime(2026, 11, 30, 6, 52, 2, tzinfo=UTC)
STORES = ["north", "south"]
EVENTS = {"stores": {"north": {"applied": 41, "echo": 12, "ignored": 3}, "south": {"applied": 0, "echo": 0,
                                                                                  "ignored": 0}},
          "queue": 0, "lag_p50": 1.4, "lag_p95": 3.2, "lag_samples": 41}
COUNTS = dict.fromkeys(("stores_pulled", "stores_failed", "observations", "journal_rows", "writes_planned",
                        "writes_applied", "writes_rejected", "writes_unknown", "conflicts"), 0)
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def full_cycle(ledger: Ledger, at: datetime, failed: dict[str, str] | None = None, outcome: str | None = None,
               runner: str = "web-1:4242", error: str | None = None) -> int:
    """One full cycle started at ``at`` that pulls every store but ``failed`` (store → error)."""
    failed = failed or {}
    breaker, health = Breaker(), ledger.health()
    cid = ledger.start_cycle(at, "full", runner)
    end = at + timedelta(seconds=20)
    tried = {s: e for s, e in {s: failed.get(s) for s in STORES}.items() if not breaker.is_open(health.get(s), at)}
    pulls = {s: (at + timedelta(seconds=5 + i), e) for i, (s, e) in enumerate(tried.items())}
    updated = {s: breaker.after(health.get(s), s, e, end if e else pulls[s][0]) for s, e in tried.items()}
    bad = len(STORES) - sum(1 for e in tried.values() if e is None)
    counts = CycleCounts(outcome=outcome or ("error" if error else "failed" if bad else "ok"),
                         exit_code=1 if bad or error else 0, stores_pulled=len(STORES) - bad, stores_failed=bad,
                         error=error)
    ledger.finish_cycle(cid, counts, end, {} if error else updated, {} if error else pulls)
    return cid


def writes(ledger: Ledger, cid: int, at: datetime, store: str, statuses: list[str], sku: str = "OIL") -> None:
    if not statuses:
        return
    with ledger.engine.begin() as conn:
        conn.execute(insert(OutboxRow.__table__), [  # type: ignore[attr-defined]
            {"cycle_id": cid, "store": store, "sku": sku, "remote_id": "r1", "mode": "set", "before": 5, "target": 4,
             "delta": -1, "request_key": f"k{cid}{store}{i}", "status": status, "attempts": 1,
             "created_at": at, "updated_at": at + timedelta(seconds=10)} for i, status in enumerate(statuses)])


def conflict(ledger: Ledger, cid: int, sku: str = HOSTILE) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(insert(ConflictRow.__table__).values(  # type: ignore[attr-defined]
            cycle_id=cid, kind="oversold", store="north", sku=sku, subject=sku, fingerprint=f"oversold:{sku}",
            message=f"{sku} sold more than it had", data="{}", status="open", created_at=NOW - timedelta(hours=3)))


def day_of_history(ledger: Ledger, outage: bool = False, every: int = 300) -> None:
    """A day of full cycles every ``every`` s (two replicas), a targeted one now and then,
    writes on each; with ``outage``, south fails from 14 h to 10 h ago (its circuit opens)."""
    rng = random.Random(7)
    t = NOW - timedelta(days=1)
    while t < NOW - timedelta(seconds=every // 2):
        ago = NOW - t
        down = outage and timedelta(hours=10) < ago < timedelta(hours=14)
        cid = full_cycle(ledger, t, {"south": "HTTP 503 from <api>"} if down else None,
                         runner="web-1:4242" if rng.random() < 0.7 else "web-2:977")
        for store in STORES:
            if store == "south" and down:
                continue
            busy = 1 + abs(12 - ago.total_seconds() / 3600) / 2  # quiet at night
            n = rng.randrange(int(4 * busy) + 1)
            writes(ledger, cid, t, store, ["applied"] * n + (["rejected"] if rng.random() < 0.03 else []))
        if rng.random() < 0.1:
            tid = ledger.start_cycle(t + timedelta(seconds=90), "targeted", "web-1:4242")
            ledger.finish_cycle(tid, CycleCounts("ok", 0, stores_pulled=1, journal_rows=1, writes_applied=1),
                                t + timedelta(seconds=91))
        t += timedelta(seconds=every)
    tid = ledger.start_cycle(NOW - timedelta(seconds=70), "targeted", "web-2:977")
    ledger.finish_cycle(tid, CycleCounts("ok", 0, stores_pulled=1, journal_rows=2, writes_applied=2),
                        NOW - timedelta(seconds=69, milliseconds=300))
    if outage:
        conflict(ledger, cid)
        writes(ledger, cid, NOW - timedelta(minutes=5), "south", ["unknown"], sku="OIL")


def page(engine, interval: float | None = None, events: dict | None = None) -> str:
    return render_overview(engine, STORES, NOW, events, interval)


def banner(html: str) -> tuple[str, list[str]]:
    m = re.search(r'<div class="banner (\w+)"><strong>(\w+)</strong><ul>(.*?)</ul></div>', html)
    assert m is not None and m[1] == m[2]
    return m[1], re.findall(r"<li[^>]*>(.*?)</li>", m[3])


def test_the_verdict_is_ok_when_the_last_full_cycle_pulled_every_store(ledger, engine):
    full_cycle(ledger, NOW - timedelta(minutes=10))
    full_cycle(ledger, NOW - timedelta(minutes=5))
    state, reasons = banner(page(engine, interval=300))
    assert state == "OK" and reasons == [f"every store in step: cycle 2 finished {when_(NOW, -280)}"]


def when_(at: datetime, seconds: float) -> str:
    return (at + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_verdict_is_degraded_by_an_open_circuit_and_names_the_store(ledger, engine):
    for i in range(6):  # 5 failures in a row open the circuit, for 30 s; the 6th, for 60 s
        full_cycle(ledger, NOW - timedelta(minutes=6 - i), {"south": "HTTP 503 from <api>"})
    state, reasons = banner(html := page(engine, interval=60))
    assert state == "DEGRADED"
    assert any(r.startswith("south: circuit open until 2026-11-30 ") and "6 failed pulls in a row: HTTP 503 from "
               "&lt;api&gt;" in r for r in reasons), reasons
    assert not any(r.startswith("north") for r in reasons)
    assert "circuit open until" in html and "<api>" not in html


def test_the_verdict_is_degraded_by_a_failed_pull_unknown_writes_and_open_conflicts(ledger, engine):
    cid = full_cycle(ledger, NOW - timedelta(minutes=1), {"north": "timed out"})
    writes(ledger, cid, NOW, "south", ["unknown", "in_flight", "applied"])
    conflict(ledger, cid)
    state, reasons = banner(page(engine, interval=60))
    assert state == "DEGRADED"
    assert "north: its last pull failed: timed out" in reasons
    assert "south: 2 writes of unknown outcome, to be settled before its next pull" in reasons
    assert "1 open conflict (listed below)" in reasons
    ledger.start_cycle(NOW, "targeted", "web-1:1")  # a cycle pushing: its writes in flight are no news
    assert "south: 1 write of unknown outcome, to be settled before its next pull" in banner(page(engine, 60))[1]


def test_the_verdict_is_failing_after_a_cycle_that_ended_in_an_error(ledger, engine):
    full_cycle(ledger, NOW - timedelta(minutes=2))
    full_cycle(ledger, NOW - timedelta(minutes=1), error="ledger: database is locked <again>")
    state, reasons = banner(page(engine, interval=60))
    assert state == "FAILING"
    assert reasons[0].startswith("the last full cycle (2, 2026-11-30 06:51:22 UTC) ended in an error: database"[:40])
    assert "&lt;again&gt;" in reasons[0]


def test_the_verdict_is_failing_when_no_store_could_be_pulled(ledger, engine):
    full_cycle(ledger, NOW - timedelta(minutes=1), {"north": "401", "south": "401"})
    state, reasons = banner(page(engine, interval=60))
    assert state == "FAILING" and "could not pull any store (2 stores failed or skipped)" in reasons[0]


def test_the_verdict_is_failing_when_no_full_cycle_finished_for_three_intervals(ledger, engine):
    for minutes in (40, 35, 30, 25, 20):
        full_cycle(ledger, NOW - timedelta(minutes=minutes))
    assert banner(page(engine, interval=600))[0] == "OK"  # 20 min < 3 × 10 min
    state, reasons = banner(page(engine, interval=300))
    assert state == "FAILING" and reasons[0].startswith("no full cycle has finished for 19 min 40 s")
    assert "expected within 15 min" in reasons[0]
    assert banner(page(engine))[0] == "FAILING"  # the interval guessed from the cycles: 5 min
    assert banner(render_overview(engine, STORES, NOW - timedelta(minutes=10)))[0] == "OK"


def test_the_verdict_before_the_first_full_cycle(ledger, engine):
    assert banner(page(engine, 60)) == ("FAILING", ["no full cycle has run yet"])
    ledger.start_cycle(NOW - timedelta(seconds=30), "full", "web-1:1")
    assert banner(page(engine, 60)) == ("DEGRADED", ["the first full cycle is still running (since "
                                                     "2026-11-30 06:51:32 UTC)"])


def test_the_charts_are_well_formed_svg_with_a_day_of_lag_and_writes(ledger, engine):
    day_of_history(ledger, outage=True)
    html = page(engine, interval=300)
    svgs = [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, re.S)]
    assert len(svgs) == 2 * len(STORES)
    ns = "{http://www.w3.org/2000/svg}"
    lag = {svg.attrib["aria-label"].split(":")[0]: svg for svg in svgs if "lag" in svg.attrib["aria-label"]}
    for svg in lag.values():
        points = [tuple(map(float, p.split(","))) for p in svg.find(f"{ns}polyline").attrib["points"].split()]
        assert 100 <= len(points) <= 146 and points == sorted(points, key=lambda p: p[0])
        assert all(0 <= x <= 240 and 0 <= y <= 64 for x, y in points)
    south = "".join(lag["south"].itertext())
    assert "max 4 h" in south  # the outage: four hours without a successful pull
    bars = [svg for svg in svgs if "writes" in svg.attrib["aria-label"]]
    for svg in bars:
        assert len(svg.findall(f"{ns}rect")) >= 24 and "in 24 h" in "".join(svg.itertext())
    assert any(r.attrib["fill"] == "#c62828" for svg in bars for r in svg.findall(f"{ns}rect"))  # rejected


async def test_every_timestamp_has_one_form_and_the_page_refreshes_itself(ledger, engine):
    day_of_history(ledger, outage=True)
    app = Starlette(routes=status_routes(engine, STORES, FakeClock(NOW), None, events=lambda: EVENTS,
                                         interval_seconds=300))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://page") as http:
        html = (await http.get("/status")).text
        sku = (await http.get("/status/sku/OIL")).text
    for text in (html, sku):
        assert '<meta http-equiv="refresh" content="30">' in text
        assert f"generated at <span class=\"t\">{when_(NOW, 0)}</span>" in text
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d|\d\d:\d\d:\d\d[.+]|\d\d:\d\d:\d\d(?! UTC)", text)
    assert len(STAMP.findall(html)) > 30 and len(STAMP.findall(sku)) > 100
    assert "<script" not in html.lower() and "&lt;script&gt;" in html
    cycles = html.split("<h2>Last cycles</h2>")[1].split("</table>")[0]
    assert ('<td>targeted</td><td><span class="t">web-2:977</span></td><td><span class="t">2026-11-30 06:50:52 UTC'
            '</span></td><td class="n">0.7 s</td><td><span class="badge b-ok">ok</span></td>') in cycles
    assert '<td>full</td><td><span class="t">web-1:4242</span></td>' in cycles and ">20 s</td>" in cycles
    assert "p50 1.4 s, p95 3.2 s" in html  # the store events


def test_the_page_stays_light_at_100000_skus_and_a_week_of_cycles(ledger, engine):
    """A week of full cycles every minute over 100,000 SKUs: a few dozen statements, well under a second."""
    n, week = 100_000, 7 * 24 * 60
    start = NOW - timedelta(days=7)
    with engine.begin() as conn:
        conn.execute(insert(SkuRow.__table__), [  # type: ignore[attr-defined]
            {"sku": f"S{i:06d}", "available": 5, "seeded_cycle": 1, "updated_cycle": 1} for i in range(n)])
        for store in STORES:
            conn.execute(insert(StoreItemRow.__table__), [  # type: ignore[attr-defined]
                {"store": store, "sku": f"S{i:06d}", "remote_id": f"r{i}", "expected": 5, "updated_cycle": 1}
                for i in range(n)])
        conn.execute(insert(CycleRow.__table__), [  # type: ignore[attr-defined]
            {"started_at": start + timedelta(minutes=k), "finished_at": start + timedelta(minutes=k, seconds=20),
             "outcome": "ok", "exit_code": 0, "kind": "full", "runner": "web-1:1", **COUNTS, "stores_pulled": 2}
            for k in range(week)])
        conn.execute(insert(StorePullRow.__table__), [  # type: ignore[attr-defined]
            {"cycle_id": k + 1, "store": s, "at": start + timedelta(minutes=k, seconds=9), "ok": True}
            for k in range(week) for s in STORES])
        conn.execute(insert(OutboxRow.__table__), [  # type: ignore[attr-defined]
            {"cycle_id": k + 1, "store": s, "sku": f"S{(k * 7 + j) % n:06d}", "remote_id": "r", "mode": "set",
             "before": 5, "target": 4, "delta": -1, "request_key": f"{k}{s}", "status": "applied", "attempts": 1,
             "created_at": start + timedelta(minutes=k), "updated_at": start + timedelta(minutes=k, seconds=15)}
            for k in range(week) for s in STORES for j in range(10)])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    began = time.perf_counter()
    html = page(engine, interval=60)
    took = time.perf_counter() - began
    assert len(statements) < 60, statements
    assert took < 3, took  # about 0.1 s on a laptop; generous for a busy CI machine
    assert "14400 in 24 h" in html and "100,000" in html
