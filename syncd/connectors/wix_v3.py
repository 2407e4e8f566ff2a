"""Wix Catalog V3 inventory items: one item per variant × location, guarded by ``revision``.

Counts may be negative: paid orders decrement past 0 (``InventoryItem.quantity`` is
-99,999..99,999 in the SDK typings), so a negative count is an observation like any sale.
Query Inventory Items pages by ``pagingMetadata.cursors.next`` alone: its answer has no
``hasNext`` (``PlatformPagingMetadataV2``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity
from ..errors import PermanentStoreError, StoreError, TransientStoreError
from .base import Applied, Deferred, Page, Rejected, UnknownOutcome, WriteResult
from .wix import QUANTITY_LIMIT, WixSite, above_cap, whole

__all__ = ["CatalogV3"]

QUERY = "/stores/v3/inventory-items/query"
BULK_UPDATE = "/stores/v3/bulk/inventory-items/update"
PAGE = 1000
READ_CHUNK = 100
LIMIT = QUANTITY_LIMIT  # InventoryItem.quantity: @min -99999 @max 99999


class CatalogV3:
    def __init__(self, site: WixSite, location_id: str | None) -> None:
        self.site = site
        self.location = location_id
        self.revisions: dict[str, str] = {}  # item id → revision, from the latest pull or read

    async def pull(self, catalog: Mapping[str, CatalogEntry]) -> AsyncIterator[Page]:
        """Every item at the location, in cursor order. Without a configured location,
        the site must keep its stock at one location (else the pull fails and says so)."""
        query: dict[str, Any] = {"cursorPaging": {"limit": PAGE}}
        if self.location:
            query["filter"] = {"locationId": {"$eq": self.location}}
        seen: set[str] = set()
        cursors: set[str] = set()
        while True:
            body = await self.site.call("POST", QUERY, {"query": query})
            items, meta = self._page(body)
            yield self._parse(items, seen)
            cursor_set = meta.get("cursors")
            nxt = cursor_set.get("next") if isinstance(cursor_set, dict) else None
            if nxt is None or nxt == "":  # the last page: no next cursor (there is no hasNext here)
                return
            if not isinstance(nxt, str) or nxt in cursors:
                raise self.site.bad("the next cursor is malformed or repeats an earlier one")
            cursors.add(nxt)
            query = {"cursorPaging": {"limit": PAGE, "cursor": nxt}}

    def _page(self, body: Any) -> tuple[list[Any], dict[str, Any]]:
        """Items and paging metadata. An empty answer may leave ``inventoryItems`` out (the
        typings give it ``@minSize 1``); a page with items must say where the next one is."""
        if not isinstance(body, dict):
            raise self.site.bad("page is not a JSON object")
        items, meta = body.get("inventoryItems", []), body.get("pagingMetadata")
        if not isinstance(items, list) or (items and not isinstance(meta, dict)) or \
                (meta is not None and not isinstance(meta, dict)):
            raise self.site.bad("page lacks 'inventoryItems' or 'pagingMetadata'")
        return items, meta or {}

    def _parse(self, items: list[Any], seen: set[str]) -> Page:
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        name = self.site.name
        for raw in items:
            ref, sku, qty = self._item(raw)
            if ref in seen:
                raise self.site.bad(f"inventory item {ref} appears twice in one pull")
            seen.add(ref)
            if not sku:
                issues.append(ItemIssue(name, ref, None, ConflictKind.UNMAPPED, "variant has no SKU"))
            elif qty is not None and (type(qty) is not int or not -LIMIT <= qty <= LIMIT):  # bool is not int
                issues.append(ItemIssue(name, ref, sku, ConflictKind.BAD_DATA,
                                        f"quantity {qty!r} is not a whole number from {-LIMIT:,} to {LIMIT:,}"))
            else:
                observations.append(Observation(name, sku, ref, qty))
        return Page(tuple(observations), tuple(issues))

    def _item(self, raw: Any) -> tuple[str, str, Any]:
        """(item id, SKU or "" for none, quantity or None for in-stock tracking);
        remembers the revision."""
        ref = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(ref, str) or "revision" not in raw:
            raise self.site.bad("an inventory item lacks 'id' or 'revision'")
        loc = raw.get("locationId")
        if loc != self.location:
            if self.location is not None:
                raise self.site.bad(f"items at more than one location ({self.location}, {loc}): set location_id "
                                    "to the location syncd should keep in step")
            self.location = loc if isinstance(loc, str) else None
        revision = raw["revision"]
        self.revisions[ref] = revision if type(revision) is str else str(revision)
        product = raw.get("product")
        sku = product.get("variantSku") if isinstance(product, dict) else None
        sku = sku.strip() if isinstance(sku, str) else ""
        if "quantity" not in raw:
            if raw.get("trackQuantity") is False or "inStock" in raw:
                return ref, sku, None
            raise self.site.bad(f"item {ref} has neither 'quantity' nor 'inStock'")
        if raw.get("trackQuantity") is False:
            return ref, sku, None
        return ref, sku, raw["quantity"]

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        found: dict[str, Quantity] = {}
        ids = list(dict.fromkeys(remote_ids))
        for i in range(0, len(ids), READ_CHUNK):
            query = {"cursorPaging": {"limit": READ_CHUNK}, "filter": {"id": {"$in": ids[i : i + READ_CHUNK]}}}
            items, _ = self._page(await self.site.call("POST", QUERY, {"query": query}))
            for raw in items:
                ref, _sku, qty = self._item(raw)
                if qty is None or whole(qty):
                    found[ref] = qty
        return found

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        """One bulk update; each row carries the revision its ``before`` was read at, so
        Wix applies it only if the item has not changed since. Results row by row. A target
        outside Wix's range is refused here (see ``wix.above_cap``), never sent."""
        if not 0 < len(batch) <= PAGE or len({a.remote_id for a in batch}) != len(batch):
            raise ValueError(f"a Wix V3 batch holds 1 to {PAGE} distinct items, not {len(batch)}")
        results: dict[int, WriteResult] = {i: above_cap(a.target) for i, a in enumerate(batch)
                                           if not 0 <= a.target <= LIMIT}
        unknown = [a.remote_id for i, a in enumerate(batch) if a.remote_id not in self.revisions and i not in results]
        if unknown:  # not seen since this connector started: read them (and their revisions) first
            try:
                fresh = await self.read(unknown)
            except StoreError:
                return [results.get(i, Deferred(None)) for i in range(len(batch))]
            for i, a in enumerate(batch):
                if a.remote_id in unknown and (a.remote_id not in fresh or fresh[a.remote_id] != a.before):
                    results[i] = Deferred(fresh.get(a.remote_id))
        send = [i for i in range(len(batch)) if i not in results]
        if send:
            results.update(await self._update(batch, send))
        return [results[i] for i in range(len(batch))]

    async def _update(self, batch: Sequence[Adjustment], send: list[int]) -> dict[int, WriteResult]:
        sent = {batch[i].remote_id: self.revisions[batch[i].remote_id] for i in send}
        rows = [{"inventoryItem": {"id": batch[i].remote_id, "revision": sent[batch[i].remote_id],
                                   "quantity": batch[i].target}} for i in send]
        try:
            body = await self.site.call("POST", BULK_UPDATE, {"inventoryItems": rows, "returnEntity": False,
                                                              "reason": "MANUAL"}, retry="unsent")
        except TransientStoreError as exc:
            return {i: UnknownOutcome(exc.reason) for i in send}
        except PermanentStoreError as exc:
            return {i: Rejected(str(exc.status or "error"), exc.reason) for i in send}
        for i in send:
            self.revisions.pop(batch[i].remote_id, None)  # moved on (or not): read again before a next write
        results = body.get("results") if isinstance(body, dict) else None
        meta = body.get("bulkActionMetadata") if isinstance(body, dict) else None
        if not isinstance(results, list) or (isinstance(meta, dict) and meta.get("undetailedFailures")):
            return {i: UnknownOutcome("bulk update answered without itemised results") for i in send}
        out: dict[int, WriteResult] = {}
        failed: dict[int, tuple[str, str]] = {}
        for result in results:
            m = result.get("itemMetadata") if isinstance(result, dict) else None
            if not isinstance(m, dict):
                continue
            index = m.get("originalIndex")
            if not whole(index) or not 0 <= index < len(send):
                continue
            if m.get("success") is True:
                out[send[index]] = Applied()
                continue
            error = m.get("error")
            error = error if isinstance(error, dict) else {}
            failed[send[index]] = (str(error.get("code") or "ERROR"), str(error.get("description") or ""))
        if failed:
            out.update(await self._judge(batch, failed, sent))
        return {i: out.get(i, UnknownOutcome("no result for this row")) for i in send}

    async def _judge(self, batch: Sequence[Adjustment], failed: dict[int, tuple[str, str]],
                     sent: Mapping[str, str]) -> dict[int, WriteResult]:
        """Failed rows applied nothing. Whether one failed because the item moved on (a sale
        or another app's write: stale) is read from the item itself, not from the error's
        code (the typings name no stale-revision code): a revision or a count that is no
        longer the one the write was made from defers it to the next pull; otherwise the
        refusal is the item's own (Rejected, with Wix's code)."""
        try:
            fresh = await self.read([batch[i].remote_id for i in failed])
        except StoreError:
            return {i: Deferred(None, refused=f"{code}: {message}") for i, (code, message) in failed.items()}
        out: dict[int, WriteResult] = {}
        for i, (code, message) in failed.items():
            ref = batch[i].remote_id
            moved = ref in fresh and (fresh[ref] != batch[i].before or self.revisions.get(ref) != sent[ref])
            out[i] = Deferred(fresh[ref], refused=f"{code}: {message}") if moved else Rejected(code, message)
        return out
