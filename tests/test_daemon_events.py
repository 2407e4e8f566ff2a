"""`syncd run` with store events: a signed event reaches the webhook port, a targeted
cycle carries the sale to every store in seconds; forged, duplicated and echoed events
are counted and change nothing. 127.0.0.1 only; every wait bounded."""

from __future__ import annotations

import asyncio
import time

import httpx

from syncd.config import Settings
from syncd.daemon import Daemon
from syncd.ledger import Ledger, make_engine
from syncd.systemd import SystemdNotifier
from syncd.testing.pool import Pool
from syncd.testing.serve import free_port
from syncd.testing.webhooks import signed

STOCK = {"OIL": 10, "TEA": 5}
SECRETS = {"sh": "shpss_secret", "bc": "bc-hook-secret"}


def metric(body: str, name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name) and all(w in line for w in want))


async def until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def test_a_store_event_carries_a_sale_to_every_store_in_seconds(tmp_path, monkeypatch):
    pool = Pool({"sh": ("shopify", STOCK), "bc": ("bigcommerce", STOCK), "sq": ("squarespace", STOCK)})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    for name, secret in SECRETS.items():
        monkeypatch.setenv(f"HOOK_{name.upper()}", secret)
    url = f"sqlite:///{tmp_path}/l.db"
    base = pool.settings(url, store_options={n: {"webhook_secret_env": f"HOOK_{n.upper()}"} for n in SECRETS})
    port, hook_port = free_port(), free_port()
    settings = Settings(ledger=base.ledger, stores=base.stores,
                        sync={"interval_seconds": 3600, "event_debounce_ms": 50},
                        daemon={"listen": f"127.0.0.1:{port}", "webhook_listen": f"127.0.0.1:{hook_port}"})
    daemon = Daemon(settings, transports=pool.transports(), notifier=SystemdNotifier({}))
    task = asyncio.create_task(daemon.serve())
    engine = make_engine(url)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            async def first_cycle_done() -> bool:
                try:
                    body = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.HTTPError:
                    return False
                return metric(body, "syncd_cycles_total", outcome="ok") >= 1

            await until(first_cycle_done, 30, "the first full cycle")
            item = Ledger(engine).load_snapshot().store("sh")["OIL"].remote_id
            pool["sh"].sell("OIL", 3)
            body, headers = signed("shopify", {"inventory_item_id": int(item.rsplit("/", 1)[1]), "available": 7},
                                   SECRETS["sh"], topic="inventory_levels/update", event_id="evt-1")
            began = time.monotonic()
            hook = f"http://127.0.0.1:{hook_port}/webhooks/sh"
            assert (await http.post(hook, content=body, headers=headers)).status_code == 200
            assert (await http.post(hook, content=body, headers=headers)).status_code == 200  # a duplicate

            async def synced() -> bool:
                return set(pool.quantities("OIL").values()) == {7}

            await until(synced, 10, "the sale on every store")
            assert time.monotonic() - began < 5
            forged, fheaders = signed("shopify", {"inventory_item_id": 1}, "not-the-secret",
                                      topic="inventory_levels/update")
            assert (await http.post(hook, content=forged, headers=fheaders)).status_code == 401
            # The webhook port serves nothing else; the private port serves no webhooks.
            assert (await http.get(f"http://127.0.0.1:{hook_port}/metrics")).status_code == 404
            assert (await http.post(f"http://127.0.0.1:{port}/webhooks/sh", content=body,
                                    headers=headers)).status_code == 404
            # syncd's own write to bc comes back as bc's event: re-read, found in step, counted as an echo.
            bc_item = Ledger(engine).load_snapshot().store("bc")["OIL"].remote_id
            echo, eheaders = signed("bigcommerce", {"scope": "store/sku/inventory/updated", "hash": "h-echo",
                                                    "data": {"type": "sku", "id": int(bc_item[1:])}},
                                    SECRETS["bc"])
            assert (await http.post(f"http://127.0.0.1:{hook_port}/webhooks/bc", content=echo,
                                    headers=eheaders)).status_code == 200

            async def echoed() -> bool:
                body = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                return metric(body, "syncd_events_total", store="bc", outcome="echo") == 1

            await until(echoed, 10, "the echo to be counted")
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            assert metric(metrics, "syncd_events_total", store="sh", outcome="received") == 1
            assert metric(metrics, "syncd_events_total", store="sh", outcome="duplicate") == 1
            assert metric(metrics, "syncd_events_total", store="sh", outcome="invalid") == 1
            assert metric(metrics, "syncd_event_to_sync_seconds_count") == 2
            assert metric(metrics, "syncd_cycles_total", outcome="ok") == 1  # the full cycle ran once
            assert set(pool.quantities("OIL").values()) == {7}
            assert SECRETS["sh"] not in metrics
            page = (await http.get(f"http://127.0.0.1:{port}/status")).text
            assert "Store events" in page and "event to every store in step: p50" in page
            assert "<td>targeted</td>" in page
    finally:
        daemon.stop.set()
        assert await asyncio.wait_for(task, 30) == 0
        engine.dispose()


def test_the_status_page_shows_the_event_lag_and_counts():
    from syncd.statuspage import _events

    html = _events({"stores": {"sh": {"received": 3, "echo": 1}}, "queue": 2, "lag_p50": 0.4, "lag_p95": 1.2,
                    "lag_samples": 3})
    assert "p50 0.4 s, p95 1.2 s" in html and "2 waiting" in html and "<td>sh</td><td>3</td><td>1</td>" in html
