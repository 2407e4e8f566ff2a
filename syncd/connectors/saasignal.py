"""SaaSignal Commerce inventory (``shared/stores/saasignal.md``; the contract is
``references/llms-full.txt`` of ``SaaSTEMLY/saasignal-agent``, vendored in tests/data/saasignal).

Pull: ``GET /modules/commerce/inventory?limit=100`` following ``next_cursor``. Records
carry no SKU, so SKUs are learned by LISTING, never item by item: a product-level record's
SKU from ``GET …/products`` (100 a page, once per pull when needed; a handful of new
products are fetched one by one), a variant's from ``GET …/products/{id}/variants`` (every
variant of that product in one answer). What is learned is remembered in the ledger's
catalog, so a steady cycle asks nothing; entries past the catalog's age are learned again
the same way (the text documents no changed-since filter on products, variants or
inventory, so "what changed" cannot be asked for). ``track_inventory = false`` is unlimited.

Pacing: the Free plan's documented limit is a bucket of 10 requests a second; syncd sends at
most 9 in any 1.02 s (a sliding window, below the rate and the burst, so arrival jitter does
not overrun the store's bucket).

Writes, one record a request, several at once under the store's pacing:
- absolute (default): ``PATCH …/inventory/{id}`` after a fresh ``GET`` that still shows
  the pulled quantity; never resent blindly after an unknown outcome (re-read first);
- relative (``write_mode = "relative"``): ``POST …/inventory/{id}/adjust``, likewise.
402 (token balance exhausted) is a permanent error that tells the operator what to do.
Auth: ``X-API-Key`` (the text's only method for these routes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import httpx

from .. import __version__
from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity, WriteStrategy
from ..errors import BadStoreData, PermanentStoreError, StoreError, TransientStoreError
from ..http import ApiClient
from .base import Applied, Capabilities, Check, Deferred, Page, Rejected, UnknownOutcome, WriteResult
from .saasignal_check import check_store

__all__ = ["DEFAULT_BASE_URL", "SaaSignalConnector", "capabilities", "classify", "pace"]

DEFAULT_BASE_URL = "https://api.saasignal.saastemly.com"
BASE = "/modules/commerce"
PAGE_LIMIT = 100
CONCURRENCY = 8
LOOKUP_MAX = 5  # new product-level records on a page fetched one by one; more: list the products
T = TypeVar("T")


def capabilities(write_mode: str = "absolute") -> Capabilities:
    return Capabilities(
        platform="saasignal",
        strategy=WriteStrategy.RELATIVE_NO_KEY if write_mode == "relative" else WriteStrategy.ABSOLUTE_FRESH_READ,
        max_batch=50,  # one record a request; a "batch" is what runs concurrently
        # Free plan: a bucket of 10 a second, burst 10. 9 in any 1.02 s: below both.
        requests_per_minute=540,
        limit_window=timedelta(seconds=1),
    )


def classify(response: httpx.Response) -> tuple[type[StoreError], str] | None:
    """402 is not transient: the organisation's token balance is empty."""
    if response.status_code == 402:
        return PermanentStoreError, ("token balance exhausted: top up the SaaSignal organisation's "
                                     "tokens; syncd will not retry this store until then")
    return None


