"""Wix Catalog V1 inventory: one inventory item per product, stock per variant, SKUs on
the Products API. A variant's reference is ``{productId}/{variantId}``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity
from ..errors import PermanentStoreError, StoreError, TransientStoreError
from .base import Applied, Deferred, Page, Rejected, UnknownOutcome, WriteResult
from .wix import QUANTITY_LIMIT, WixSite, above_cap, whole

__all__ = ["CatalogV1"]

QUERY = "/stores-reader/v2/inventoryItems/query"
PRODUCTS = "/stores-reader/v1/products/query"
PAGE = 100
LIMIT = QUANTITY_LIMIT
FLOOR = -LIMIT  # a preorder decrement may drive a variant below 0 (DecrementData.preorderRequest); no @min
ITEM_REFUSALS = {"INSUFFICIENT_INVENTORY", "TRACK_QUANTITY_DISABLED", "NOT_FOUND"}


class CatalogV1:
    def __init__(self, site: WixSite, *, relative: bool) -> None:
        self.site = site
        self.relative = relative

    # --- reads ----------------------------------------------------------------------------

    async def pull(self, catalog: Mapping[str, CatalogEntry]) -> AsyncIterator[Page]:
        """The documented crawl: sorted by ``numericId``, each page filtered past the last
        one seen (offset paging stops at 10,000 items), to a short page."""
        known = dict(catalog)
        last: int | None = None
        seen: set[str] = set()
        while True:
            items = await self._query({"numericId": {"$gt": last}} if last is not None else {})
            variants = [v for item in items for v in self._variants(item)]
            learned = await self._learn(sorted({ref.split("/")[0] for ref, _, _ in variants if ref not in known}))
            known.update({e.ref: e for e in learned})
            yield self._page(variants, known, learned, seen)
            if len(items) < PAGE:
                return
            ids = [int(i["numericId"]) for i in items]
            if last is not None and min(ids) <= last:
                raise self.site.bad("numericId did not increase between pages")
            last = max(ids)

    async def _query(self, flt: Mapping[str, Any], limit: int = PAGE) -> list[Any]:
        body = await self.site.call("POST", QUERY, {"query": {
            "paging": {"limit": limit, "offset": 0}, "filter": json.dumps(flt),
            "sort": json.dumps([{"numericId": "asc"}])}})
        items = body.get("inventoryItems") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self.site.bad("answer lacks 'inventoryItems'")
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("productId"), str) or \
                    not isinstance(item.get("variants"), list) or not str(item.get("numericId", "")).isdigit():
                raise self.site.bad("an inventory item lacks productId, variants or numericId")
        return items

    def _variants(self, item: dict[str, Any]) -> list[tuple[str, bool, Any]]:
        tracked = item.get("trackQuantity") is not False
        out = []
        for v in item["variants"]:
            if not isinstance(v, dict) or not isinstance(v.get("variantId"), str):
                raise self.site.bad(f"product {item['productId']} has a variant without variantId")
            out.append((f"{item['productId']}/{v['variantId']}", tracked, v.get("quantity")))
        return out

    async def _learn(self, product_ids: list[str]) -> list[CatalogEntry]:
        """SKUs of products not yet in the catalog, 100 products a request."""
        learned: list[CatalogEntry] = []
        for i in range(0, len(product_ids), PAGE):
            chunk = product_ids[i : i + PAGE]
            body = await self.site.call("POST", PRODUCTS, {"query": {
                "filter": json.dumps({"id": {"$hasSome": chunk}}), "paging": {"limit": PAGE, "offset": 0}},
                "includeVariants": True, "includeHiddenProducts": True})  # else hidden / draft products are left out
            products = body.get("products") if isinstance(body, dict) else None
            if not isinstance(products, list):
                raise self.site.bad("products answer lacks 'products'")
            for p in products:
                for v in (p.get("variants") or []) if isinstance(p, dict) else []:
                    sku = ((v.get("variant") or {}).get("sku") if isinstance(v, dict) else None) or None
                    if isinstance(v, dict) and isinstance(v.get("id"), str):
                        learned.append(CatalogEntry(f"{p.get('id')}/{v['id']}",
                                                    sku.strip() if isinstance(sku, str) and sku.strip() else None,
                                                    True))
        return learned

    def _page(self, variants: list[tuple[str, bool, Any]], known: Mapping[str, CatalogEntry],
              learned: list[CatalogEntry], seen: set[str]) -> Page:
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        for ref, tracked, qty in variants:
            if ref in seen:
                raise self.site.bad(f"variant {ref} appears twice in one pull")
            seen.add(ref)
            entry = known.get(ref)
            sku = entry.sku if entry else None
            if not sku:
                issues.append(ItemIssue(self.site.name, ref, None, ConflictKind.UNMAPPED, "variant has no SKU"))
            elif not tracked:
                observations.append(Observation(self.site.name, sku, ref, None))
            elif not whole(qty) or not FLOOR <= qty <= LIMIT:
                issues.append(ItemIssue(self.site.name, ref, sku, ConflictKind.BAD_DATA,
                                        f"quantity {qty!r} is not a whole number from {FLOOR:,} to {LIMIT:,}"))
            else:
                observations.append(Observation(self.site.name, sku, ref, qty))
        return Page(tuple(observations), tuple(issues), tuple(learned))

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        wanted = set(remote_ids)
        products = sorted({r.split("/")[0] for r in wanted})
        found: dict[str, Quantity] = {}
        for i in range(0, len(products), PAGE):
            for item in await self._query({"productId": {"$hasSome": products[i : i + PAGE]}}):
                for ref, tracked, qty in self._variants(item):
                    if ref in wanted and (not tracked or whole(qty)):
                        found[ref] = qty if tracked else None
        return found

    # --- writes ---------------------------------------------------------------------------

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        if not batch or len({a.remote_id for a in batch}) != len(batch):
            raise ValueError("a Wix V1 batch holds distinct variants")
        return await (self._relative(batch) if self.relative else self._absolute(batch))

    async def _absolute(self, batch: Sequence[Adjustment]) -> list[WriteResult]:
        """A fresh read; then one ``PATCH`` per product for the variants that still hold
        what was pulled (the others wait for the next pull)."""
        try:
            fresh = await self.read([a.remote_id for a in batch])
        except StoreError:
            return [Deferred(None)] * len(batch)
        results: dict[int, WriteResult] = {}
        by_product: dict[str, list[int]] = defaultdict(list)
        for i, a in enumerate(batch):
            if not 0 <= a.target <= LIMIT:
                results[i] = above_cap(a.target)
            elif a.remote_id not in fresh or fresh[a.remote_id] != a.before:
                results[i] = Deferred(fresh.get(a.remote_id))
            else:
                by_product[a.remote_id.split("/")[0]].append(i)
        for product, rows in by_product.items():
            # trackQuantity on every call: omitted, Wix takes it as false and switches quantity
            # tracking off for ALL the product's variants (UpdateInventoryVariants typings).
            body = {"inventoryItem": {"trackQuantity": True,
                                      "variants": [{"variantId": batch[i].remote_id.split("/", 1)[1],
                                                    "quantity": batch[i].target} for i in rows]}}
            outcome = await self._send("PATCH", f"/stores/v2/inventoryItems/product/{product}", body)
            results.update({i: outcome for i in rows})
        return [results[i] for i in range(len(batch))]

    async def _relative(self, batch: Sequence[Adjustment]) -> list[WriteResult]:
        """``increment`` for the rises, ``decrement`` for the falls: two all-or-nothing requests."""
        results: dict[int, WriteResult] = {i: above_cap(a.target) for i, a in enumerate(batch)
                                           if not 0 <= a.target <= LIMIT}
        for path, sign, field in (("increment", 1, "incrementBy"), ("decrement", -1, "decrementBy")):
            rows = [i for i, a in enumerate(batch) if a.delta * sign > 0 and i not in results]
            if not rows:
                continue
            key = f"{path}Data"
            body = {key: [{"productId": batch[i].remote_id.split("/")[0],
                           "variantId": batch[i].remote_id.split("/", 1)[1],
                           field: abs(batch[i].delta), **({"preorderRequest": False} if sign < 0 else {})}
                          for i in rows]}
            outcome = await self._send("POST", f"/stores/v2/inventoryItems/{path}", body, whole_batch=len(rows) > 1)
            results.update({i: outcome for i in rows})
        return [results[i] for i in range(len(batch))]

    async def _send(self, method: str, path: str, body: Any, whole_batch: bool = False) -> WriteResult:
        try:
            await self.site.call(method, path, body, retry="unsent")
        except TransientStoreError as exc:
            return UnknownOutcome(exc.reason)
        except PermanentStoreError as exc:
            code = _code(exc.reason)
            return Rejected(code or str(exc.status or "error"), exc.reason,  # whole batch: one unnamed row
                            whole_batch=whole_batch and code in ITEM_REFUSALS)
        return Applied()


def _code(reason: str) -> str:
    code = reason.split(":", 1)[0]
    return code if code.isupper() else ""
