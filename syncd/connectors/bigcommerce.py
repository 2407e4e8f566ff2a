"""BigCommerce V3 Inventory API (``shared/stores/bigcommerce.md``, ``specs/inventory.v3.yml``).

Pull: ``GET /inventory/locations/{location_id}/items`` in pages of 1,000, walking
``meta.pagination`` to the end with several page numbers in flight at once; the quantity
is ``total_inventory_onhand`` at the configured location (the unit the absolute write
sets; BigCommerce's ``safety_stock`` then holds back a further buffer). An item is its
variant (``v<id>``), or its product (``p<id>``) when stock is tracked by product and the
item is listed without a variant id.

Tracked by product: an item listed WITH a variant id may belong to a product that tracks
stock itself (``inventory_tracking: "product"``); the location-items schema carries no
tracking mode, so the connector cannot tell from the page. A write naming such a variant is
refused whole (422 "[Item with variant_id 106 is tracked by product, please update stock by
product id]", the spec's example); the connector then writes that item by the
``product_id`` its pulled identity carried, at once, and keeps doing so.

Writes (no idempotency key and no compare-and-set on this platform):
- absolute (default): a fresh read just before ``PUT /inventory/adjustments/absolute``;
  only items whose count still equals what was pulled are written, the others wait for
  the next pull. Never resent after an unknown outcome: re-read after the apply lag.
- relative (``write_mode = "relative"``): ``POST /inventory/adjustments/relative``, never
  resent after an unknown outcome either.
Writes are asynchronous (``{transaction_id}``): reads may lag by ``apply_lag``.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from itertools import islice
from typing import Any

import httpx

from .. import __version__
from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity, WriteStrategy
from ..errors import AuthError, BadStoreData, PermanentStoreError, StoreError, TransientStoreError
from ..http import ApiClient
from .base import Applied, Capabilities, Check, Deferred, Page, Rejected, UnknownOutcome, WriteResult

__all__ = ["DEFAULT_BASE_URL", "BigCommerceConnector", "capabilities", "pace"]

DEFAULT_BASE_URL = "https://api.bigcommerce.com"
PAGE_LIMIT = 1000
PARALLEL_PAGES = 4  # pages in flight at once during a pull (the limiter paces them all)
MAX_ROWS = 2000
READ_CHUNK = 250  # ids per filtered read
INT32_MAX = 2_147_483_647
DEFAULT_APPLY_LAG = timedelta(seconds=10)
TRACKED_BY_PRODUCT = re.compile(r"variant_id (\d+) is tracked by product")


def capabilities(write_mode: str = "absolute", apply_lag: timedelta | None = None) -> Capabilities:
    return Capabilities(
        platform="bigcommerce",
        strategy=WriteStrategy.RELATIVE_NO_KEY if write_mode == "relative" else WriteStrategy.ABSOLUTE_FRESH_READ,
        max_batch=MAX_ROWS,
        requests_per_minute=300,  # Standard/Plus: 150 per 30 s
        limit_window=timedelta(seconds=30),
        apply_lag=DEFAULT_APPLY_LAG if apply_lag is None else apply_lag,
    )


def pace(response: httpx.Response, now: float) -> float | None:
    """Seconds to pause: on a 429, ``X-Retry-After`` or the window's reset; otherwise the
    reset when at most one request is left in the window (slow down before zero)."""
    h = response.headers
    reset = _number(h.get("X-Rate-Limit-Time-Reset-Ms"))
    if response.status_code == 429:
        asked = _number(h.get("X-Retry-After"))
        return asked if asked is not None else (reset / 1000 if reset is not None else None)
    left = _number(h.get("X-Rate-Limit-Requests-Left"))
    if left is not None and left <= 1 and reset:
        return reset / 1000
    return None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class BigCommerceConnector:
    """One BigCommerce store at one location."""

    def __init__(self, name: str, client: ApiClient, token: str, *, store_hash: str,
                 location_id: int | None = None, caps: Capabilities | None = None) -> None:
        self.name = name
        self.client = client
        self.capabilities = caps or capabilities()
        self._prefix = f"/stores/{store_hash}/v3"
        self._location = location_id
        self._product_of: dict[int, int] = {}  # variant id → its product's id, from pulled identities
        self._by_product: set[int] = set()  # variant ids the store said are tracked by product
        self._headers = {"X-Auth-Token": token, "Accept": "application/json",
                         "User-Agent": f"syncd/{__version__} (multi-store inventory sync)"}

    # --- reads ----------------------------------------------------------------------------

    async def location(self) -> int:
        """The configured location, or the store's default one (asked once)."""
        if self._location is None:
            body = await self._get("/inventory/locations", {"is_default": "true"})
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list) or not data or not isinstance(data[0].get("id"), int):
                raise self._bad("no default location in GET /inventory/locations")
            self._location = int(data[0]["id"])
        return self._location

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        """Every page, yielded in order. Page numbers need no cursor, so once the first
        page gives ``total_pages`` the next ``PARALLEL_PAGES`` are in flight at once (the
        client's limiter still paces every request): a pull takes the rate limit's time,
        not pages × round trips. The collection changing under the scan (its ``total``
        moving) fails the pull: offset paging could have skipped or repeated items."""
        path = f"/inventory/locations/{await self.location()}/items"
        seen: set[str] = set()
        rows, meta = self._page(await self._get(path, {"page": 1, "limit": PAGE_LIMIT}), 1)
        total, last = meta["total"], meta["total_pages"]
        yield self._parse(rows, seen)
        in_flight: deque[tuple[int, asyncio.Task[Any]]] = deque()
        following = iter(range(2, last + 1))
        try:
            while True:
                for page in islice(following, PARALLEL_PAGES - len(in_flight)):
                    get = self._get(path, {"page": page, "limit": PAGE_LIMIT})
                    in_flight.append((page, asyncio.ensure_future(get)))
                if not in_flight:
                    return
                page, task = in_flight.popleft()
                rows, meta = self._page(await task, page)
                if meta["total"] != total:
                    raise self._bad("the inventory changed during the pull (total moved); retry next cycle")
                yield self._parse(rows, seen)
        finally:
            for _, task in in_flight:
                task.cancel()
            await asyncio.gather(*(task for _, task in in_flight), return_exceptions=True)

    def _page(self, body: Any, page: int) -> tuple[list[Any], dict[str, int]]:
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise self._bad("page lacks a 'data' list")
        meta = (body.get("meta") or {}).get("pagination") if isinstance(body.get("meta"), dict) else None
        keys = ("total", "current_page", "total_pages")
        if not isinstance(meta, dict) or not all(isinstance(meta.get(k), int) and not isinstance(meta.get(k), bool)
                                                 for k in keys):
            raise self._bad("page lacks 'meta.pagination' with total, current_page and total_pages")
        if meta["current_page"] != page:
            raise self._bad(f"asked for page {page}, got page {meta['current_page']}")
        return body["data"], {k: int(meta[k]) for k in keys}

    def _parse(self, rows: list[Any], seen: set[str]) -> Page:
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        name = self.name
        for row in rows:
            ref, sku, qty = self._row(row)
            if ref in seen:
                raise self._bad(f"item {ref} appears twice in one pull")
            seen.add(ref)
            if not sku:
                issues.append(ItemIssue(name, ref, None, ConflictKind.UNMAPPED, "item has no SKU"))
            elif type(qty) is not int or not 0 <= qty <= INT32_MAX:  # bool is not int here
                issues.append(ItemIssue(name, ref, sku, ConflictKind.BAD_DATA,
                                        f"total_inventory_onhand {qty!r} is not a whole number from 0 to {INT32_MAX}"))
            else:
                observations.append(Observation(name, sku, ref, qty))
        return Page(tuple(observations), tuple(issues))

    def _row(self, row: Any) -> tuple[str, str, Any]:
        """(reference, SKU or "" for none, quantity as sent)."""
        identity = row.get("identity") if isinstance(row, dict) else None
        if not isinstance(identity, dict) or "total_inventory_onhand" not in row:
            raise self._bad("an item lacks 'identity' or 'total_inventory_onhand'")
        if type(variant := identity.get("variant_id")) is int:  # bool is not int here
            ref = f"v{variant}"
            if type(product := identity.get("product_id")) is int:
                self._product_of[variant] = product
        elif type(product := identity.get("product_id")) is int:
            ref = f"p{product}"
        else:
            raise self._bad("an item has neither variant_id nor product_id")
        sku = identity.get("sku")
        return ref, sku.strip() if isinstance(sku, str) else "", row["total_inventory_onhand"]

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        """Current on-hand counts of these items at the location (filtered reads)."""
        loc = await self.location()
        found: dict[str, Quantity] = {}
        for prefix, param in (("v", "variant_id:in"), ("p", "product_id:in")):
            ids = sorted({r[1:] for r in remote_ids if r.startswith(prefix)})
            for i in range(0, len(ids), READ_CHUNK):
                chunk = ids[i : i + READ_CHUNK]
                query = {param: ",".join(chunk), "limit": PAGE_LIMIT}
                body = await self._get(f"/inventory/locations/{loc}/items", query)
                rows, _ = self._page(body, 1)
                for row in rows:
                    ref, _sku, qty = self._row(row)
                    if ref[0] == prefix and isinstance(qty, int) and not isinstance(qty, bool):
                        found[ref] = qty
        return found

    async def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        request = self.client.http.build_request("GET", self._prefix + path, params=params, headers=self._headers)
        return self.client.json(await self.client.send(request))

    def _bad(self, message: str) -> BadStoreData:
        return BadStoreData(message, store=self.name)

    # --- syncd check (read-only) ----------------------------------------------------------

    async def check(self) -> list[Check]:
        """Token, the location (exists, active), the inventory scope and the first page:
        two GETs. The write scope cannot be seen without writing; it is named."""
        want = self._location
        query = {"location_id:in": want} if want is not None else {"is_default": "true"}
        try:
            body = await self._get("/inventory/locations", query)
        except StoreError as exc:
            return _refused(exc, "location", "Store Locations: read-only (store_locations_read_only)")
        checks = [Check("token", True, "the access token was accepted")]
        data = body.get("data") if isinstance(body, dict) else None
        location = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
        if location is None or not isinstance(location.get("id"), int):
            what = f"location {want} does not exist" if want is not None else "the store has no default location"
            return [*checks, Check("location", False, what, "set location_id to one of the store's locations "
                                   "(Settings › Locations) or leave it out for the default one")]
        if location.get("enabled") is False:
            return [*checks, Check("location", False, f"location {location['id']} is not active",
                                   "activate the location in BigCommerce, or set location_id to an active one")]
        self._location = int(location["id"])
        checks.append(Check("location", True, f"location {self._location} exists and is active"))
        path = f"/inventory/locations/{self._location}/items"
        try:
            rows, _ = self._page(await self._get(path, {"page": 1, "limit": PAGE_LIMIT}), 1)
            page = self._parse(rows, set())
        except StoreError as exc:
            return [*checks, *_refused(exc, "first_page", "Store Inventory: modify (store_inventory)")]
        checks.append(Check("scopes", True, "inventory reads allowed; writes need Store Inventory: modify "
                                            "(store_inventory), which cannot be checked without writing"))
        issues = f", {len(page.issues)} item(s) syncd cannot use" if page.issues else ""
        checks.append(Check("first_page", True, f"{len(page.observations)} item(s) on the first page{issues}"))
        return checks

    # --- writes ---------------------------------------------------------------------------

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        """Absolute: only items whose fresh read still equals the pulled value are
        written; relative: every item. ``key`` is not sent (the platform has none)."""
        if not 0 < len(batch) <= MAX_ROWS:
            raise ValueError(f"a BigCommerce batch holds 1 to {MAX_ROWS} rows, not {len(batch)}")
        if self.capabilities.strategy is WriteStrategy.RELATIVE_NO_KEY:
            return await self._send(batch, "/inventory/adjustments/relative", "POST", relative=True)
        try:
            fresh = await self.read([a.remote_id for a in batch])
        except StoreError:
            return [Deferred(None)] * len(batch)  # nothing sent: the next pull plans again
        results: dict[int, WriteResult] = {}
        ready = []
        for i, adj in enumerate(batch):
            if fresh.get(adj.remote_id) == adj.before:
                ready.append(i)
            else:
                results[i] = Deferred(fresh.get(adj.remote_id))
        if ready:
            sent = await self._send([batch[i] for i in ready], "/inventory/adjustments/absolute", "PUT", relative=False)
            results.update(zip(ready, sent, strict=True))
        return [results[i] for i in range(len(batch))]

    def _identity(self, remote_id: str) -> dict[str, int]:
        """The row's identity: ``variant_id``, or ``product_id`` for a product-level item
        (listed without a variant, or a variant the store said is tracked by product)."""
        number = int(remote_id[1:])
        if remote_id[0] == "p":
            return {"product_id": number}
        if number in self._by_product:
            return {"product_id": self._product_of[number]}
        return {"variant_id": number}

    async def _send(self, batch: Sequence[Adjustment], path: str, method: str, *, relative: bool) -> list[WriteResult]:
        """One write. A refusal naming variants tracked by product (nothing was applied:
        validation is all or nothing) is sent again at once with those rows by product id."""
        loc = await self.location()
        in_batch = {int(a.remote_id[1:]) for a in batch if a.remote_id[0] == "v"}
        while True:
            items = [{"location_id": loc, **self._identity(a.remote_id), "quantity": a.delta if relative else a.target}
                     for a in batch]
            request = self.client.http.build_request(
                method, self._prefix + path, json={"reason": "syncd stock sync", "items": items},
                headers={**self._headers, "Content-Type": "application/json"})
            try:
                await self.client.send(request, retry="unsent")
            except TransientStoreError as exc:
                if exc.maybe_applied:
                    return [UnknownOutcome(exc.reason)] * len(batch)
                return [Deferred(None)] * len(batch)
            except PermanentStoreError as exc:
                named = {int(v) for v in TRACKED_BY_PRODUCT.findall(exc.reason)}
                learned = {v for v in named & in_batch if v in self._product_of} - self._by_product
                if exc.status == 422 and learned:
                    self._by_product |= learned
                    continue
                # Validation is all or nothing and the title may not name the item: split.
                return [Rejected(str(exc.status), exc.reason, whole_batch=exc.status == 422)] * len(batch)
            return [Applied()] * len(batch)


def _refused(exc: StoreError, name: str, scope: str) -> list[Check]:
    """A failed read as ``syncd check`` lines: 401 the token, 403 the named scope."""
    if isinstance(exc, AuthError) and exc.status == 403:
        return [Check("token", True, "the access token was accepted"),
                Check("scopes", False, f"the token lacks a scope (403): {exc.reason}",
                      f"give the API account the scope {scope} in BigCommerce (Settings › API accounts)")]
    if isinstance(exc, AuthError):
        return [Check("token", False, f"the access token was refused ({exc.status}): {exc.reason}",
                      "check the token the store's token_env / token_file names: wrong, revoked or expired")]
    if isinstance(exc, PermanentStoreError) and exc.status == 404 and name == "first_page":
        return [Check("location", False, f"the location's inventory was not found (404): {exc.reason}",
                      "set location_id to one of the store's locations, or leave it out for the default one")]
    return [Check(name, False, f"{type(exc).__name__}: {exc.reason}",
                  "check store_hash and base_url, then run syncd check again")]
