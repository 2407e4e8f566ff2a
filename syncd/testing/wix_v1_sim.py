"""Catalog V1 routes of the Wix simulator (``shared/stores/wix.md`` §2a, §4).

One inventory item per product, stock per variant, no locations, no SKU (that is on the
Products API). ``POST /stores-reader/v2/inventoryItems/query`` pages by limit (≤ 100) and
offset, refuses offsets past 10,000 (the crawl past it filters ``numericId > last``), and
takes ``filter`` and ``sort`` as JSON *strings*; writes answer ``{}``: ``PATCH
/stores/v2/inventoryItems/product/{id}`` (absolute, one product) and ``POST
/stores/v2/inventoryItems/increment`` / ``decrement`` (1..300 rows, all or nothing).

As the typings say (tests/data/wix): a ``PATCH`` without ``trackQuantity`` takes it as
false and switches quantity tracking off for ALL the product's variants; the products
query leaves hidden products out unless ``includeHiddenProducts`` is true (which needs the
manage-products scope); a variant holds at most 99,999 (increments past it are refused:
the V1 typings name no code, ``MAX_QUANTITY_LIMIT_REACHED`` is V3's — the harsher reading).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from .wix_sim import WixItem, WixSimulator

__all__ = ["routes"]

PAGE_MAX = 100
OFFSET_MAX = 10_000
BATCH_MAX = 300
QUANTITY_MAX = 99_999
READ = "SCOPE.DC-STORES.READ-PRODUCTS"
MANAGE = "SCOPE.DC-STORES.MANAGE-PRODUCTS"


def routes(sim: WixSimulator) -> list[Route]:
    v1 = _V1(sim)
    return [
        Route("/stores-reader/v2/inventoryItems/query", v1.query, methods=["POST"]),
        Route("/stores-reader/v1/products/query", v1.products, methods=["POST"]),
        Route("/stores/v2/inventoryItems/product/{pid}", v1.patch, methods=["PATCH"]),
        Route("/stores/v2/inventoryItems/increment", v1.increment, methods=["POST"]),
        Route("/stores/v2/inventoryItems/decrement", v1.decrement, methods=["POST"]),
    ]


class _V1:
    def __init__(self, sim: WixSimulator) -> None:
        self.sim = sim

    def _products(self) -> dict[str, list[WixItem]]:
        by: dict[str, list[WixItem]] = defaultdict(list)
        for item in self.sim.items.values():
            if item.location_id == self.sim.default_location:
                by[item.product_id].append(item)
        return by

    @staticmethod
    def _view(variants: list[WixItem]) -> dict[str, Any]:
        first = variants[0]
        return {"id": first.inventory_id, "externalId": first.product_id, "productId": first.product_id,
                "trackQuantity": first.tracked,
                "variants": [{"variantId": v.variant_id, "inStock": v.in_stock if not v.tracked else v.quantity > 0,
                              "quantity": v.quantity, "availableForPreorder": False} for v in variants],
                "lastUpdated": "2026-01-01T00:00:00.000Z", "numericId": str(min(v.numeric_id for v in variants)),
                "preorderInfo": {"enabled": False, "message": None}}

    async def _start(self, request: Request) -> dict[str, Any] | Response:
        from .wix_sim import validation_error

        if (refused := await self.sim.gate(request, "V1_CATALOG", READ)) is not None:
            return refused
        body = await self.sim.body(request)
        if isinstance(body, Response):
            return body
        query = body.get("query") or {}
        for key in ("filter", "sort"):
            if key in query and not isinstance(query[key], str):
                return validation_error(f"query.{key}", f"{key} must be a JSON-encoded string")
        try:
            body["_filter"] = json.loads(query.get("filter") or "{}")
            body["_sort"] = json.loads(query.get("sort") or "[]")
        except json.JSONDecodeError:
            return validation_error("query.filter", "filter and sort must be valid JSON strings")
        paging = query.get("paging") or {}
        limit, offset = paging.get("limit", 100), paging.get("offset", 0)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (limit, offset)) or \
                not 1 <= limit <= PAGE_MAX or offset < 0:
            return validation_error("query.paging", f"limit must be 1 to {PAGE_MAX}, offset ≥ 0")
        if offset + limit > OFFSET_MAX:
            return validation_error("query.paging.offset", f"offset paging stops at {OFFSET_MAX:,} items: "
                                                           "filter on numericId to go further")
        body["_limit"], body["_offset"] = limit, offset
        return body

    async def query(self, request: Request) -> Response:
        from .wix_sim import validation_error

        body = await self._start(request)
        if isinstance(body, Response):
            return body
        flt, sort = body["_filter"], body["_sort"]
        if sort not in ([], [{"numericId": "asc"}]):
            return validation_error("query.sort", "unsupported sort")
        items = sorted(self._products().values(), key=lambda vs: min(v.numeric_id for v in vs))
        if flt:
            gt = (flt.get("numericId") or {}).get("$gt") if isinstance(flt.get("numericId"), dict) else None
            some = (flt.get("productId") or {}).get("$hasSome") if isinstance(flt.get("productId"), dict) else None
            if len(flt) != 1 or (gt is None and some is None):
                return validation_error("query.filter", "unsupported filter")
            if gt is not None:
                items = [vs for vs in items if min(v.numeric_id for v in vs) > int(gt)]
            else:
                items = [vs for vs in items if vs[0].product_id in set(some or ())]
        page = items[body["_offset"]: body["_offset"] + body["_limit"]]
        return JSONResponse({"inventoryItems": [self._view(vs) for vs in page],
                             "metadata": {"items": len(page), "offset": body["_offset"]},
                             "totalResults": len(items)})

    async def products(self, request: Request) -> Response:
        from .wix_sim import app_error, validation_error

        body = await self._start(request)
        if isinstance(body, Response):
            return body
        some = (body["_filter"].get("id") or {}).get("$hasSome") if isinstance(body["_filter"].get("id"), dict) \
            else None
        if not isinstance(some, list) or len(some) > PAGE_MAX:
            return validation_error("query.filter", f'filter by {{"id": {{"$hasSome": [...]}}}}, ≤ {PAGE_MAX} ids')
        if body.get("includeHiddenProducts") is True and MANAGE in self.sim.missing_scopes:
            return app_error(403, "PERMISSION_DENIED", f"includeHiddenProducts needs the permission scope {MANAGE}")
        products = self._products()
        hidden_too = body.get("includeHiddenProducts") is True
        found = [products[p] for p in some if p in products and (hidden_too or not products[p][0].hidden)]
        return JSONResponse({"products": [
            {"id": vs[0].product_id, "name": vs[0].sku or "", "sku": vs[0].sku or "",
             "manageVariants": len(vs) > 1,
             "variants": [{"id": v.variant_id, "choices": {}, "variant": {"sku": v.sku}} for v in vs]}
            for vs in found], "totalResults": len(found)})

    async def patch(self, request: Request) -> Response:
        from .wix_sim import app_error, validation_error

        if (refused := await self.sim.gate(request, "V1_CATALOG", MANAGE)) is not None:
            return refused
        body = await self.sim.body(request)
        if isinstance(body, Response):
            return body
        variants = self._products().get(request.path_params["pid"])
        if variants is None:
            return app_error(404, "NOT_FOUND", "Product not found")
        item = body.get("inventoryItem")
        rows = item.get("variants") if isinstance(item, dict) else None
        if not isinstance(rows, list) or not rows:
            return validation_error("inventoryItem.variants", "variants are required")
        by_id = {v.variant_id: v for v in variants}
        for n, row in enumerate(rows):
            q = row.get("quantity") if isinstance(row, dict) else None
            if not isinstance(row, dict) or row.get("variantId") not in by_id:
                return validation_error(f"inventoryItem.variants[{n}].variantId", "unknown variant")
            if q is not None and (isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= QUANTITY_MAX):
                return validation_error(f"inventoryItem.variants[{n}].quantity",
                                        f"quantity must be 0 to {QUANTITY_MAX}")
        for hook in list(self.sim.before_write):
            hook(self.sim)
        track = item.get("trackQuantity") if isinstance(item, dict) else None
        for row in rows:
            v = by_id[row["variantId"]]
            if row.get("quantity") is not None:
                v.quantity = row["quantity"]
            if isinstance(row.get("inStock"), bool):
                v.in_stock = row["inStock"]
        for v in variants:  # omitted (or null) is false, for every variant of the product
            v.tracked = track is True
        return JSONResponse({})

    async def increment(self, request: Request) -> Response:
        return await self._relative(request, "incrementData", "incrementBy", 1)

    async def decrement(self, request: Request) -> Response:
        return await self._relative(request, "decrementData", "decrementBy", -1)

    async def _relative(self, request: Request, key: str, by: str, sign: int) -> Response:
        from .wix_sim import app_error, validation_error

        if (refused := await self.sim.gate(request, "V1_CATALOG", MANAGE)) is not None:
            return refused
        body = await self.sim.body(request)
        if isinstance(body, Response):
            return body
        rows = body.get(key)
        if not isinstance(rows, list) or not 1 <= len(rows) <= BATCH_MAX:
            return validation_error(key, f"1 to {BATCH_MAX} rows")
        products = self._products()
        by_inventory = {vs[0].inventory_id: vs for vs in products.values()}
        targets: list[tuple[WixItem, int]] = []
        for n, row in enumerate(rows):
            if not isinstance(row, dict):
                return validation_error(f"{key}[{n}]", "each row is an object")
            vs = products.get(str(row.get("productId"))) or by_inventory.get(str(row.get("inventoryId")))
            v = next((v for v in vs or () if v.variant_id == row.get("variantId")), None)
            amount = row.get(by) if isinstance(row, dict) else None
            if v is None:
                return app_error(404, "NOT_FOUND", f"{key}[{n}]: product or variant not found")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                return validation_error(f"{key}[{n}].{by}", f"{by} must be a positive whole number")
            if not v.tracked:
                return app_error(428, "TRACK_QUANTITY_DISABLED", f"{key}[{n}]: the product does not track quantity")
            targets.append((v, sign * amount))
        for hook in list(self.sim.before_write):
            hook(self.sim)
        if any(v.quantity + delta < 0 for v, delta in targets):
            return app_error(428, "INSUFFICIENT_INVENTORY", "Decrement is larger than the quantity in stock")
        if any(v.quantity + delta > QUANTITY_MAX for v, delta in targets):
            return app_error(428, "MAX_QUANTITY_LIMIT_REACHED", f"a variant holds at most {QUANTITY_MAX}")
        for v, delta in targets:
            v.quantity += delta
        return JSONResponse({})
