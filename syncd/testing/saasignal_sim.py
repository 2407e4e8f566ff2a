"""A SaaSignal Commerce simulator (ASGI), held to ``references/llms-full.txt`` of
``SaaSTEMLY/saasignal-agent`` (vendored in ``tests/data/saasignal``; the conformance test
checks every route, parameter and response field here against it).

Inventory records ``{id, product_id, variant_id, quantity, reserved, incoming}`` carry no
SKU; SKUs and ``track_inventory`` live on products and variants, listed with
``GET …/products`` (cursor paging) and ``GET …/products/{id}/variants`` (one list, no
paging). Cursor paging (``limit`` 1..100, default 25, opaque cursor, ``next_cursor: null``
at the end); absolute ``PATCH`` and relative ``POST …/adjust`` (422 below zero unless
backorders are allowed). Auth ``X-API-Key`` only (the text's one auth method; a Bearer
key is refused: the harsher reading of the HTML docs' other form). Errors: 400/401/404
``{success: false, error}`` (the text's convention); 402/403/422/429, which the text does
not shape, ``{code, message}`` as the HTML docs show. Rate limit: a token bucket of ``rps``
a second holding ``burst`` (the Free plan: 10 and 10), ``X-RateLimit-*`` headers and
``Retry-After`` on 429. An optional token balance answers 402 when spent.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
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
from .saasignal_views import product_view, variant_view

__all__ = ["SaaSignalSimulator", "SsRecord"]

BASE = "/modules/commerce"
SAFE_INT = 9_007_199_254_740_991
ALL_SCOPES = ("commerce:read", "commerce:write")


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


def error(status: int, message: str, code: str = "", headers: dict[str, str] | None = None) -> JSONResponse:
    """400/401/404 in the text's ``{success: false, error}``; the others ``{code, message}``."""
    body: dict[str, Any] = ({"success": False, "error": message} if status in (400, 401, 404)
                            else {"code": code, "message": message})
    return JSONResponse(body, status_code=status, headers=headers)


