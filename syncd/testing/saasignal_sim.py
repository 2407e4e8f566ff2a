"""A SaaSignal Commerce inventory simulator (ASGI), per ``shared/stores/saasignal.md``.

Inventory records ``{id, product_id, variant_id, quantity, reserved, incoming}`` with no
SKU; SKUs and ``track_inventory`` live on products and variants. Cursor paging (``limit``
1..100, default 25, opaque base64 cursor, ``next_cursor: null`` at the end); absolute
``PATCH`` and relative ``POST …/adjust`` (422 below zero unless backorders are allowed);
``Authorization: Bearer``; errors ``{code, message}``; a per-second limit with
``X-RateLimit-Limit/Remaining/Reset`` and ``Retry-After`` on 429; an optional token
balance answering 402. Shapes the notes mark as inferred are followed as proposed there.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http.clock import Clock, SystemClock
from .faults import FaultInjector

__all__ = ["SaaSignalSimulator", "SsRecord"]

BASE = "/modules/commerce"
SAFE_INT = 9_007_199_254_740_991


@dataclass
class SsRecord:
    """An inventory record with its product/variant's SKU and tracking flag."""

    id: str
    product_id: str
    variant_id: str | None
    sku: str | None
    quantity: int
    track_inventory: bool = True
    allow_backorder: bool = False
    reserved: int = 0
    incoming: int = 0


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class SaaSignalSimulator:
    """One simulated SaaSignal project."""

    def __init__(self, records: Iterable[SsRecord] = (), *, token: str = "sk_live_test", clock: Clock | None = None,
                 rps: int | None = None, balance: int | None = None) -> None:
        self.records = {r.id: r for r in records}
        self._sorted: list[str] | None = None
        self._idx: tuple[int, dict[tuple[str, str | None], SsRecord], dict[str | None, SsRecord]] | None = None
        self.token = token
        self.clock = clock or SystemClock()
        self.rps = rps
        self._second, self._used = int(self.clock.wall().timestamp()), 0
        self.balance = balance  # calls left before 402; None = unlimited
        self.requests: Counter[str] = Counter()
        self.merchant_changes: Counter[str] = Counter()
        self.before_write: list[Callable[[SaaSignalSimulator], None]] = []
        routes = [
            Route(f"{BASE}/inventory", self._list, methods=["GET"]),
            Route(f"{BASE}/inventory/{{rid}}", self._get, methods=["GET"]),
            Route(f"{BASE}/inventory/{{rid}}", self._patch, methods=["PATCH"]),
            Route(f"{BASE}/inventory/{{rid}}/adjust", self._adjust, methods=["POST"]),
            Route(f"{BASE}/products/{{pid}}", self._product, methods=["GET"]),
            Route(f"{BASE}/products/{{pid}}/variants/{{vid}}", self._variant, methods=["GET"]),
        ]
        self.faults = FaultInjector(Starlette(routes=routes))
        self.app = self.faults

    # --- merchant side --------------------------------------------------------------------

    def record(self, sku: str) -> SsRecord:
        r = self._index()[1].get(sku)
        return r if r is not None and r.sku == sku else next(r for r in self.records.values() if r.sku == sku)

    def _index(self) -> tuple[dict[tuple[str, str | None], SsRecord], dict[str | None, SsRecord]]:
        """Lookups by (product, variant) and by SKU, rebuilt when records are added or removed
        (a SKU changed in place is caught by the caller's check)."""
        if self._idx is None or self._idx[0] != len(self.records):
            by_ref = {(r.product_id, r.variant_id): r for r in self.records.values()}
            by_sku: dict[str | None, SsRecord] = {}
            for r in self.records.values():
                by_sku.setdefault(r.sku, r)
            self._idx = (len(self.records), by_ref, by_sku)
        return self._idx[1], self._idx[2]

    def quantity(self, sku: str) -> int:
        return self.record(sku).quantity

    def sell(self, sku: str, units: int = 1) -> int:
        r = self.record(sku)
        sold = units if (r.allow_backorder or not r.track_inventory) else min(units, max(0, r.quantity))
        if r.track_inventory:
            r.quantity -= sold
            self.merchant_changes[r.id] -= sold
        return sold

    def restock(self, sku: str, units: int) -> None:
        self.record(sku).quantity += units
        self.merchant_changes[self.record(sku).id] += units

    # --- plumbing -------------------------------------------------------------------------

    def _limits(self) -> dict[str, str]:
        if self.rps is None:
            return {}
        return {"X-RateLimit-Limit": str(self.rps), "X-RateLimit-Remaining": str(max(0, self.rps - self._used)),
                "X-RateLimit-Reset": str(self._second + 1)}

    def _gate(self, request: Request) -> Response | None:
        path = request.url.path.removeprefix(BASE)
        self.requests[f"{request.method} {path.split('/')[1] if path.count('/') else path}"] += 1
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(401, "unauthorized", "Missing or invalid API key")
        if self.rps is not None:
            now = int(self.clock.wall().timestamp())
            if now != self._second:
                self._second, self._used = now, 0
            if self._used >= self.rps:
                return error(429, "rate_limited", "Rate limit exceeded. Retry after 1 seconds",
                             headers={**self._limits(), "Retry-After": "1"})
            self._used += 1
        if self.balance is not None:
            if self.balance <= 0:
                return error(402, "insufficient_tokens", "Insufficient token balance")
            self.balance -= 1
        return None

    def _ok(self, body: Any) -> JSONResponse:
        return JSONResponse(body, headers=self._limits())

    @staticmethod
    def _view(r: SsRecord) -> dict[str, Any]:
        return {"id": r.id, "product_id": r.product_id, "variant_id": r.variant_id, "quantity": r.quantity,
                "reserved": r.reserved, "incoming": r.incoming}

    # --- routes ---------------------------------------------------------------------------

    async def _list(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        q = request.query_params
        try:
            limit = int(q.get("limit", "25"))
        except ValueError:
            return error(400, "bad_request", "limit must be an integer")
        if not 1 <= limit <= 100:
            return error(400, "bad_request", "limit must be between 1 and 100")
        after = ""
        if q.get("cursor"):
            decoded = _decode(q["cursor"])
            if decoded is None:
                return error(400, "bad_request", "invalid cursor")
            after = decoded
        ids = sorted(self.records) if self._sorted is None or len(self._sorted) != len(self.records) else self._sorted
        self._sorted = ids
        start = bisect.bisect_right(ids, after)
        wanted = q.get("product_id")
        rows = [self.records[rid] for rid in ids[start:]
                if wanted is None or self.records[rid].product_id == wanted][: limit + 1] if wanted else \
            [self.records[rid] for rid in ids[start : start + limit + 1]]
        page = rows[:limit]
        more = len(rows) > limit
        return self._ok({"items": [self._view(r) for r in page],
                         "next_cursor": _encode(page[-1].id) if more else None})

    async def _get(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        r = self.records.get(request.path_params["rid"])
        return self._ok(self._view(r)) if r else error(404, "not_found", "Inventory record not found")

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "bad_request", "Malformed JSON")
        return body if isinstance(body, dict) else error(400, "bad_request", "Body must be an object")

    async def _write_request(self, request: Request) -> tuple[SsRecord, dict[str, Any]] | Response:
        """The gate, the record and the JSON body of a write, or the refusal."""
        if (refused := self._gate(request)) is not None:
            return refused
        r = self.records.get(request.path_params["rid"])
        if r is None:
            return error(404, "not_found", "Inventory record not found")
        body = await self._body(request)
        return body if isinstance(body, Response) else (r, body)

    async def _patch(self, request: Request) -> Response:
        found = await self._write_request(request)
        if isinstance(found, Response):
            return found
        r, body = found
        for key in ("quantity", "incoming"):
            if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int)
                                or abs(body[key]) > SAFE_INT):
                return error(400, "bad_request", f"{key} must be an integer")
        if set(body) - {"quantity", "incoming"} or not body:
            return error(400, "bad_request", "Only quantity and incoming may be set")
        for hook in list(self.before_write):
            hook(self)
        r.quantity = body.get("quantity", r.quantity)
        r.incoming = body.get("incoming", r.incoming)
        return self._ok(self._view(r))

    async def _adjust(self, request: Request) -> Response:
        found = await self._write_request(request)
        if isinstance(found, Response):
            return found
        r, body = found
        delta = body.get("adjustment")
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > SAFE_INT:
            return error(400, "bad_request", "adjustment must be a non-zero integer")
        for hook in list(self.before_write):
            hook(self)
        if r.quantity + delta < 0 and not r.allow_backorder:
            return error(422, "insufficient_inventory", "Adjustment would take quantity below zero")
        r.quantity += delta
        return self._ok(self._view(r))

    async def _product(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        pid = request.path_params["pid"]
        r = self._index()[0].get((pid, None))
        if r is None:
            return error(404, "not_found", "Product not found")
        return self._ok({"id": pid, "name": r.sku or pid, "sku": r.sku, "track_inventory": r.track_inventory,
                         "allow_backorder": r.allow_backorder, "quantity": r.quantity})

    async def _variant(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        pid, vid = request.path_params["pid"], request.path_params["vid"]
        r = self._index()[0].get((pid, vid))
        if r is None:
            return error(404, "not_found", "Variant not found")
        return self._ok({"id": vid, "product_id": pid, "sku": r.sku, "track_inventory": r.track_inventory,
                         "allow_backorder": r.allow_backorder, "quantity": r.quantity})


def _encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> str | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data["id"] if isinstance(data, dict) and isinstance(data.get("id"), str) else None
