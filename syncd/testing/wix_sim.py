"""A Wix Stores inventory simulator (ASGI), per ``shared/stores/wix.md``: one site on
Catalog V1 or Catalog V3 (never both; the other catalog's endpoints refuse).

Common: ``GET /stores/v3/provision/version``; ``Authorization`` with the raw token or
``Bearer``, and ``wix-site-id``; 200 requests per minute per site (a sliding minute)
answered 429 ``RESOURCE_EXHAUSTED``; errors ``{message, details: {applicationError |
validationError}}``.

V3 (this module): inventory items per variant × location with a ``revision`` bumped on
every write; ``POST /stores/v3/inventory-items/query`` with cursor paging (``limit`` ≤
1,000; a follow-up sends only ``cursorPaging``; the answer's ``pagingMetadata`` is
``{count, cursors}`` with no ``hasNext``, and an empty answer leaves ``inventoryItems``
out, its typings giving it ``@minSize 1``); ``POST /stores/v3/bulk/inventory-items/update``
(≤ 1,000 rows, per-row results; quantities outside -99,999..99,999 refuse the request;
a stale revision fails only its row, with ``stale_code``: the typings name no code for it,
so the default is deliberately not the third-party-observed ``INVALID_REVISION``). Paid
orders (``paid_order``) decrement past 0, as Wix documents. V1 lives in ``wix_v1_sim``.

Scopes: ``missing_scopes`` names permission scopes the token lacks; an endpoint needing one
answers 403 ``PERMISSION_DENIED`` (to inject failures for ``check()``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http.clock import Clock, SystemClock
from . import wix_v1_sim
from .faults import FaultInjector

__all__ = ["WixItem", "WixSimulator", "app_error", "validation_error"]

ZERO = "00000000-0000-0000-0000-000000000000"
V3_PAGE_MAX = 1000
V3_BULK_MAX = 1000
QUANTITY_MAX = 99_999  # InventoryItem.quantity @min -99999 @max 99999 (V1 variant stock: @max 99999)
V3_READ = "SCOPE.STORES.INVENTORY_ITEM_READ"
V3_WRITE = "SCOPE.STORES.INVENTORY_ITEM_WRITE"


@dataclass
class WixItem:
    """One variant's stock (at one location, on V3)."""

    product_id: str
    sku: str | None
    quantity: int
    tracked: bool = True  # quantity tracking; False: in-stock tracking (unlimited while in stock)
    in_stock: bool = True
    variant_id: str = ZERO
    location_id: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))  # V3 inventory item id
    inventory_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # V1: one per product
    revision: int = 1
    numeric_id: int = 0
    hidden: bool = False  # V1: a hidden / draft product (the products query leaves it out unless asked)


def app_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "details": {"applicationError": {
        "code": code, "description": message, "data": {}}}}, status_code=status)


def validation_error(field_name: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "details": {"validationError": {"fieldViolations": [
        {"field": field_name, "description": message, "violatedRule": "VALIDATION"}]}}}, status_code=400)


