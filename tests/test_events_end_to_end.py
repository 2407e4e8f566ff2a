"""The daemon fed by simulators that send their own signed events (sales, restocks, and
syncd's own writes coming back), with duplicates, delays, reordering and bad signatures
on the way: every sale crosses to every store, echoes end, lost events are caught by the
full cycle, conservation holds. 127.0.0.1 only; every loop bounded."""

from __future__ import annotations

import asyncio
import random
import time
import zlib

import httpx
import pytest

from syncd.config import Settings
from syncd.daemon import Daemon
from syncd.ledger import Ledger, make_engine
from syncd.systemd import SystemdNotifier
from syncd.testing.emitter import attach_events
from syncd.testing.pool import Pool
from syncd.testing.serve import free_port
from syncd.testing.webhooks import EventSender, rsa_keys
from tests.helpers import assert_conserved

STOCK = {"OIL": 40, "TEA": 40, "JAM": 40}
PLATFORMS = {"sh": "shopify", "bc": "bigcommerce", "wx": "wix", "sq": "squarespace"}
PRIVATE, PUBLIC = rsa_keys()


def metric(body: str, name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name) and all(w in line for w in want))


async def converge(pool: Pool, skus: list[str], timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if all(len(set(pool.quantities(s).values())) == 1 for s in skus):
            return time.monotonic() - began
        await asyncio.sleep(0.02)
    raise AssertionError({s: pool.quantities(s) for s in skus})


async def run(tmp_path, monkeypatch, *, interval: int, knobs: dict[str, float], sales: int,
              expect_within: float) -> tuple[Pool, str, dict[str, EventSender]]:
    pool = Pool({n: (p, STOCK) for n, p in PLATFORMS.items()})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    secrets = {"sh": "shpss-secret", "bc": "bc-secret", "sq": "ab" * 16}
    for n, v in secrets.items():
        monkeypatch.setenv(f"HOOK_{n.upper()}", v)
    (tmp_path / "wix.pem").write_text(PUBLIC)
    options = {n: {"webhook_secret_env": f"HOOK_{n.upper()}"} for n in secrets}
    options["wx"] = {"webhook_public_key_file": str(tmp_path / "wix.pem")}
    url = f"sqlite:///{tmp_path}/l.db"
    port, hook = free_port(), free_port()
    senders = {n: EventSender(f"http://127.0.0.1:{hook}/webhooks/{n}", p, secrets.get(n, PRIVATE),
                              rng=random.Random(zlib.crc32(n.encode())), **knobs)
               for n, p in PLATFORMS.items()}
    for n, p in PLATFORMS.items():
        attach_events(pool[n], p, senders[n])
    base = pool.settings(url, store_options=options)
    settings = Settings(ledger=base.ledger, stores=base.stores,
                        sync={"interval_seconds": interval, "event_debounce_ms": 100},
                        daemon={"listen": f"127.0.0.1:{port}", "webhook_listen": f"127.0.0.1:{hook}"})
    daemon = Daemon(settings, transports=pool.transports(), notifier=SystemdNotifier({}))
    task = asyncio.create_task(daemon.serve())
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(600):
                try:
                    if metric((await http.get(f"http://127.0.0.1:{port}/metrics")).text, "syncd_cycles_total",
                              outcome="ok") >= 1:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
            rng = random.Random(3)
            for _ in range(sales):
                seller, sku = rng.choice(list(PLATFORMS)), rng.choice(list(STOCK))
                pool[seller].sell(sku, 1)
                await converge(pool, list(STOCK), expect_within)
            await asyncio.sleep(1.0)  # the echoes of the last writes arrive and end
            for sender in senders.values():
                await sender.drain()
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        daemon.stop.set()
        assert await asyncio.wait_for(task, 30) == 0
    return pool, metrics, senders


async def test_sales_cross_every_store_by_events_and_echoes_end(tmp_path, monkeypatch):
    """No full cycle after the first (a one-hour interval): events alone carry each sale,
    through duplicates, delays up to 300 ms (so reordering) and 10 % forged signatures."""
    pool, metrics, senders = await run(tmp_path, monkeypatch, interval=3600, sales=12, expect_within=8,
                                       knobs={"duplicate": 0.3, "delay": 0.3, "bad_signature": 0.1})
    assert metric(metrics, "syncd_cycles_total", outcome="ok") == 1
    assert metric(metrics, "syncd_events_total", outcome="echo") > 0
    assert metric(metrics, "syncd_events_total", outcome="invalid") > 0
    assert metric(metrics, "syncd_events_total", outcome="duplicate") > 0
    assert set(pool.quantities("OIL").values()) == {pool.quantities("OIL")["sq"]}
    total = sum(pool.quantities(s)["sq"] for s in STOCK)
    assert total == 3 * 40 - 12
    engine = make_engine(f"sqlite:///{tmp_path}/l.db")
    assert_conserved(Ledger(engine))
    engine.dispose()
    # The loop ends: after the last sale, no more events than the sale's echoes went out.
    assert all(s.answers.count(200) <= 3 * s.sent for s in senders.values())


@pytest.mark.parametrize("drop", [1.0])
async def test_lost_events_are_caught_by_the_full_cycle(tmp_path, monkeypatch, drop):
    """Every event lost: the full cycle (every 2 s here) still carries every sale."""
    _, metrics, _ = await run(tmp_path, monkeypatch, interval=2, sales=3, expect_within=10,
                              knobs={"drop": drop})
    assert metric(metrics, "syncd_events_total", outcome="received") == 0
    assert metric(metrics, "syncd_cycles_total", outcome="ok") >= 2
