"""The BigCommerce simulator's webhooks API (``/v3/hooks``): create, list, delete. A hook
posts to an https destination (loopback is let through for tests), once per scope and
destination, and sends the custom ``headers`` it was created with on every event."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .bigcommerce_sim import BigCommerceSimulator

__all__ = ["hook_routes"]


def hook_routes(sim: BigCommerceSimulator, base: str) -> list[Route]:
    hooks: dict[int, dict[str, Any]] = sim.hooks
    ids = itertools.count(1)

    def refused(request: Request) -> Response | None:
        if request.headers.get("x-auth-token") != sim.token:
            return JSONResponse({"status": 401, "title": "Unauthorized", "type": "about:blank"}, 401)
        return None

    async def collection(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        if request.method == "GET":
            listed = list(hooks.values())
            return JSONResponse({"data": listed, "meta": {"pagination": {
                "total": len(listed), "count": len(listed), "per_page": 250, "current_page": 1, "total_pages": 1}}})
        body = json.loads(await request.body() or b"{}")
        destination, scope = body.get("destination"), body.get("scope")
        if not isinstance(destination, str) or not destination.startswith(("https://", "http://127.0.0.1")) \
                or not isinstance(scope, str) or not scope.startswith("store/"):
            return JSONResponse({"status": 422, "title": "destination must be https and scope a store/ event",
                                 "type": "about:blank"}, 422)
        if any(h["scope"] == scope and h["destination"] == destination for h in hooks.values()):
            return JSONResponse({"status": 422, "title": "a hook with this scope and destination exists",
                                 "type": "about:blank"}, 422)
        hook = {"id": next(ids), "store_hash": sim.store_hash, "scope": scope, "destination": destination,
                "headers": body.get("headers") or {}, "is_active": body.get("is_active", True),
                "created_at": int(sim.clock.wall().timestamp())}
        hooks[hook["id"]] = hook
        return JSONResponse({"data": hook, "meta": {}})

    async def one(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        hook = hooks.pop(request.path_params["hook_id"], None)
        if hook is None:
            return JSONResponse({"status": 404, "title": "hook not found", "type": "about:blank"}, 404)
        return JSONResponse({"data": hook, "meta": {}})

    return [Route(f"{base}/hooks", collection, methods=["GET", "POST"]),
            Route(f"{base}/hooks/{{hook_id:int}}", one, methods=["DELETE"])]
