"""A BigCommerce V3 Inventory API simulator (ASGI), per ``shared/stores/bigcommerce.md``
and its OpenAPI files (tests validate its answers against ``inventory.v3.yml``).

Page/limit paging with ``meta.pagination`` (default 50, maximum 1,000); problem+json
errors; ``X-Auth-Token``; asynchronous writes answered ``{transaction_id}`` and applied
after ``apply_delay`` seconds; ≤ 2,000 rows a request; "tracked by product" (a write naming
the variant of an item whose product tracks stock) and "absolute before relative" 422s;
the safety-stock floor on relative writes; the int32 ceiling; the four ``X-Rate-Limit-*``
headers on every answer and a 429 with ``X-Retry-After``; OAuth scopes (403) and an
inactive location (knobs for ``syncd check``). Untracked products (``inventory_tracking:
none``) are not in the Inventory API.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http.clock import Clock, SystemClock
from .bigcommerce_hooks_sim import hook_routes
from .faults import FaultInjector

__all__ = ["BcItem", "BigCommerceSimulator"]

INT32_MAX = 2_147_483_647
MAX_ROWS = 2000
PROBLEM = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
ALL_SCOPES = ("store_inventory", "store_locations")
# Which scope lets a request through: (path suffix, read?) → accepted scopes.
NEEDS = {("/inventory/locations", True): ("store_locations_read_only", "store_locations"),
         ("/inventory", True): ("store_inventory_read_only", "store_inventory"),
         ("/inventory", False): ("store_inventory",)}


@dataclass
class BcItem:
    """One inventory item at the simulated location. ``by_product``: the product's
    ``inventory_tracking`` is "product" (implied when ``variant_id`` is None); such an item
    may still be listed with its (base) variant's id, and a write naming that variant is
    refused, as in the spec's example."""

    product_id: int
    variant_id: int | None
    sku: str | None
    onhand: int
    safety_stock: int = 0
    tracked: bool = True
    has_absolute: bool = True
    by_product: bool = False

    @property
    def ref(self) -> str:
        return f"v{self.variant_id}" if self.variant_id is not None else f"p{self.product_id}"

    @property
    def product_level(self) -> bool:
        return self.by_product or self.variant_id is None


def problem(status: int, title: str, errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": status, "title": title, "type": PROBLEM, "errors": errors or {}},
                        status_code=status, media_type="application/problem+json", headers=headers)


