"""Shopify Admin GraphQL API (``shared/stores/shopify.md``), version 2026-04 or later
(pinned 2026-10; every document is in ``shopify_documents``, checked against Shopify's
introspection of that version).

Pull: the configured location's (default: the primary location's) inventory levels,
``available`` with each item's SKU and ``tracked`` flag, 250 levels a page following
``pageInfo.endCursor``. ``available`` may be negative (orders outran stock): that is a
sale like any other, not bad data. Shopify pages a connection no further than 25,000
objects, so a catalogue larger than ``bulk_threshold`` is pulled by a bulk query
operation (``shopify_bulk``); when Shopify refuses it (bulk queries not allowed for the
app, another one running, too many) the pull pages instead, and fails loudly, naming the
setting to enable, rather than stop silently at 25,000.

Writes: ``inventorySetQuantities`` on ``available`` with ``changeFromQuantity`` = the
pulled value (compare-and-set) under an ``@idempotent`` key the outbox holds before the
request is sent; a resend under that key within 24 hours is answered from Shopify's
record, not applied again. A stale row is refused (``CHANGE_FROM_QUANTITY_STALE``): that
item waits for the next pull with a ``stale_write`` conflict, and the batch's other rows,
not applied (the mutation is all or nothing), are sent again at once under a new key.
A batch whose every row already holds its target changes nothing: Shopify answers no
adjustment group and no error, and the rows are Applied.

Throttling: every answer's ``extensions.cost.throttleStatus`` feeds a model of the
leaky bucket, and each request waits until the bucket holds what Shopify last asked
for that document (``requestedQueryCost``), so a steady cycle is not throttled and waits
no longer than Shopify's own pricing needs; a ``THROTTLED`` error (inside an HTTP 200)
waits what the bucket needs and retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
import structlog

from .. import __version__
from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity, WriteStrategy
from ..errors import AuthError, BadStoreData, PermanentStoreError, RateLimited, StoreError, TransientStoreError
from ..http import ApiClient
from . import shopify_bulk, shopify_check
from .base import Applied, Capabilities, Check, Deferred, NotApplied, Page, Rejected, UnknownOutcome, WriteResult
from .shopify_documents import COUNT, LEVELS, PAGE, PAGE_COST, PAGED_MAX, PRIMARY, READ, SET, SET_COST

__all__ = ["CAPABILITIES", "PAGE_COST", "ShopifyConnector", "classify", "pace"]

log = structlog.get_logger("syncd.connectors.shopify")

MAX_ROWS = 250
LIMIT = 1_000_000_000  # |available| Shopify holds: INVALID_QUANTITY_TOO_HIGH / _TOO_LOW beyond

CAPABILITIES = Capabilities(
    platform="shopify",
    strategy=WriteStrategy.ABSOLUTE_CAS,
    max_batch=MAX_ROWS,
    requests_per_minute=1200,  # a courtesy cap: the real limit is the query-cost bucket
    key_retention=timedelta(hours=24),
)


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    if b'"errors"' not in response.content:
        return []
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _code(error: dict[str, Any]) -> str:
    ext = error.get("extensions")
    return str(ext.get("code") or "") if isinstance(ext, dict) else ""


def classify(response: httpx.Response) -> tuple[type[StoreError], str] | None:
    """GraphQL reports failures inside HTTP 200s: throttling, internal errors, access."""
    codes = {_code(e) for e in _errors(response)}
    if "THROTTLED" in codes:
        return RateLimited, "throttled (query cost)"
    if "INTERNAL_SERVER_ERROR" in codes:
        return TransientStoreError, "Shopify internal error"
    if "ACCESS_DENIED" in codes:
        return AuthError, "access denied (missing scope?)"
    if response.status_code == 423:
        return PermanentStoreError, "shop locked (423)"
    return None


def pace(response: httpx.Response, now: float) -> float | None:
    """After ``THROTTLED``: the seconds the bucket needs to hold the refused request."""
    if "THROTTLED" not in {_code(e) for e in _errors(response)}:
        return None
    cost = response.json().get("extensions", {}).get("cost", {})
    status = cost.get("throttleStatus") or {}
    try:
        need = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, need / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


class CostBucket:
    """The client's model of Shopify's leaky bucket, from ``throttleStatus``."""

    def __init__(self) -> None:
        self.maximum = self.available = self.rate = 0.0
        self.at: float | None = None

    def update(self, body: Any, now: float) -> None:
        status = ((body.get("extensions") or {}).get("cost") or {}).get("throttleStatus") if isinstance(
            body, dict) else None
        if isinstance(status, dict):
            try:
                self.maximum, self.available = float(status["maximumAvailable"]), float(status["currentlyAvailable"])
                self.rate, self.at = float(status["restoreRate"]), now
            except (KeyError, TypeError, ValueError):
                pass

    def wait(self, cost: float, now: float) -> float:
        if self.at is None or self.rate <= 0:
            return 0.0  # nothing known yet: the bucket starts full
        predicted = min(self.maximum, self.available + (now - self.at) * self.rate)
        # One point to spare: Shopify's bucket and this model must not differ by a rounding.
        return max(0.0, (min(cost + 1, self.maximum) - predicted) / self.rate)


class ShopifyConnector:
    """One Shopify shop at one location."""

    capabilities = CAPABILITIES

    def __init__(self, name: str, client: ApiClient, token: str, *, api_version: str = "2026-10",
                 location_id: int | None = None, bulk_threshold: int | None = 10_000,
                 bulk_timeout: float = 1800.0) -> None:
        self.name = name
        self.client = client
        self.api_version = api_version
        self.path = f"/admin/api/{api_version}/graphql.json"
        self._location = f"gid://shopify/Location/{location_id}" if location_id else None
        self.configured_location = self._location
        self.bulk_threshold = bulk_threshold
        self.bulk_timeout = bulk_timeout
        self.paged_max = PAGED_MAX
        self.bucket = CostBucket()
        self.costs: dict[tuple[str, float], float] = {}  # (document, estimate) → Shopify's requestedQueryCost
        self.variants: int | None = None  # the last count of the shop's variants
        self._headers = {"X-Shopify-Access-Token": token, "Accept": "application/json",
                         "User-Agent": f"syncd/{__version__} (multi-store inventory sync)"}

    # --- transport ------------------------------------------------------------------------

    async def _post(self, query: str, variables: Mapping[str, Any], cost: float, *,
                    retry: bool = True) -> tuple[httpx.Response, dict[str, Any]]:
        """Send one document; answer the response and its ``data``. The wait before it is
        what the bucket needs for the cost Shopify asked last time (``cost`` before that)."""
        key = (query, cost)
        await self.client.clock.sleep(self.bucket.wait(self.costs.get(key, cost), self.client.clock.monotonic()))
        request = self.client.http.build_request("POST", self.path, headers=self._headers,
                                                 json={"query": query, "variables": dict(variables)})
        response = await self.client.send(request, retry=retry)
        body = self.client.json(response)
        self.bucket.update(body, self.client.clock.monotonic())
        if not isinstance(body, dict):
            raise self._bad("answer is not a JSON object")
        requested = ((body.get("extensions") or {}).get("cost") or {}).get("requestedQueryCost")
        if isinstance(requested, int | float) and not isinstance(requested, bool) and requested >= 0:
            self.costs[key] = float(requested)
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            raise PermanentStoreError(f"GraphQL error: {str(first.get('message') or errors)[:300]}", store=self.name,
                                      method="POST", url=self.path, status=response.status_code)
        if not isinstance(body.get("data"), dict):
            raise self._bad("answer has no 'data'")
        return response, body["data"]

    async def _gql(self, query: str, variables: Mapping[str, Any], cost: float, *,
                   retry: bool = True) -> dict[str, Any]:
        return (await self._post(query, variables, cost, retry=retry))[1]

    def _bad(self, message: str) -> BadStoreData:
        return BadStoreData(message, store=self.name)

    async def location(self) -> str:
        if self._location is None:
            data = await self._gql(PRIMARY, {}, 1)
            loc = (data.get("location") or {}).get("id")
            if not isinstance(loc, str):
                raise self._bad("the shop has no primary location")
            self._location = loc
        return self._location

    async def check(self) -> list[Check]:
        """Read-only: token, API version, scopes, location, bulk access, first page."""
        return await shopify_check.check(self)

    # --- reads ----------------------------------------------------------------------------

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        """Every level at the location, in cursor order (or from a bulk operation)."""
        loc = await self.location()
        refused: shopify_bulk.Refusal | None = None
        if self.bulk_threshold is not None and (await self.count()) > self.bulk_threshold:
            started = await shopify_bulk.start(self, loc)
            if isinstance(started, str):
                async for page in shopify_bulk.pages(self, started):
                    yield page
                return
            refused = started
            log.warning("shopify.bulk_refused", store=self.name, reason=str(refused),
                        fallback=f"paged pull (Shopify pages at most {self.paged_max:,} levels)",
                        fix=shopify_bulk.ENABLE_BULK if refused.code == "ACCESS_DENIED" else "")
        async for page in self._paged(loc, refused):
            yield page

    async def count(self) -> int:
        counted = (await self._gql(COUNT, {}, 1)).get("productVariantsCount") or {}
        self.variants = counted["count"] if type(counted.get("count")) is int else 0
        return self.variants

    async def _paged(self, loc: str, refused: shopify_bulk.Refusal | None) -> AsyncIterator[Page]:
        after: str | None = None
        seen: set[str] = set()
        while True:
            data = await self._gql(LEVELS, {"loc": loc, "first": PAGE, "after": after}, PAGE_COST)
            levels = (data.get("location") or {}).get("inventoryLevels")
            if not isinstance(levels, dict) or not isinstance(levels.get("nodes"), list):
                raise self._bad(f"location {loc} not found, or its page lacks inventoryLevels.nodes")
            yield self._parse([(n.get("item") if isinstance(n, dict) else None,
                                n.get("quantities") if isinstance(n, dict) else None) for n in levels["nodes"]], seen)
            info = levels.get("pageInfo") or {}
            more = bool(info.get("hasNextPage"))
            if len(seen) >= self.paged_max and (more or (self.variants or 0) > self.paged_max):
                raise self._capped(refused)
            if not more:
                return
            cursor = info.get("endCursor")
            if not isinstance(cursor, str) or not cursor or cursor == after:
                raise self._bad("hasNextPage is true but endCursor is missing or repeated")
            after = cursor

    def _capped(self, refused: shopify_bulk.Refusal | None) -> PermanentStoreError:
        """Shopify pages no further: the pull cannot see every level, so it fails."""
        if refused is None:
            why, fix = "bulk pulls are off (bulk_threshold is unset)", "set bulk_threshold (e.g. 10000)"
        elif refused.code == "ACCESS_DENIED":
            why, fix = "Shopify refused the bulk query (not allowed for this app)", shopify_bulk.ENABLE_BULK
        else:
            why, fix = f"Shopify refused the bulk query ({refused})", "retry when the running bulk operation ends"
        return PermanentStoreError(f"the location holds more than the {self.paged_max:,} levels Shopify pages, and "
                                   f"{why}: the pull cannot read every level. Fix: {fix}", store=self.name)

    def _parse(self, rows: list[tuple[Any, Any]], seen: set[str]) -> Page:
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        name = self.name
        for item, quantities in rows:
            ref = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ref, str):
                raise self._bad("an inventory level has no item id")
            if ref in seen:
                raise self._bad(f"item {ref} appears twice in one pull")
            seen.add(ref)
            raw_sku = item.get("sku")
            sku = raw_sku.strip() if isinstance(raw_sku, str) else ""
            if not sku:
                issues.append(ItemIssue(name, ref, None, ConflictKind.UNMAPPED, "item has no SKU"))
            elif item.get("tracked") is False:
                observations.append(Observation(name, sku, ref, None))
            elif type(qty := _available(quantities)) is not int or not -LIMIT <= qty <= LIMIT:  # bool is not int
                issues.append(ItemIssue(name, ref, sku, ConflictKind.BAD_DATA,
                                        f"available {qty!r} is not a whole number from {-LIMIT:,} to {LIMIT:,}"))
            else:
                observations.append(Observation(name, sku, ref, qty))  # below 0: oversold, a real count
        return Page(tuple(observations), tuple(issues))

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        loc = await self.location()
        found: dict[str, Quantity] = {}
        ids = list(dict.fromkeys(remote_ids))
        for i in range(0, len(ids), MAX_ROWS):
            chunk = ids[i : i + MAX_ROWS]
            nodes = (await self._gql(READ, {"ids": chunk, "loc": loc}, 3 * len(chunk))).get("nodes")
            for node in nodes if isinstance(nodes, list) else ():
                if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                    continue
                level = node.get("inventoryLevel")
                qty = _available(level.get("quantities")) if isinstance(level, dict) else None
                if node.get("tracked") is False:
                    found[node["id"]] = None
                elif isinstance(qty, int) and not isinstance(qty, bool):
                    found[node["id"]] = qty
        return found

    # --- writes ---------------------------------------------------------------------------

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        """Set ``available`` to each target if it still equals the pulled value. The
        variables depend only on ``batch``, ``key`` and the location, so a resend under
        the same key is the identical request Shopify answers from its record."""
        if not 0 < len(batch) <= MAX_ROWS or len({a.remote_id for a in batch}) != len(batch):
            raise ValueError(f"a Shopify batch holds 1 to {MAX_ROWS} distinct items, not {len(batch)}")
        loc = await self.location()
        rows = [{"inventoryItemId": a.remote_id, "locationId": loc, "quantity": a.target,
                 "changeFromQuantity": a.before} for a in batch]
        variables = {"input": {"name": "available", "reason": "correction",
                               "referenceDocumentUri": f"gid://syncd/Write/{key}", "quantities": rows}, "key": key}
        try:
            data = await self._gql(SET, variables, SET_COST)
        except TransientStoreError as exc:
            return [UnknownOutcome(exc.reason)] * len(batch)
        except PermanentStoreError as exc:
            return [Rejected(str(exc.status or "error"), exc.reason)] * len(batch)
        payload = data.get("inventorySetQuantities")
        if not isinstance(payload, dict):
            return [UnknownOutcome("no inventorySetQuantities payload")] * len(batch)
        errors = [e for e in payload.get("userErrors") or () if isinstance(e, dict)]
        if not errors:  # a group, or none when every row already held its target (a no-op): applied
            return [Applied()] * len(batch)
        return self._refusals(batch, errors)

    def _refusals(self, batch: Sequence[Adjustment], errors: list[dict[str, Any]]) -> list[WriteResult]:
        """All or nothing: rows named by an error are refused (stale → Deferred); the
        others were not applied and go again under a new key."""
        by_row: dict[int, dict[str, Any]] = {}
        general: list[dict[str, Any]] = []
        for e in errors:
            field = e.get("field")
            if isinstance(field, list) and len(field) >= 3 and field[1] == "quantities" and str(field[2]).isdigit():
                by_row.setdefault(int(field[2]), e)
            else:
                general.append(e)
        if general:
            code, message = str(general[0].get("code") or "ERROR"), str(general[0].get("message") or "")
            if code == "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED":
                return [NotApplied(message)] * len(batch)
            if code == "IDEMPOTENCY_CONCURRENT_REQUEST":
                return [UnknownOutcome(message)] * len(batch)  # settled later under the same key
            return [Rejected(code, message)] * len(batch)
        results: list[WriteResult] = []
        for i in range(len(batch)):
            row_error = by_row.get(i)
            code, message = ((str(row_error.get("code") or "ERROR"), str(row_error.get("message") or ""))
                             if row_error else ("", ""))
            if row_error is None:
                results.append(NotApplied("another item of the batch was refused"))
            elif code in ("CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"):
                results.append(Deferred(None, refused=f"{code}: {message}"))
            else:
                results.append(Rejected(code, message))
        return results


def _available(quantities: Any) -> Any:
    if isinstance(quantities, list):
        for q in quantities:
            if isinstance(q, dict) and q.get("name") == "available":
                return q.get("quantity")
    return None
