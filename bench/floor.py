"""Rate-limit floor: how close a cycle gets to what each store's documented limit allows.

    python bench/floor.py [--platforms squarespace,bigcommerce,…] [--interval 300]    (make bench-floor)

Each platform's simulator enforces that platform's documented limit:

    squarespace  300 requests/min, a token bucket of 300 (429 → 60 s lockout)
    bigcommerce  150 requests per 30 s window (Standard/Plus)
    saasignal    a token bucket of 10 requests/s, burst 10 (Free plan)
    shopify      a 2,000-point query-cost bucket refilling at 100 points/s
    wix          200 requests per sliding minute (Catalog V1: the catalogue that needs most requests)

Time is virtual: handling a request takes no simulated time, and the clock jumps to the
next wake-up only when every task is waiting (a time compression factor of infinity).
So the simulated duration of a cycle is its waiting, and nothing else: exactly what the
floor is about. Two stores a run: the platform under test, and a Squarespace store
without a limit where the sales happen. The first cycle is a first sync (every page;
SaaSignal and Wix V1 also learn their SKUs); then 1 % of SKUs sell and, ``--interval``
simulated seconds later, a steady cycle pulls again and writes to the store under test.
For each cycle, the store under test's requests are counted at the simulator and the
floor is computed from them and the documented rate, assuming (as the limiter may) that
the store's allowance is full when the cycle starts. Target: ≤ 1.1 × the floor, and zero
429s / throttles provoked by syncd.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from syncd.testing.clock import VirtualClock  # noqa: E402  (after the path is set)

T = TypeVar("T")

SIZES = {"squarespace": 100_000, "bigcommerce": 200_000, "saasignal": 2_000, "shopify": 8_000, "wix": 20_000}
LIMITS = {
    "squarespace": {"rate_limit_per_minute": 300},
    "bigcommerce": {"quota": 150},
    "saasignal": {"rps": 10, "burst": 10},
    "shopify": {"restore_rate": 100.0, "bucket_size": 2000.0},
    "wix": {"rate_limit_per_minute": 200, "catalog": "V1_CATALOG"},
}


class Counting:
    """ASGI wrapper counting requests, 429s and (GraphQL) requested query cost."""

    def __init__(self, app: Any) -> None:
        self.app, self.requests, self.refused, self.cost = app, 0, 0, 0.0

    def reset(self) -> None:
        self.requests, self.refused, self.cost = 0, 0, 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/bulk-results"):
            await self.app(scope, receive, send)
            return
        self.requests += 1
        chunks: list[bytes] = []

        async def spy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 429:
                self.refused += 1
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, spy)
        if scope["path"].endswith("graphql.json"):
            body = json.loads(b"".join(chunks) or b"{}")
            cost = (body.get("extensions") or {}).get("cost") or {}
            self.cost += float(cost.get("requestedQueryCost") or 0)
            codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
            self.refused += "THROTTLED" in codes


def floor_seconds(platform: str, requests: int, cost: float) -> float:
    """The least time the documented limit allows for this many requests (allowance full
    at the start)."""
    if requests == 0:
        return 0.0
    if platform == "squarespace":  # bucket of 300, 5/s
        return max(0.0, requests - 300) / 5
    if platform == "bigcommerce":  # 150 per 30 s window, from the first request
        return (math.ceil(requests / 150) - 1) * 30.0
    if platform == "saasignal":  # a bucket of 10, 10/s
        return max(0.0, requests - 10) / 10
    if platform == "shopify":  # 2,000 points, 100/s
        return max(0.0, cost - 2000) / 100
    if platform == "wix":  # 200 per sliding minute
        return (math.ceil(requests / 200) - 1) * 60.0
    raise ValueError(platform)


async def measure(platform: str, skus: int, interval: float) -> dict[str, Any]:
    import httpx

    from syncd.ledger import make_engine, upgrade
    from syncd.service import reconcile_once
    from syncd.testing.pool import Pool

    clock = VirtualClock()
    stock = {f"SKU-{i:06d}": 10 + i % 7 for i in range(skus)}
    options = dict(LIMITS[platform])
    if platform == "shopify":
        options["bulk_seconds"] = 1.0
    pool = Pool({"src": ("squarespace", stock), "dut": (platform, stock)}, clock=clock,
                sim_options={"dut": options})
    if platform == "saasignal":  # a catalogue of products with variants: 6 a product, as stores have them
        from syncd.testing.saasignal_sim import SaaSignalSimulator, SsRecord

        records = [SsRecord(f"inv_{i:06d}", f"prod_{i // 6:06d}", f"var_{i:06d}", sku, q)
                   for i, (sku, q) in enumerate(stock.items())]
        pool.sims["dut"] = SaaSignalSimulator(records, token=pool["dut"].token, clock=clock, **options)
    counting = Counting(pool["dut"].app)
    transports: dict[str, httpx.AsyncBaseTransport] = {"src": httpx.ASGITransport(app=pool["src"].app),
                                                       "dut": httpx.ASGITransport(app=counting)}
    os.environ.update(pool.env())
    store_options = {"src": {"requests_per_minute": 10**7}}
    if platform == "wix":
        store_options["dut"] = {"catalog": "v1"}
    settings = pool.settings("sqlite://", store_options=store_options)
    engine = make_engine("sqlite://")
    upgrade(engine)
    out: dict[str, Any] = {"platform": platform, "skus": skus, "limit": LIMITS[platform]}
    for label in ("first_sync", "steady"):
        if label == "steady":
            for i in range(0, skus, 100):
                pool["src"].sell(f"SKU-{i:06d}", 1)
            clock.advance(interval)
        counting.reset()
        start = clock.t
        report = await clock.run(lambda: reconcile_once(settings, clock, engine=engine, transports=transports))
        took = clock.t - start
        floor = floor_seconds(platform, counting.requests, counting.cost)
        out[label] = {"exit_code": report.exit_code, "writes": report.applied, "requests": counting.requests,
                      "cost_points": round(counting.cost) if platform == "shopify" else None,
                      "refused": counting.refused, "simulated_s": round(took, 2), "floor_s": round(floor, 2),
                      "ratio": round(took / floor, 3) if floor else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--platforms", default=",".join(SIZES))
    parser.add_argument("--interval", type=float, default=300.0, help="simulated seconds between the two cycles")
    args = parser.parse_args()
    from syncd.observability import configure_logging

    configure_logging(level="error", json=True)
    rows = [asyncio.run(measure(p, SIZES[p], args.interval)) for p in args.platforms.split(",")]
    when = datetime.now(UTC).isoformat(timespec="seconds")
    path = HERE / "results" / f"floor-{when.replace(':', '')}.json"
    path.write_text(json.dumps({"when": when, "time": "virtual (infinite compression)", "runs": rows}, indent=2))
    print(f"{'platform':>12} {'SKUs':>7} | {'cycle':>10} {'requests':>8} {'429s':>5} {'simulated s':>11} "
          f"{'floor s':>8} {'ratio':>6} {'writes':>6}")
    for r in rows:
        for label in ("first_sync", "steady"):
            c = r[label]
            print(f"{r['platform']:>12} {r['skus']:>7} | {label:>10} {c['requests']:>8} {c['refused']:>5} "
                  f"{c['simulated_s']:>11} {c['floor_s']:>8} {c['ratio'] or '-':>6} {c['writes']:>6}")
    print(f"written to {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