class BigCommerceSimulator:
    """One simulated store with one (default) location."""

    def __init__(self, items: Iterable[BcItem] = (), *, store_hash: str = "abc123", token: str = "bc-token",
                 clock: Clock | None = None, location_id: int = 1, quota: int | None = None,
                 apply_delay: float = 0.0, scopes: Iterable[str] = ALL_SCOPES) -> None:
        self.items = {i.ref: i for i in items}
        self.scopes = set(scopes)  # the token's OAuth scopes (inventory.v3.yml / locations.v3.yml)
        self.location_enabled = True
        self._tracked: list[BcItem] | None = None
        self._tracked_src: dict[str, BcItem] = {}
        self.store_hash, self.token, self.location_id = store_hash, token, location_id
        self.clock = clock or SystemClock()
        self.quota, self.window = quota, 30.0
        self._window_start, self._used = self.clock.monotonic(), 0
        self.apply_delay = apply_delay
        self.pending: list[tuple[float, str, str, int]] = []  # (apply at, ref, "abs"|"rel", value)
        self.requests: Counter[str] = Counter()
        self.writes: list[dict[str, Any]] = []  # every accepted write body, for tests
        self.merchant_changes: Counter[str] = Counter()
        self.before_write: list[Callable[[BigCommerceSimulator], None]] = []
        self.hooks: dict[int, dict[str, Any]] = {}  # /v3/hooks
        base = f"/stores/{store_hash}/v3"
        routes = [
            Route(f"{base}/inventory/locations", self._locations, methods=["GET"]),
            Route(f"{base}/inventory/locations/{{location_id:int}}/items", self._items, methods=["GET"]),
            Route(f"{base}/inventory/adjustments/absolute", self._absolute, methods=["PUT"]),
            Route(f"{base}/inventory/adjustments/relative", self._relative, methods=["POST"]),
            *hook_routes(self, base),
        ]
        self.faults = FaultInjector(Starlette(routes=routes))
        self.app = self.faults

    # --- merchant side --------------------------------------------------------------------

    def item(self, sku: str) -> BcItem:
        return next(i for i in self.items.values() if i.sku == sku)

    def quantity(self, sku: str) -> int:
        self._apply_due()
        return self.item(sku).onhand

    def sell(self, sku: str, units: int = 1) -> int:
        self._apply_due()
        item = self.item(sku)
        sold = min(units, max(0, item.onhand - item.safety_stock))
        item.onhand -= sold
        self.merchant_changes[item.ref] -= sold
        return sold

    def restock(self, sku: str, units: int) -> None:
        self._apply_due()
        self.item(sku).onhand += units
        self.merchant_changes[self.item(sku).ref] += units

    # --- plumbing -------------------------------------------------------------------------

    def _apply_due(self) -> None:
        now = self.clock.monotonic()
        due = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        for _, ref, kind, value in due:
            item = self.items[ref]
            item.onhand = value if kind == "abs" else item.onhand + value
            item.has_absolute = item.has_absolute or kind == "abs"

    def _rate_headers(self) -> dict[str, str]:
        if self.quota is None:
            return {}
        reset_ms = max(0, int((self._window_start + self.window - self.clock.monotonic()) * 1000))
        return {"X-Rate-Limit-Time-Window-Ms": str(int(self.window * 1000)),
                "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
                "X-Rate-Limit-Requests-Quota": str(self.quota),
                "X-Rate-Limit-Requests-Left": str(max(0, self.quota - self._used))}

    def _gate(self, request: Request) -> Response | None:
        self.requests[f"{request.method} {request.url.path.split('/v3', 1)[-1]}"] += 1
        self._apply_due()
        if request.headers.get("x-auth-token") != self.token:
            return problem(401, "Unauthorized")
        if request.headers.get("accept") not in ("application/json", "*/*", None):
            return problem(406, "Not acceptable")
        path = request.url.path.split("/v3", 1)[-1]
        area = "/inventory/locations" if path == "/inventory/locations" else "/inventory"
        if not self.scopes & set(NEEDS[(area, request.method == "GET")]):
            return problem(403, "You don't have a required scope to access the endpoint")
        if self.quota is not None:
            now = self.clock.monotonic()
            if now >= self._window_start + self.window:
                self._window_start, self._used = now, 0
            if self._used >= self.quota:
                headers = self._rate_headers()
                headers["X-Retry-After"] = str(math.ceil(int(headers["X-Rate-Limit-Time-Reset-Ms"]) / 1000))
                return problem(429, "Too many requests", headers=headers)
            self._used += 1
        return None

    def _json(self, body: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=self._rate_headers())

    # --- reads ----------------------------------------------------------------------------

    async def _locations(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        loc = {"id": self.location_id, "code": "BC-LOCATION-1", "label": "Default location",
               "description": "", "managed_by_external_source": False, "type_id": "PHYSICAL",
               "enabled": self.location_enabled, "storefront_visibility": True}
        q = request.query_params
        shown = [loc]
        if "location_id:in" in q and str(self.location_id) not in q["location_id:in"].split(","):
            shown = []
        if q.get("is_active") in ("true", "false") and (q["is_active"] == "true") != self.location_enabled:
            shown = []
        if q.get("is_default") == "false":  # the only location is the default one
            shown = []
        return self._json({"data": shown, "meta": {"pagination": {
            "total": len(shown), "count": len(shown), "per_page": 50, "current_page": 1, "total_pages": 1,
            "links": {"current": "?page=1&limit=50"}}}})

    async def _items(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if request.path_params["location_id"] != self.location_id:
            return problem(404, "Location not found")
        q = request.query_params
        try:
            page, limit = int(q.get("page", "1")), int(q.get("limit", "50"))
        except ValueError:
            return problem(400, "page and limit must be integers")
        if limit > 1000 or limit < 1 or page < 1:
            return problem(422, "The specified limit or page is out of range", {"limit": "1..1000"})
        filtered = any(k in q for k in ("variant_id:in", "product_id:in", "sku:in"))
        if self._tracked is None or len(self._tracked_src) != len(self.items):
            self._tracked = [i for _, i in sorted(self.items.items()) if i.tracked]
            self._tracked_src = dict(self.items)
        if filtered:
            matches = _matcher(q)
            rows = [i for i in self._tracked if matches(i)]
        else:
            rows = self._tracked
        total_pages = max(1, math.ceil(len(rows) / limit))
        chunk = rows[(page - 1) * limit : page * limit]
        links = {"current": f"?page={page}&limit={limit}"}
        if page > 1:
            links["previous"] = f"?page={page - 1}&limit={limit}"
        if page < total_pages:
            links["next"] = f"?page={page + 1}&limit={limit}"
        return self._json({"data": [_row(i) for i in chunk], "meta": {"pagination": {
            "total": len(rows), "count": len(chunk), "per_page": limit, "current_page": page,
            "total_pages": total_pages, "links": links}}})

    # --- writes ---------------------------------------------------------------------------

    async def _absolute(self, request: Request) -> Response:
        return await self._write(request, "abs")

    async def _relative(self, request: Request) -> Response:
        return await self._write(request, "rel")

    async def _write(self, request: Request, kind: str) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if "application/json" not in request.headers.get("content-type", ""):
            return problem(415, "Content-Type must be application/json")
        try:
            body = await request.json()
        except ValueError:
            return problem(400, "Malformed JSON")
        rows = body.get("items") if isinstance(body, dict) else None
        if not isinstance(rows, list) or not rows:
            return problem(422, "Payload contains invalid fields", {"items": "required"})
        if len(rows) > MAX_ROWS:
            return problem(413, f"The maximum items allowed in the array is {MAX_ROWS}")
        changes: list[tuple[str, int]] = []
        index = self._index()
        for n, row in enumerate(rows):
            found = self._validate_row(row, kind, n, index)
            if isinstance(found, Response):
                return found  # all or nothing
            changes.append(found)
        for hook in list(self.before_write):
            hook(self)
        at = self.clock.monotonic() + self.apply_delay
        self.pending.extend((at, ref, kind, value) for ref, value in changes)
        self.writes.append(body)
        self._apply_due()
        return self._json({"transaction_id": str(uuid.uuid4())})

    def _validate_row(self, row: Any, kind: str, n: int,
                      index: dict[tuple[str, Any], BcItem]) -> tuple[str, int] | Response:
        if not isinstance(row, dict) or not isinstance(row.get("location_id"), int):
            return problem(422, "Payload contains invalid fields", {f"items.{n}.location_id": "required"})
        ids = [k for k in ("sku", "variant_id", "product_id") if k in row]
        qty = row.get("quantity")
        if len(ids) != 1 or isinstance(qty, bool) or not isinstance(qty, int):
            return problem(422, "Payload contains invalid fields", {f"items.{n}": "one identity, integer quantity"})
        if row["location_id"] != self.location_id:
            return problem(422, f"Location {row['location_id']} not found")
        if not self.location_enabled:  # only enabled locations accept stock edits (title unconfirmed)
            return problem(422, f"Location {row['location_id']} is not active")
        try:
            item = index.get((ids[0], row[ids[0]]))
        except TypeError:  # a list or an object: matches no item
            item = None
        if item is None:
            return problem(422, f"Items with identity: [{ids[0]} {row[ids[0]]}] not found")
        if ids[0] != "product_id" and item.product_level:
            # The spec's own example ("Item has another tracking mode error"); a SKU naming
            # such an item is refused the same way (unconfirmed: the harsher reading).
            return problem(422, f"[Item with {ids[0]} {row[ids[0]]} is tracked by product, "
                                "please update stock by product id]")
        if kind == "abs":
            if not 0 <= qty <= INT32_MAX:
                return problem(422, "Quantity is out of range")
            return item.ref, qty
        if not item.has_absolute:
            return problem(422, f"Items with identity: [{ids[0]} {row[ids[0]]}] requires absolute adjustment "
                                "before relative")
        if item.onhand + qty < item.safety_stock or item.onhand + qty > INT32_MAX:
            return problem(422, "Insufficient stock for the relative adjustment")
        return item.ref, qty

    def _index(self) -> dict[tuple[str, Any], BcItem]:
        """Tracked items by identity, ("sku" | "variant_id" | "product_id", value), the
        first in the store's order winning; built once per write (a row at a time, a
        2,000-row write over 100,000 items was 200 million comparisons). A product
        answers to its id only when tracked by product (no variant)."""
        index: dict[tuple[str, Any], BcItem] = {}
        for item in self.items.values():
            if not item.tracked:
                continue
            keys = [("sku", item.sku), ("variant_id", item.variant_id)]
            if item.product_level:
                keys.append(("product_id", item.product_id))
            for key in keys:
                index.setdefault(key, item)
        return index


def _matcher(q: Any) -> Callable[[BcItem], bool]:
    """The ``variant_id:in``, ``product_id:in`` and ``sku:in`` filters of a query, each
    parsed once for the request."""
    filters = [(name, set(q[name].split(","))) for name in ("variant_id:in", "product_id:in", "sku:in") if name in q]

    def matches(item: BcItem) -> bool:
        values = {"variant_id:in": item.variant_id, "product_id:in": item.product_id, "sku:in": item.sku}
        return all(str(values[name]) in wanted for name, wanted in filters)

    return matches


def _row(item: BcItem) -> dict[str, Any]:
    identity: dict[str, Any] = {"product_id": item.product_id}
    if item.variant_id is not None:
        identity["variant_id"] = item.variant_id
    if item.sku is not None:
        identity["sku"] = item.sku
    return {"identity": identity, "available_to_sell": max(0, item.onhand - item.safety_stock),
            "total_inventory_onhand": item.onhand,
            "settings": {"safety_stock": item.safety_stock, "is_in_stock": True, "warning_level": 0,
                         "bin_picking_number": ""}}
