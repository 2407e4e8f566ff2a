"""SaaSignal Commerce inventory (``shared/stores/saasignal.md``).

Pull: ``GET /modules/commerce/inventory?limit=100`` following ``next_cursor``. Records
carry no SKU: each record's product/variant is looked up once (``GET …/products/{id}``
or ``…/products/{id}/variants/{vid}``) and remembered in the ledger's catalog, so a
steady cycle asks only about what is new (or older than the catalog's refresh age).
``track_inventory = false`` is unlimited.

Writes, one record a request, several at once under the store's pacing:
- absolute (default): ``PATCH …/inventory/{id}`` after a fresh ``GET`` that still shows
  the pulled quantity; never resent blindly after an unknown outcome (re-read first);
- relative (``write_mode = "relative"``): ``POST …/inventory/{id}/adjust``, likewise.
402 (token balance exhausted) is a permanent error that tells the operator what to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import httpx

from .. import __version__
from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity, WriteStrategy
from ..errors import AuthError, BadStoreData, PermanentStoreError, StoreError, TransientStoreError
from ..http import ApiClient
from .base import Applied, Capabilities, Deferred, Page, Rejected, UnknownOutcome, WriteResult

__all__ = ["DEFAULT_BASE_URL", "SaaSignalConnector", "capabilities", "classify", "pace"]

DEFAULT_BASE_URL = "https://api.saasignal.saastemly.com"
BASE = "/modules/commerce"
PAGE_LIMIT = 100
CONCURRENCY = 8
T = TypeVar("T")


def capabilities(write_mode: str = "absolute") -> Capabilities:
    return Capabilities(
        platform="saasignal",
        strategy=WriteStrategy.RELATIVE_NO_KEY if write_mode == "relative" else WriteStrategy.ABSOLUTE_FRESH_READ,
        max_batch=50,  # one record a request; a "batch" is what runs concurrently
        requests_per_minute=600,  # Free plan: 10 requests/s
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
        self._token = token
        self._auth = {"Authorization": f"Bearer {token}"}
        self._headers = {"Accept": "application/json",
                         "User-Agent": f"syncd/{__version__} (multi-store inventory sync)"}
        self._gate = asyncio.Semaphore(CONCURRENCY)

    async def _call(self, method: str, path: str, *, retry: Any = True, expect: tuple[int, ...] = (),
                    **kw: Any) -> httpx.Response:
        """One request; the docs say Bearer, the route list says X-API-Key: on a 401 the
        other scheme is tried once and kept if it works."""
        for attempt in range(2):
            request = self.client.http.build_request(method, BASE + path, headers={**self._headers, **self._auth}, **kw)
            try:
                return await self.client.send(request, retry=retry, expect=expect)
            except AuthError:
                if attempt or "X-API-Key" in self._auth:
                    raise
                self._auth = {"X-API-Key": self._token}
        raise AssertionError("unreachable")

    async def _bounded(self, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        async def run(call: Callable[[], Awaitable[T]]) -> T:
            async with self._gate:
                return await call()

        return list(await asyncio.gather(*(run(c) for c in calls)))

    # --- pull -----------------------------------------------------------------------------

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        known = dict(catalog or {})
        cursor: str | None = None
        seen_cursors: set[str] = set()
        seen_ids: set[str] = set()
        while True:
            params: dict[str, Any] = {"limit": PAGE_LIMIT, **({"cursor": cursor} if cursor else {})}
            body = self.client.json(await self._call("GET", "/inventory", params=params))
            if not isinstance(body, dict) or not isinstance(body.get("items"), list) or "next_cursor" not in body:
                raise BadStoreData("page lacks 'items' or 'next_cursor'", store=self.name)
            records = [self._record(r, seen_ids) for r in body["items"]]
            learned = await self._learn([r for r in records if r[1] not in known])
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

    async def _learn(self, records: Sequence[tuple[str, str, Any]]) -> list[CatalogEntry]:
        refs = sorted({ref for _, ref, _ in records})
        return await self._bounded([partial(self._lookup, ref) for ref in refs])

    async def _lookup(self, ref: str) -> CatalogEntry:
        pid, _, vid = ref.partition("/")
        path = f"/products/{pid}/variants/{vid}" if vid else f"/products/{pid}"
        response = await self._call("GET", path, expect=(404,))
        if response.status_code == 404:
            return CatalogEntry(ref, None, True)
        body = self.client.json(response)
        sku = body.get("sku") if isinstance(body, dict) else None
        tracked = body.get("track_inventory", True) if isinstance(body, dict) else True
        return CatalogEntry(ref, sku.strip() if isinstance(sku, str) and sku.strip() else None, tracked is not False)

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