def pace(response: httpx.Response, now: float) -> float | None:
    """Seconds to pause: on a 429, ``Retry-After``; otherwise until ``X-RateLimit-Reset``
    once ``X-RateLimit-Remaining`` reaches zero."""
    h = response.headers
    if response.status_code == 429 and h.get("Retry-After"):
        return None  # the client reads Retry-After itself
    try:
        remaining, reset = int(h["X-RateLimit-Remaining"]), float(h["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return None
    return max(0.0, reset - now) if remaining <= 0 else None


class SaaSignalConnector:
    """One SaaSignal project."""

    def __init__(self, name: str, client: ApiClient, token: str, caps: Capabilities | None = None) -> None:
        self.name = name
        self.client = client
        self.capabilities = caps or capabilities()
        self._headers = {"Accept": "application/json", "X-API-Key": token,
                         "User-Agent": f"syncd/{__version__} (multi-store inventory sync)"}
        self._gate = asyncio.Semaphore(CONCURRENCY)

    async def _call(self, method: str, path: str, *, retry: Any = True, expect: tuple[int, ...] = (),
                    base: str = BASE, **kw: Any) -> httpx.Response:
        request = self.client.http.build_request(method, base + path, headers=self._headers, **kw)
        return await self.client.send(request, retry=retry, expect=expect)

    async def _bounded(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        async def run(call: Callable[[], Awaitable[T]]) -> T:
            async with self._gate:
                return await call()

        return list(await asyncio.gather(*(run(c) for c in calls)))

    async def check(self) -> list[Check]:
        """``syncd check``: see ``saasignal_check``."""
        return await check_store(self)

    # --- pull -----------------------------------------------------------------------------

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        known = dict(catalog or {})
        products: dict[str, CatalogEntry] | None = None  # listed at most once a pull
        cursor: str | None = None
        seen_cursors: set[str] = set()
        seen_ids: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": PAGE_LIMIT, **({"cursor": cursor} if cursor else {})}
            body = self.client.json(await self._call("GET", "/inventory", params=params))
            if not isinstance(body, dict) or not isinstance(body.get("items"), list) or "next_cursor" not in body:
                raise BadStoreData("page lacks 'items' or 'next_cursor'", store=self.name)
            records = [self._record(r, seen_ids) for r in body["items"]]
            missing = sorted({ref for _, ref, _ in records if ref not in known})
            own = [ref for ref in missing if "/" not in ref]
            if products is None and len(own) > LOOKUP_MAX:
                products = await self._list_products()
            learned = await self._learn(missing, products or {})
            known.update({e.ref: e for e in learned})
            yield self._page(records, known, learned)
            cursor = body["next_cursor"]
            if cursor is None:
                return
            if not isinstance(cursor, str) or not cursor or cursor in seen_cursors:
                raise BadStoreData(f"invalid cursor {str(cursor)[:40]!r} (empty or repeated)", store=self.name)
            seen_cursors.add(cursor)

    def _record(self, raw: Any, seen: set[str]) -> tuple[str, str, Any]:
        if not isinstance(raw, dict) or not all(k in raw for k in ("id", "product_id", "variant_id", "quantity")):
            raise BadStoreData("an inventory record lacks id, product_id, variant_id or quantity", store=self.name)
        rid, pid, vid = raw["id"], raw["product_id"], raw["variant_id"]
        if not isinstance(rid, str) or not isinstance(pid, str) or not (vid is None or isinstance(vid, str)):
            raise BadStoreData("an inventory record has ids of the wrong type", store=self.name)
        if rid in seen:
            raise BadStoreData(f"record {rid!r} appears twice in one pull", store=self.name)
        seen.add(rid)
        return rid, f"{pid}/{vid}" if vid else pid, raw["quantity"]

    async def _list_products(self) -> dict[str, CatalogEntry]:
        """Every product's SKU and tracking flag, 100 a page."""
        found: dict[str, CatalogEntry] = {}
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": PAGE_LIMIT, **({"cursor": cursor} if cursor else {})}
            body = self.client.json(await self._call("GET", "/products", params=params))
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list) or "next_cursor" not in body:
                raise BadStoreData("products page lacks 'items' or 'next_cursor'", store=self.name)
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    found[item["id"]] = _entry(item["id"], item)
            cursor = body["next_cursor"]
            if cursor is None:
                return found
            if not isinstance(cursor, str) or not cursor or cursor in seen:
                raise BadStoreData(f"invalid products cursor {str(cursor)[:40]!r}", store=self.name)
            seen.add(cursor)

    async def _learn(self, refs: Sequence[str], products: Mapping[str, CatalogEntry]) -> list[CatalogEntry]:
        """Catalog entries for these references: products from the listing (or one by
        one), variants by listing each product's variants once (all of them are kept)."""
        calls: list[Callable[[], Awaitable[list[CatalogEntry]]]] = []
        learned = [products[ref] for ref in refs if "/" not in ref and ref in products]
        calls += [partial(self._product, ref) for ref in refs if "/" not in ref and ref not in products]
        wanted: dict[str, set[str]] = {}
        for ref in refs:
            if "/" in ref:
                pid, _, vid = ref.partition("/")
                wanted.setdefault(pid, set()).add(vid)
        calls += [partial(self._variants, pid, vids) for pid, vids in sorted(wanted.items())]
        for entries in await self._bounded(calls):
            learned.extend(entries)
        return learned

    async def _product(self, pid: str) -> list[CatalogEntry]:
        response = await self._call("GET", f"/products/{pid}", expect=(404,))
        if response.status_code == 404:
            return [CatalogEntry(pid, None, True)]
        return [_entry(pid, self.client.json(response))]

    async def _variants(self, pid: str, wanted: set[str]) -> list[CatalogEntry]:
        response = await self._call("GET", f"/products/{pid}/variants", expect=(404,))
        body = self.client.json(response) if response.status_code != 404 else {"items": []}
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BadStoreData(f"variants of {pid} lack 'items'", store=self.name)
        entries = {f"{pid}/{v['id']}": _entry(f"{pid}/{v['id']}", v) for v in items
                   if isinstance(v, dict) and isinstance(v.get("id"), str)}
        entries.update({f"{pid}/{vid}": CatalogEntry(f"{pid}/{vid}", None, True) for vid in wanted
                        if f"{pid}/{vid}" not in entries})  # listed in inventory, unknown to the catalog
        return list(entries.values())

    def _page(self, records: Sequence[tuple[str, str, Any]], known: Mapping[str, CatalogEntry],
              learned: Sequence[CatalogEntry]) -> Page:
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        for rid, ref, qty in records:
            entry = known[ref]
            if entry.sku is None:
                issues.append(ItemIssue(self.name, rid, None, ConflictKind.UNMAPPED, f"{ref} has no SKU"))
            elif not entry.tracked:
                observations.append(Observation(self.name, entry.sku, rid, None))
            elif isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                issues.append(ItemIssue(self.name, rid, entry.sku, ConflictKind.BAD_DATA,
                                        f"quantity {qty!r} is not a whole number of at least 0"))
            else:
                observations.append(Observation(self.name, entry.sku, rid, qty))
        return Page(tuple(observations), tuple(issues), tuple(learned))

    # --- read and write -------------------------------------------------------------------

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        answers = await self._bounded([partial(self._read_one, rid) for rid in dict.fromkeys(remote_ids)])
        return {rid: q for rid, q in answers if rid is not None}

    async def _read_one(self, rid: str) -> tuple[str | None, Quantity]:
        response = await self._call("GET", f"/inventory/{rid}", expect=(404,))
        if response.status_code == 404:
            return None, None
        body = self.client.json(response)
        qty = body.get("quantity") if isinstance(body, dict) else None
        return (rid, qty) if isinstance(qty, int) and not isinstance(qty, bool) else (None, None)

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        """Each record on its own request (the platform has no batch), a few at a time."""
        return await self._bounded([partial(self._write_one, a) for a in batch])

    async def _write_one(self, adj: Adjustment) -> WriteResult:
        relative = self.capabilities.strategy is WriteStrategy.RELATIVE_NO_KEY
        if not relative:
            try:
                _, fresh = await self._read_one(adj.remote_id)
            except StoreError:
                return Deferred(None)  # nothing was sent
            if fresh != adj.before:
                return Deferred(fresh)
        try:
            method, path, body = (("POST", f"/inventory/{adj.remote_id}/adjust", {"adjustment": adj.delta,
                                   "reason": "syncd stock sync"}) if relative
                                  else ("PATCH", f"/inventory/{adj.remote_id}", {"quantity": adj.target}))
            await self._call(method, path, json=body, retry="unsent")
        except TransientStoreError as exc:
            return UnknownOutcome(exc.reason) if exc.maybe_applied else Deferred(None)
        except PermanentStoreError as exc:
            return Rejected(str(exc.status), exc.reason)
        return Applied()


def _entry(ref: str, body: Any) -> CatalogEntry:
    """A product's or variant's SKU (blank: none) and tracking flag."""
    sku = body.get("sku") if isinstance(body, dict) else None
    tracked = body.get("track_inventory", True) if isinstance(body, dict) else True
    return CatalogEntry(ref, sku.strip() if isinstance(sku, str) and sku.strip() else None, tracked is not False)
