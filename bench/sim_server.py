"""Serve one store simulator on 127.0.0.1 for the benchmark, with a control route.

    python bench/sim_server.py PLATFORM SKUS PORT

``POST /__bench/sell?every=100`` sells one unit of every 100th SKU (a 1 % steady change).
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from syncd.testing.pool import Pool


def main() -> None:
    platform, n, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stock = {f"SKU-{i:06d}": 10 + i % 7 for i in range(n)}
    # Cycle-cost runs measure syncd, not the stores' limits: Shopify as on its largest plan
    # (2,000 points/s), Wix without its 200-a-minute cap.
    options = {"shopify": {"restore_rate": 2000.0, "bulk_seconds": 0.5},
               "wix": {"rate_limit_per_minute": None}}.get(platform, {})
    pool = Pool({"s": (platform, stock)}, sim_options={"s": options})
    sim = pool["s"]

    async def sell(request: Request) -> JSONResponse:
        every = int(request.query_params.get("every", "100"))
        offset = int(request.query_params.get("offset", "0"))
        sold = sum(sim.sell(f"SKU-{i:06d}", 1) for i in range(offset % every, n, every))
        return JSONResponse({"sold": sold})

    async def token(request: Request) -> JSONResponse:
        extra = {"store_hash": sim.store_hash} if platform == "bigcommerce" else {}
        if platform == "wix":
            extra = {"site_id": sim.site_id}
        return JSONResponse({"token": sim.token, **extra})

    app = Starlette(routes=[Route("/__bench/sell", sell, methods=["POST"]), Route("/__bench/token", token),
                            Mount("/", app=sim.app)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
