"""Latency of a sale: how long until every other store shows it, with store events and
with polling only, and how many requests each event costs.

    python bench/latency.py [--sizes 1000,100000] [--sales 40] [--poll-sales 6] [--interval 15]   (make bench-latency)

One store on each platform that sends events (Shopify, BigCommerce, Wix V3) plus
Squarespace (order events), simulated in this process and reached through httpx's ASGI
transport; ``syncd run`` (the daemon, in this process) receives the simulators' signed
events over 127.0.0.1. After the first full sync, sales are made one at a time on a
random store; each is timed from the sale until every store shows it (polled every
10 ms). Events: the full cycle's interval is an hour, so events alone carry the sales.
Polling only: no webhook secrets, a full cycle every ``--interval`` seconds, and each
sale made at a random moment of the interval. Requests per event count every request
the daemon sent to any store during the event phase (echo cycles included), divided by
the sales. Writes bench/results/latency-<time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from syncd.config import Settings
from syncd.daemon import Daemon
from syncd.observability import configure_logging
from syncd.systemd import SystemdNotifier
from syncd.testing.emitter import attach_events
from syncd.testing.pool import Pool
from syncd.testing.serve import free_port
from syncd.testing.webhooks import EventSender, rsa_keys

HERE = Path(__file__).resolve().parent
STORES = {"sh": "shopify", "bc": "bigcommerce", "wx": "wix", "sq": "squarespace"}
SECRETS = {"sh": "shpss-bench", "bc": "bc-bench", "sq": "ab" * 16}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


async def scenario(n: int, *, events: bool, sales: int, interval: int, workdir: Path, seed: int) -> dict[str, Any]:
    stock = {f"SKU-{i:06d}": 50 for i in range(n)}
    # syncd, not the stores' limits: Shopify as on its largest plan, Wix without its 200-a-minute cap
    options = {"sh": {"restore_rate": 2000.0}, "wx": {"rate_limit_per_minute": None}}
    pool = Pool({name: (p, stock) for name, p in STORES.items()}, sim_options=options)
    for k, v in pool.env().items():
        os.environ[k] = v
    private, public = rsa_keys()
    (workdir / "wix.pem").write_text(public)
    port, hook = free_port(), free_port()
    store_options: dict[str, dict[str, Any]] = {}
    if events:
        for name, secret in SECRETS.items():
            os.environ[f"BENCH_HOOK_{name.upper()}"] = secret
            store_options[name] = {"webhook_secret_env": f"BENCH_HOOK_{name.upper()}"}
        store_options["wx"] = {"webhook_public_key_file": str(workdir / "wix.pem")}
        for name, p in STORES.items():
            attach_events(pool[name], p, EventSender(f"http://127.0.0.1:{hook}/webhooks/{name}", p,
                                                     SECRETS.get(name, private)))
    db = workdir / f"ledger-{n}-{int(events)}.db"
    for name in STORES:  # syncd, not the stores' limits: a 100,000-SKU Squarespace pull at 300/min is 6.7 min
        store_options.setdefault(name, {})["requests_per_minute"] = 10**6
    base = pool.settings(f"sqlite:///{db}", store_options=store_options)
    settings = Settings(ledger=base.ledger, stores=base.stores,
                        sync={"interval_seconds": 3600 if events else interval, "event_debounce_ms": 200},
                        daemon={"listen": f"127.0.0.1:{port}", "webhook_listen": f"127.0.0.1:{hook}"})
    counts: Counter[str] = Counter()
    transports = pool.transports(counts)
    daemon = Daemon(settings, transports=transports, notifier=SystemdNotifier({}))
    began = time.monotonic()
    task = asyncio.create_task(daemon.serve())
    rng = random.Random(seed)
    latencies: list[float] = []
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            while True:  # the first full sync
                await asyncio.sleep(0.2)
                try:
                    body = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.HTTPError:
                    continue
                if any(line.startswith('syncd_cycles_total{outcome="ok"}') and not line.endswith(" 0.0")
                       for line in body.splitlines()):
                    break
                if time.monotonic() - began > 1800:
                    raise RuntimeError("the first sync did not finish within 30 minutes")
        first_sync = time.monotonic() - began
        counts.clear()
        skus = list(stock)
        for _ in range(sales):
            if not events:
                await asyncio.sleep(rng.uniform(0, interval))  # a sale at a random moment of the interval
            seller, sku = rng.choice(list(STORES)), rng.choice(skus)
            want = pool[seller].quantity(sku) - 1
            pool[seller].sell(sku, 1)
            sold = time.monotonic()
            deadline = sold + (30 if events else 3 * interval + 600)
            while any(pool[name].quantity(sku) != want for name in STORES):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sale of {sku} on {seller} not synced: {pool.quantities(sku)}")
                await asyncio.sleep(0.01)
            latencies.append(time.monotonic() - sold)
            if events:
                await asyncio.sleep(0.5)  # let the echoes of this sale's writes come and go
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 120)
    requests = sum(counts.values())
    return {"skus": n, "mode": "events" if events else f"polling every {interval}s", "sales": sales,
            "first_sync_s": round(first_sync, 1), "p50_s": pct(latencies, 0.5), "p95_s": pct(latencies, 0.95),
            "max_s": round(max(latencies), 3), "requests_per_event": round(requests / sales, 1) if events else None,
            "requests_by_store": dict(counts) if events else None, "latencies": [round(x, 3) for x in latencies]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--sales", type=int, default=40, help="sales timed with events, per size")
    parser.add_argument("--poll-sales", type=int, default=6, help="sales timed with polling only, per size")
    parser.add_argument("--interval", type=int, default=15, help="the full cycle's interval when polling only")
    args = parser.parse_args()
    configure_logging(level="warning")  # the daemon's per-cycle lines would drown the table
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            for events, sales in ((True, args.sales), (False, args.poll_sales)):
                if not sales:
                    continue
                print(f"{n:,} SKUs, {'events' if events else 'polling only'}: {sales} sales …", file=sys.stderr)
                results.append(asyncio.run(scenario(n, events=events, sales=sales, interval=args.interval,
                                                     workdir=Path(tmp), seed=n)))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    out = HERE / "results" / f"latency-{stamp}.json"
    out.write_text(json.dumps({"when": stamp, "machine": {"python": platform.python_version(),
                                                          "cpus": os.cpu_count()}, "results": results}, indent=2))
    print("| SKUs | mode | sales | p50 | p95 | max | requests per event | first sync |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        per = "—" if r["requests_per_event"] is None else f"{r['requests_per_event']}"
        print(f"| {r['skus']:,} | {r['mode']} | {r['sales']} | {r['p50_s']} s | {r['p95_s']} s | {r['max_s']} s | "
              f"{per} | {r['first_sync_s']} s |")
    print(f"results: {out.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
