"""Shopify Admin GraphQL API (``shared/stores/shopify.md``), version 2026-04 or later.

Pull: the configured location's (default: the primary location's) inventory levels,
``available`` with each item's SKU and ``tracked`` flag, 250 levels a page following
``pageInfo.endCursor`` (754 points requested, under the 1,000-point cap). A catalogue
larger than ``bulk_threshold`` is pulled by a bulk query operation instead (run, poll,
download the JSONL — the download carries no access token).

Writes: ``inventorySetQuantities`` on ``available`` with ``changeFromQuantity`` = the
pulled value (compare-and-set) under an ``@idempotent`` key the outbox holds before the
request is sent; a resend under that key within 24 hours is answered from Shopify's
record, not applied again. A stale row is refused (``CHANGE_FROM_QUANTITY_STALE``): that
item waits for the next pull with a ``stale_write`` conflict, and the batch's other rows,
not applied (the mutation is all or nothing), are sent again at once under a new key.

Throttling: every answer's ``extensions.cost.throttleStatus`` feeds a model of the
leaky bucket, and each request waits until the bucket holds its cost, so a steady
cycle is not throttled; a ``THROTTLED`` error (inside an HTTP 200) waits what the bucket
needs and retries.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
import orjson

from .. import __version__
from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity, WriteStrategy
from ..errors import AuthError, BadStoreData, PermanentStoreError, RateLimited, StoreError, TransientStoreError
from ..http import ApiClient
from .base import Applied, Capabilities, Deferred, NotApplied, Page, Rejected, UnknownOutcome, WriteResult

__all__ = ["CAPABILITIES", "ShopifyConnector", "classify", "pace"]

PAGE = 250  # levels a page: 1 + 2 + 250 × 3 = 753 points, the most under the 1,000-point cap
PAGE_COST = 754
SET_COST = 10
MAX_ROWS = 250
LIMIT = 1_000_000_000
POLL_SECONDS = (1.0, 10.0)  # bulk operation polling: first wait, longest wait

CAPABILITIES = Capabilities(
    platform="shopify",
    strategy=WriteStrategy.ABSOLUTE_CAS,
    max_batch=MAX_ROWS,
    requests_per_minute=1200,  # a courtesy cap: the real limit is the query-cost bucket
    key_retention=timedelta(hours=24),
)

LEVELS = """query SyncdLevels($loc: ID!, $first: Int!, $after: String) {
  location(id: $loc) { inventoryLevels(first: $first, after: $after) {
    nodes { item { id sku tracked } quantities(names: ["available"]) { name quantity } }
    pageInfo { hasNextPage endCursor } } } }"""
PRIMARY = "query SyncdPrimaryLocation { location { id } }"
COUNT = "query SyncdCount { productVariantsCount(limit: null) { count precision } }"
READ = """query SyncdRead($ids: [ID!]!, $loc: ID!) { nodes(ids: $ids) { ... on InventoryItem {
  id sku tracked inventoryLevel(locationId: $loc) { quantities(names: ["available"]) { name quantity } } } } }"""
SET = """mutation SyncdSet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id } userErrors { field message code } } }"""
BULK_RUN = """mutation SyncdBulk($query: String!) { bulkOperationRunQuery(query: $query) {
  bulkOperation { id status } userErrors { field message } } }"""
BULK_POLL = """query SyncdBulkPoll($id: ID!) { node(id: $id) { ... on BulkOperation {
  id status errorCode objectCount url } } }"""
BULK_QUERY = """{ inventoryItems { edges { node { id sku tracked
  inventoryLevel(locationId: "%s") { quantities(names: ["available"]) { name quantity } } } } } }"""


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
        self.path = f"/admin/api/{api_version}/graphql.json"
        self._location = f"gid://shopify/Location/{location_id}" if location_id else None
        self.bulk_threshold = bulk_threshold
        self.bulk_timeout = bulk_timeout
        self.bucket = CostBucket()
        self._headers = {"X-Shopify-Access-Token": token, "Accept": "application/json",
                         "User-Agent": f"syncd/{__version__} (multi-store inventory sync)"}

    # --- transport ------------------------------------------------------------------------

    async def _gql(self, query: str, variables: Mapping[str, Any], cost: float, *,
                   retry: bool = True) -> dict[str, Any]:
        await self.client.clock.sleep(self.bucket.wait(cost, self.client.clock.monotonic()))
        request = self.client.http.build_request("POST", self.path, headers=self._headers,
                                                 json={"query": query, "variables": dict(variables)})
        response = await self.client.send(request, retry=retry)
        body = self.client.json(response)
        self.bucket.update(body, self.client.clock.monotonic())
        if not isinstance(body, dict):
            raise self._bad("answer is not a JSON object")
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            raise PermanentStoreError(f"GraphQL error: {str(first.get('message') or errors)[:300]}", store=self.name,
                                      method="POST", url=self.path, status=response.status_code)
        if not isinstance(body.get("data"), dict):
            raise self._bad("answer has no 'data'")
        return body["data"]  # type: ignore[no-any-return]

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

    # --- reads ----------------------------------------------------------------------------

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        """Every level at the location, in cursor order (or from a bulk operation)."""
        loc = await self.location()
        if self.bulk_threshold is not None:
            counted = (await self._gql(COUNT, {}, 1)).get("productVariantsCount") or {}
            if isinstance(counted.get("count"), int) and counted["count"] > self.bulk_threshold:
                async for page in self._bulk(loc):
                    yield page
                return
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
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor")
            if not isinstance(cursor, str) or not cursor or cursor == after:
                raise self._bad("hasNextPage is true but endCursor is missing or repeated")
            after = cursor

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
            elif type(qty := _available(quantities)) is not int or not 0 <= qty <= LIMIT:  # bool is not int here
                issues.append(ItemIssue(name, ref, sku, ConflictKind.BAD_DATA,
                                        f"available {qty!r} is not a whole number from 0 to {LIMIT:,}"))
            else:
                observations.append(Observation(name, sku, ref, qty))
        return Page(tuple(observations), tuple(issues))

    async def _bulk(self, loc: str) -> AsyncIterator[Page]:
        data = await self._gql(BULK_RUN, {"query": BULK_QUERY % loc}, SET_COST, retry=False)
        run = data.get("bulkOperationRunQuery") or {}
        if run.get("userErrors") or not isinstance((run.get("bulkOperation") or {}).get("id"), str):
            raise TransientStoreError(f"bulk operation refused: {run.get('userErrors')}", store=self.name)
        op_id = run["bulkOperation"]["id"]
        clock, wait = self.client.clock, POLL_SECONDS[0]
        deadline = clock.monotonic() + self.bulk_timeout
        while True:
            await clock.sleep(wait)
            node = (await self._gql(BULK_POLL, {"id": op_id}, 1)).get("node") or {}
            status = node.get("status")
            if status == "COMPLETED":
                break
            if status in ("FAILED", "CANCELED", "CANCELING", "EXPIRED") or clock.monotonic() > deadline:
                raise TransientStoreError(f"bulk operation {op_id} ended {status} ({node.get('errorCode')})",
                                          store=self.name)
            wait = min(POLL_SECONDS[1], wait * 1.5)
        if not node.get("url"):
            return  # no objects: Shopify gives no file
        seen: set[str] = set()
        rows: list[tuple[Any, Any]] = []
        # No token on the file's URL; read as it arrives (the whole file at 100,000 items
        # is about 15 MB, and holding it meant two copies at the cycle's peak).
        download = self.client.lines(self.client.http.build_request("GET", node["url"]))
        async with contextlib.aclosing(download) as lines:
            async for line in lines:
                if not line.strip():
                    continue
                try:
                    item = orjson.loads(line)
                except ValueError:
                    raise self._bad("bulk result has a line that is not JSON") from None
                level = item.get("inventoryLevel") if isinstance(item, dict) else None
                if level is None:
                    continue  # not stocked at this location
                rows.append((item, level.get("quantities") if isinstance(level, dict) else None))
                if len(rows) == 1000:
                    yield self._parse(rows, seen)
                    rows = []
        yield self._parse(rows, seen)

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
        if not errors and payload.get("inventoryAdjustmentGroup"):
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