class SaaSignalSimulator:
    """One simulated SaaSignal project."""

    def __init__(self, records: Iterable[SsRecord] = (), *, token: str = "sk_live_test", clock: Clock | None = None,
                 rps: float | None = None, burst: int | None = None, balance: int | None = None,
                 scopes: Iterable[str] = ALL_SCOPES) -> None:
        self.records = {r.id: r for r in records}
        self._sorted: list[str] | None = None
        self._idx: tuple[int, dict[tuple[str, str | None], SsRecord], dict[str | None, SsRecord]] | None = None
        self.token = token
        self.clock = clock or SystemClock()
        self.rps, self.burst = rps, (burst if burst is not None else (math.ceil(rps) if rps else None))
        self._tokens, self._stamp = float(self.burst or 0), self.clock.monotonic()
        self.balance = balance  # calls left before 402; None = unlimited
        self.scopes = set(scopes)
        self.updated_at: dict[str, str] = {}  # product id → updated_at (default: the epoch of the simulation)
        self.requests: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()  # statuses answered by the gate (429, 402, …)
        self.merchant_changes: Counter[str] = Counter()
        self.before_write: list[Callable[[SaaSignalSimulator], None]] = []
        routes = [
            Route(f"{BASE}/inventory", self._list, methods=["GET"]),
            Route(f"{BASE}/inventory/{{inventory_id}}", self._get, methods=["GET"]),
            Route(f"{BASE}/inventory/{{inventory_id}}", self._patch, methods=["PATCH"]),
            Route(f"{BASE}/inventory/{{inventory_id}}/adjust", self._adjust, methods=["POST"]),
            Route(f"{BASE}/products", self._products, methods=["GET"]),
            Route(f"{BASE}/products/{{product_id}}", self._product, methods=["GET"]),
            Route(f"{BASE}/products/{{product_id}}/variants", self._variants, methods=["GET"]),
            Route(f"{BASE}/products/{{product_id}}/variants/{{variant_id}}", self._variant, methods=["GET"]),
            Route("/core/tokens/balance", self._balance, methods=["GET"]),
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

    def _refill(self) -> None:
        now = self.clock.monotonic()
        if self.rps is not None and self.burst is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rps)
        self._stamp = now

    def _limits(self) -> dict[str, str]:
        if self.rps is None:
            return {}
        self._refill()
        until = max(0.0, (1.0 - self._tokens) / self.rps)
        reset = math.ceil(self.clock.wall().timestamp() + until)
        return {"X-RateLimit-Limit": str(self.burst), "X-RateLimit-Remaining": str(max(0, math.floor(self._tokens))),
                "X-RateLimit-Reset": str(reset)}

    def _gate(self, request: Request, scope: str = "commerce:read", metered: bool = True) -> Response | None:
        path = request.url.path.removeprefix(BASE)
        self.requests[f"{request.method} {path.split('/')[1] if path.count('/') else path}"] += 1
        refused = self._refuse(request, scope, metered)
        if refused is not None:
            self.refused[refused.status_code] += 1
        return refused

    def _refuse(self, request: Request, scope: str, metered: bool) -> Response | None:
        if request.headers.get("x-api-key") != self.token:
            return error(401, "Missing or invalid API key")
        if self.rps is not None:
            self._refill()
            if self._tokens < 1.0 - 1e-9:
                wait = math.ceil((1.0 - self._tokens) / self.rps)
                return error(429, f"Rate limit exceeded. Retry after {wait} seconds", "rate_limited",
                             headers={**self._limits(), "Retry-After": str(wait)})
            self._tokens -= 1.0
        if scope and not self.scopes & {scope, scope.split(":")[0] + ":*", "*"}:
            return error(403, f"Token missing required scope: {scope}", "forbidden")
        if self.balance is not None and metered:
            if self.balance <= 0:
                return error(402, "Insufficient token balance", "insufficient_tokens")
            self.balance -= 1
        return None

    def _ok(self, body: Any) -> JSONResponse:
        return JSONResponse(body, headers=self._limits())

    @staticmethod
    def _view(r: SsRecord) -> dict[str, Any]:
        return {"id": r.id, "product_id": r.product_id, "variant_id": r.variant_id, "quantity": r.quantity,
                "reserved": r.reserved, "incoming": r.incoming}

    def _page(self, request: Request, ids: list[str], keep: Callable[[str], bool] | None = None
              ) -> tuple[list[str], str | None] | Response:
        """One cursor page of ``ids`` (sorted): the ids on it and the next cursor."""
        q = request.query_params
        try:
            limit = int(q.get("limit", "25"))
        except ValueError:
            return error(400, "limit must be an integer")
        if not 1 <= limit <= 100:
            return error(400, "limit must be between 1 and 100")
        after = ""
        if q.get("cursor"):
            decoded = _decode(q["cursor"])
            if decoded is None:
                return error(400, "invalid cursor")
            after = decoded
        start = bisect.bisect_right(ids, after)
        if keep is None:
            rows = ids[start : start + limit + 1]
        else:
            rows = []
            for i in ids[start:]:
                if keep(i):
                    rows.append(i)
                    if len(rows) > limit:
                        break
        page = rows[:limit]
        return page, (_encode(page[-1]) if len(rows) > limit else None)

    # --- inventory ------------------------------------------------------------------------

    async def _list(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        ids = sorted(self.records) if self._sorted is None or len(self._sorted) != len(self.records) else self._sorted
        self._sorted = ids
        wanted = request.query_params.get("product_id")
        found = self._page(request, ids, (lambda rid: self.records[rid].product_id == wanted) if wanted else None)
        if isinstance(found, Response):
            return found
        page, cursor = found
        return self._ok({"items": [self._view(self.records[rid]) for rid in page], "next_cursor": cursor})

    async def _get(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        r = self.records.get(request.path_params["inventory_id"])
        return self._ok(self._view(r)) if r else error(404, "Inventory record not found")

    async def _write_request(self, request: Request) -> tuple[SsRecord, dict[str, Any]] | Response:
        """The gate, the record and the JSON body of a write, or the refusal."""
        if (refused := self._gate(request, "commerce:write")) is not None:
            return refused
        r = self.records.get(request.path_params["inventory_id"])
        if r is None:
            return error(404, "Inventory record not found")
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "Malformed JSON")
        return (r, body) if isinstance(body, dict) else error(400, "Body must be an object")

    async def _patch(self, request: Request) -> Response:
        found = await self._write_request(request)
        if isinstance(found, Response):
            return found
        r, body = found
        for key in ("quantity", "incoming"):
            if key in body and (isinstance(body[key], bool) or not isinstance(body[key], int)
                                or abs(body[key]) > SAFE_INT):
                return error(400, f"{key} must be an integer")
        if set(body) - {"quantity", "incoming"} or not body:
            return error(400, "Only quantity and incoming may be set")
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
            return error(400, "adjustment must be a non-zero integer")
        if set(body) - {"adjustment", "reason"} or not isinstance(body.get("reason", ""), str):
            return error(400, "Only adjustment and reason may be sent")
        for hook in list(self.before_write):
            hook(self)
        if r.quantity + delta < 0 and not r.allow_backorder:
            return error(422, "Adjustment would take quantity below zero", "insufficient_inventory")
        r.quantity += delta
        return self._ok(self._view(r))

    # --- catalog --------------------------------------------------------------------------

    def _by_product(self) -> dict[str, list[SsRecord]]:
        out: dict[str, list[SsRecord]] = {}
        for r in self.records.values():
            out.setdefault(r.product_id, []).append(r)
        return out

    def _product_body(self, pid: str, records: list[SsRecord]) -> dict[str, Any]:
        own = next((r for r in records if r.variant_id is None), None)
        return product_view(pid, own.sku if own else None, own.track_inventory if own else True,
                            own.allow_backorder if own else False, own.quantity if own else 0,
                            self.updated_at.get(pid))

    async def _products(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        products = self._by_product()
        found = self._page(request, sorted(products))
        if isinstance(found, Response):
            return found
        page, cursor = found
        return self._ok({"items": [self._product_body(pid, products[pid]) for pid in page], "next_cursor": cursor})

    async def _product(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        pid = request.path_params["product_id"]
        records = self._by_product().get(pid)
        return self._ok(self._product_body(pid, records)) if records else error(404, "Product not found")

    async def _variants(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        pid = request.path_params["product_id"]
        records = self._by_product().get(pid)
        if not records:
            return error(404, "Product not found")
        rows = sorted((r for r in records if r.variant_id is not None), key=lambda r: str(r.variant_id))
        return self._ok({"items": [variant_view(pid, n, r.variant_id or "", r.sku, r.track_inventory,
                                                r.allow_backorder, r.quantity, self.updated_at.get(pid))
                                   for n, r in enumerate(rows)]})

    async def _variant(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        pid, vid = request.path_params["product_id"], request.path_params["variant_id"]
        r = self._index()[0].get((pid, vid))
        if r is None:
            return error(404, "Variant not found")
        return self._ok(variant_view(pid, 0, vid, r.sku, r.track_inventory, r.allow_backorder, r.quantity,
                                     self.updated_at.get(pid)))

    async def _balance(self, request: Request) -> Response:
        """The organisation's balance (not metered itself; scope unconfirmed: none asked)."""
        if (refused := self._gate(request, "", metered=False)) is not None:
            return refused
        left = 1000.0 if self.balance is None else float(max(0, self.balance))
        return self._ok({"org_id": "org_sim", "included_tokens_remaining": left, "topup_tokens_balance": 0,
                         "total_balance": left})


def _encode(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> str | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data["id"] if isinstance(data, dict) and isinstance(data.get("id"), str) else None