class WixSimulator:
    """One simulated Wix site."""

    def __init__(self, items: Iterable[WixItem] = (), *, catalog: str = "V3_CATALOG", token: str = "wix-test",
                 site_id: str = "site-1", clock: Clock | None = None, rate_limit_per_minute: int | None = 200,
                 default_location: str = "d85fbb4d-e415-49b1-98bc-9d22ec338cb1",
                 stale_code: str = "REVISION_MISMATCH", missing_scopes: Iterable[str] = ()) -> None:
        self.catalog = catalog
        self.stale_code = stale_code
        self.missing_scopes = set(missing_scopes)
        self.row_errors: dict[str, str] = {}  # item id → a code its bulk-update row fails with (item unchanged)
        self.token = token
        self.site_id = site_id
        self.clock = clock or SystemClock()
        self.rate_limit = rate_limit_per_minute
        self.default_location = default_location
        self.items: dict[str, WixItem] = {}
        for n, item in enumerate(items, start=1):
            item.location_id = item.location_id or default_location
            item.numeric_id = item.numeric_id or 1_598_904_314_932_000 + n
            self.items[item.id] = item
        self._window: deque[float] = deque()
        self.throttled = 0
        self.requests: Counter[str] = Counter()
        self.before_write: list[Callable[[WixSimulator], None]] = []
        routes = [
            Route("/stores/v3/provision/version", self._version, methods=["GET"]),
            Route("/stores/v3/inventory-items/query", self._v3_query, methods=["POST"]),
            Route("/stores/v3/bulk/inventory-items/update", self._v3_bulk_update, methods=["POST"]),
            *wix_v1_sim.routes(self),
        ]
        self.faults = FaultInjector(Starlette(routes=routes))
        self.app = self.faults

    # --- merchant side --------------------------------------------------------------------

    def item(self, sku: str) -> WixItem:
        return next(i for i in self.items.values() if i.sku == sku and i.location_id == self.default_location)

    def quantity(self, sku: str) -> int:
        return self.item(sku).quantity

    def sell(self, sku: str, units: int = 1) -> int:
        i = self.item(sku)
        if not i.tracked:
            return units
        sold = min(units, max(0, i.quantity))
        i.quantity -= sold
        i.revision += 1
        return sold

    def paid_order(self, sku: str, units: int = 1) -> None:
        """A paid order: V3 decrements it whole, past 0 (Wix: "quantity can be negative when
        inventory is decremented for an order that has already been paid"), down to -99,999;
        V1 (no preorder here) stops at 0."""
        i = self.item(sku)
        if not i.tracked:
            return
        floor = -QUANTITY_MAX if self.catalog == "V3_CATALOG" else 0
        i.quantity = max(floor, i.quantity - units)
        i.revision += 1

    def restock(self, sku: str, units: int) -> None:
        i = self.item(sku)
        i.quantity += units
        i.revision += 1

    # --- plumbing -------------------------------------------------------------------------

    async def gate(self, request: Request, catalog: str | None, scope: str | None = None) -> Response | None:
        """Auth, site, rate limit, the scope the endpoint needs, and the catalog it belongs to."""
        self.requests[f"{request.method} {request.url.path}"] += 1
        auth = request.headers.get("authorization", "")
        if auth not in (self.token, f"Bearer {self.token}"):
            return app_error(401, "UNAUTHENTICATED", "Missing or invalid authorization")
        if request.headers.get("wix-site-id") != self.site_id:
            return app_error(403, "PERMISSION_DENIED", "wix-site-id does not name a site this key may access")
        if self.rate_limit is not None:
            now = self.clock.monotonic()
            while self._window and self._window[0] <= now - 60:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                self.throttled += 1
                return app_error(429, "RESOURCE_EXHAUSTED", "Too many requests")
            self._window.append(now)
        if scope is not None and scope in self.missing_scopes:
            return app_error(403, "PERMISSION_DENIED", f"the token lacks the permission scope {scope}")
        if catalog is not None and catalog != self.catalog:
            return app_error(428, "CATALOG_VERSION_MISMATCH",
                             f"This site runs {self.catalog}; this endpoint belongs to {catalog}")
        return None

    async def body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return validation_error("body", "Malformed JSON")
        return body if isinstance(body, dict) else validation_error("body", "Body must be an object")

    async def _version(self, request: Request) -> Response:
        if (refused := await self.gate(request, None)) is not None:
            return refused
        return JSONResponse({"catalogVersion": self.catalog})

    # --- V3 -------------------------------------------------------------------------------

    def view_v3(self, i: WixItem) -> dict[str, Any]:
        status = "IN_STOCK" if (i.quantity > 0 if i.tracked else i.in_stock) else "OUT_OF_STOCK"
        tracking: dict[str, Any] = {"quantity": i.quantity} if i.tracked else {"inStock": i.in_stock}
        return {"id": i.id, "revision": str(i.revision), "createdDate": "2024-06-27T09:33:47.432Z",
                "updatedDate": "2024-06-27T09:33:54.060Z", "variantId": i.variant_id, "locationId": i.location_id,
                "productId": i.product_id, **tracking, "trackQuantity": i.tracked, "availabilityStatus": status,
                "preorderInfo": {"enabled": False, "message": None, "limit": None, "counter": None,
                                 "quantity": None},
                "product": {"name": i.sku or "", "directCategoryIds": [], "variantName": None,
                            "variantSku": i.sku, "variantVisible": True}}

    async def _v3_query(self, request: Request) -> Response:
        if (refused := await self.gate(request, "V3_CATALOG", V3_READ)) is not None:
            return refused
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        query = body.get("query") or {}
        paging = query.get("cursorPaging") or {}
        limit = paging.get("limit", 100)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= V3_PAGE_MAX:
            return validation_error("query.cursorPaging.limit", f"limit must be 1 to {V3_PAGE_MAX}")
        if paging.get("cursor") is not None:
            if set(query) - {"cursorPaging"}:
                return validation_error("query", "a cursor carries its filter and sort: send only cursorPaging")
            state = _decode(paging["cursor"])
            if state is None:
                return validation_error("query.cursorPaging.cursor", "invalid cursor")
            flt, after = state["filter"], state["after"]
        else:
            flt, after = query.get("filter") or {}, ""
            unknown = sorted(set(query) - {"cursorPaging", "filter", "sort"})
            if unknown:
                return validation_error("query", f"unknown fields {unknown}")
        matches = _matcher(flt)
        if matches is None:
            return validation_error("query.filter", "unsupported filter")
        rows = sorted((i for i in self.items.values() if matches(i) and i.id > after), key=lambda i: i.id)
        page, more = rows[:limit], len(rows) > limit
        nxt = _encode({"filter": flt, "after": page[-1].id}) if more else None
        answer: dict[str, Any] = {"inventoryItems": [self.view_v3(i) for i in page]} if page else {}
        answer["pagingMetadata"] = {"count": len(page), "cursors": {"next": nxt, "prev": None}}  # no hasNext
        return JSONResponse(answer)

    async def _v3_bulk_update(self, request: Request) -> Response:
        if (refused := await self.gate(request, "V3_CATALOG", V3_WRITE)) is not None:
            return refused
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        rows = body.get("inventoryItems")
        if not isinstance(rows, list) or not 1 <= len(rows) <= V3_BULK_MAX:
            return validation_error("inventoryItems", f"1 to {V3_BULK_MAX} items")
        for n, row in enumerate(rows):
            fields = row.get("inventoryItem") if isinstance(row, dict) else None
            q = fields.get("quantity") if isinstance(fields, dict) else None
            if q is not None and (isinstance(q, bool) or not isinstance(q, int) or abs(q) > QUANTITY_MAX):
                return validation_error(f"inventoryItems[{n}].inventoryItem.quantity",
                                        f"quantity must be a whole number from {-QUANTITY_MAX} to {QUANTITY_MAX}")
        for hook in list(self.before_write):
            hook(self)
        results = [self._v3_update_row(n, row, bool(body.get("returnEntity"))) for n, row in enumerate(rows)]
        ok = sum(1 for r in results if r["itemMetadata"]["success"])
        return JSONResponse({"results": results, "bulkActionMetadata": {
            "totalSuccesses": ok, "totalFailures": len(results) - ok, "undetailedFailures": 0}})

    def _v3_update_row(self, n: int, row: Any, entity: bool) -> dict[str, Any]:
        def fail(code: str, message: str, rid: Any = None) -> dict[str, Any]:
            return {"itemMetadata": {"id": rid, "originalIndex": n, "success": False,
                                     "error": {"code": code, "description": message, "data": {}}}}

        fields = row.get("inventoryItem") if isinstance(row, dict) else None
        if not isinstance(fields, dict) or not isinstance(fields.get("id"), str):
            return fail("INVALID_ARGUMENT", "inventoryItem.id is required")
        item = self.items.get(fields["id"])
        if item is None:
            return fail("NOT_FOUND", "Inventory item not found", fields["id"])
        if item.id in self.row_errors:
            return fail(self.row_errors[item.id], "refused by the simulator's row_errors knob", item.id)
        if fields.get("revision") is None:
            return fail("INVALID_ARGUMENT", "inventoryItem.revision is required", item.id)
        if str(fields.get("revision")) != str(item.revision):
            return fail(self.stale_code, "the item changed since this revision was read", item.id)
        quantity, in_stock = fields.get("quantity"), fields.get("inStock")
        if quantity is not None and in_stock is not None:
            return fail("INVALID_ARGUMENT", "quantity and inStock are exclusive", item.id)
        if quantity is not None:
            if quantity < 0 and quantity < item.quantity:
                return fail("REQUESTED_QUANTITY_MUST_BE_NON_NEGATIVE_DECREASING",
                            "a negative quantity may not be lower than the current one", item.id)
            item.quantity, item.tracked = quantity, True
        elif isinstance(in_stock, bool):
            item.in_stock, item.tracked = in_stock, False
        item.revision += 1
        out: dict[str, Any] = {"itemMetadata": {"id": item.id, "originalIndex": n, "success": True}}
        if entity:
            out["item"] = self.view_v3(item)
        return out


def _matcher(flt: Any) -> Callable[[WixItem], bool] | None:
    """The filters syncd sends: ``{field: {"$in": [...]}}`` / ``{field: {"$eq": v}}`` on ids."""
    if not isinstance(flt, dict):
        return None
    wanted: list[tuple[str, frozenset[Any]]] = []
    names = {"id": "id", "productId": "product_id", "variantId": "variant_id", "locationId": "location_id"}
    for key, cond in flt.items():
        if key not in names or not isinstance(cond, dict) or len(cond) != 1:
            return None
        op, value = next(iter(cond.items()))
        if op == "$in" and isinstance(value, list) and len(value) <= 100:
            wanted.append((names[key], frozenset(value)))
        elif op == "$eq":
            wanted.append((names[key], frozenset([value])))
        else:
            return None
    return lambda i: all(getattr(i, attr) in values for attr, values in wanted)


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _decode(cursor: Any) -> dict[str, Any] | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(str(cursor)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return state if isinstance(state, dict) and {"filter", "after"} <= set(state) else None
