"""Serve many pools' simulated stores from one process on 127.0.0.1, for bench/fleet.py.

    python bench/fleet_sims.py FIRST COUNT SKUS PORT

Pools ``p{FIRST}`` … ``p{FIRST+COUNT-1}``, each three stores (Squarespace, BigCommerce,
Squarespace) of SKUS SKUs, every store at ``/p/{pool}/{store}/…`` with the token
``bench-token``. Control routes: ``POST /__bench/sell?every=N&pools=K`` sells one unit of
every Nth SKU in K random pools; ``GET /__bench/check`` answers, per pool and SKU, every
store's count, and the most times any Squarespace key was applied.
"""

from __future__ import annotations

import random
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.testing.pool import Pool

STORES = (("sq", "squarespace"), ("bc", "bigcommerce"), ("sq2", "squarespace"))


def build(first: int, count: int, skus: int) -> dict[str, Pool]:
    pools = {}
    for i in range(first, first + count):
        stock = {f"SKU-{j:04d}": 10 + (i + j) % 7 for j in range(skus)}
        pool = Pool({f"{store}": (platform, stock) for store, platform in STORES})
        for sim in pool.sims.values():
            sim.token = "bench-token"
        pools[f"p{i}"] = pool
    return pools


class Dispatch:
    """``/p/{pool}/{store}/rest`` → that store's simulator at ``/rest``; the rest → control."""

    def __init__(self, pools: dict[str, Pool], control: Any) -> None:
        self.pools, self.control = pools, control

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/p/"):
            _, _, pool, store, *rest = scope["path"].split("/")
            sim = self.pools.get(pool)
            if sim is not None and store in sim.sims:
                path = "/" + "/".join(rest)
                await sim[store].app({**scope, "path": path, "raw_path": path.encode()}, receive, send)
                return
        await self.control(scope, receive, send)


def main() -> None:
    first, count, skus, port = (int(a) for a in sys.argv[1:5])
    pools = build(first, count, skus)
    rng = random.Random(first)

    async def sell(request: Request) -> JSONResponse:
        every = int(request.query_params.get("every", "100"))
        chosen = rng.sample(sorted(pools), min(len(pools), int(request.query_params.get("pools", "10"))))
        sold = 0
        for name in chosen:
            store = rng.choice([s for s, _ in STORES])
            sold += sum(pools[name][store].sell(f"SKU-{j:04d}", 1) for j in range(rng.randrange(every), skus, every))
        return JSONResponse({"sold": sold})

    async def check(request: Request) -> JSONResponse:
        out: dict[str, Any] = {}
        for name, pool in pools.items():
            out[name] = {"counts": {f"SKU-{j:04d}": pool.quantities(f"SKU-{j:04d}") for j in range(skus)},
                         "max_key_applied": max([n for s, _ in STORES if s.startswith("sq")
                                                 for n in pool[s].applied_keys.values()] or [0])}
        return JSONResponse(out)

    async def info(request: Request) -> JSONResponse:
        return JSONResponse({"store_hash": next(iter(pools.values()))["bc"].store_hash})

    control = Starlette(routes=[Route("/__bench/sell", sell, methods=["POST"]), Route("/__bench/check", check),
                                Route("/__bench/info", info)])
    uvicorn.run(Dispatch(pools, control), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
