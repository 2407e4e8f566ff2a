"""Squarespace Commerce Inventory API 1.0 (``shared/stores/squarespace.md``).

Pull: ``GET /1.0/commerce/inventory`` following ``pagination.nextPageCursor`` (pages of
50). Write strategy: relative (increment/decrement operations, ≤ 50 per request, no
variant twice) under an ``Idempotency-Key`` that the outbox holds before the request is
sent; a retry resends the identical body under the same key, which Squarespace applies
once (keys are kept at least 48 hours).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx

from .. import __version__
from ..core import Adjustment, CatalogEntry, ConflictKind, ItemIssue, Observation, Quantity, WriteStrategy
from ..errors import BadStoreData, PermanentStoreError, StoreError, TransientStoreError
from ..http import ApiClient, CursorLoop, CursorPaginator
from .base import Applied, Capabilities, Page, Rejected, UnknownOutcome, WriteResult

__all__ = ["CAPABILITIES", "DEFAULT_BASE_URL", "SquarespaceConnector", "classify"]

DEFAULT_BASE_URL = "https://api.squarespace.com"
INVENTORY = "/1.0/commerce/inventory"
ORDERS = "/1.0/commerce/orders"
ADJUSTMENTS = "/1.0/commerce/inventory/adjustments"
USER_AGENT = f"syncd/{__version__} (multi-store inventory sync)"
INT32_MAX = 2_147_483_647
# 409 subtypes that name a problem with one of the batch's items (which one is not said).
ITEM_CONFLICTS = {"INSUFFICIENT_STOCK", "STOCK_NOT_TRACKED", "STOCK_EXCEEDS_MAX"}

CAPABILITIES = Capabilities(
    platform="squarespace",
    strategy=WriteStrategy.RELATIVE_IDEMPOTENT,
    max_batch=50,
    requests_per_minute=300,
    key_retention=timedelta(hours=48),
    limit_window=timedelta(minutes=1),  # "300 requests per minute"; a 429 costs a minute
)


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def classify(response: httpx.Response) -> tuple[type[StoreError], str] | None:
    """409 CONCURRENT_MODIFICATION (the same key or items in flight) is worth a retry
    under the same key; every other status gets the default reading."""
    if response.status_code == 409 and _error_body(response).get("subtype") == "CONCURRENT_MODIFICATION":
        return TransientStoreError, "concurrent modification; retrying under the same key"
    return None


class SquarespaceConnector:
    """One Squarespace site."""

    capabilities = CAPABILITIES

    def __init__(self, name: str, client: ApiClient, token: str) -> None:
        self.name = name
        self.client = client
        self._headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }

    async def pull(self, catalog: Mapping[str, CatalogEntry] | None = None) -> AsyncIterator[Page]:
        """Every page of the inventory, in cursor order. A malformed page, a repeated
        variant or a repeated cursor fails the pull with ``BadStoreData``."""
        paginator = CursorPaginator(_next_cursor, param="cursor")
        request: httpx.Request | None = paginator.first(
            self.client.http.build_request("GET", INVENTORY, headers=self._headers)
        )
        seen: set[str] = set()
        while request is not None:
            response = await self.client.send(request)
            body = self.client.json(response)
            yield self._page(body, seen)
            try:
                request = paginator.next(request, body)
            except CursorLoop as exc:
                raise self._bad(f"invalid cursor: {exc}") from None

    def _bad(self, message: str) -> BadStoreData:
        return BadStoreData(message, store=self.name)

    def _page(self, body: Any, seen: set[str]) -> Page:
        if not isinstance(body, dict) or "pagination" not in body or "inventory" not in body:
            raise self._bad("page lacks 'inventory' or 'pagination'")
        items = [] if body["inventory"] is None else body["inventory"]
        pagination = body["pagination"]
        if not isinstance(items, list) or not isinstance(pagination, dict):
            raise self._bad("'inventory' must be a list and 'pagination' an object")
        if not isinstance(pagination.get("hasNextPage"), bool):
            raise self._bad("'pagination.hasNextPage' must be a boolean")
        observations: list[Observation] = []
        issues: list[ItemIssue] = []
        for item in items:
            parsed = self._item(item, seen)
            if type(parsed) is Observation:
                observations.append(parsed)
            else:
                issues.append(parsed)  # type: ignore[arg-type]
        return Page(tuple(observations), tuple(issues))

    def _item(self, item: Any, seen: set[str]) -> Observation | ItemIssue:
        variant = item.get("variantId") if isinstance(item, dict) else None
        if not isinstance(variant, str) or not variant:
            raise self._bad("an inventory entry has no 'variantId'" if isinstance(item, dict)
                            else "an inventory entry is not an object")
        if variant in seen:
            raise self._bad(f"variant {variant!r} appears twice in one pull")
        seen.add(variant)
        unlimited = item.get("isUnlimited")
        if not isinstance(unlimited, bool) or "quantity" not in item:
            raise self._bad(f"variant {variant!r} lacks 'isUnlimited' or 'quantity'")
        sku = item.get("sku")
        sku = sku.strip() if isinstance(sku, str) else ""
        if not sku:
            return ItemIssue(self.name, variant, None, ConflictKind.UNMAPPED, "variant has no SKU")
        if unlimited:
            return Observation(self.name, sku, variant, None)
        quantity = item["quantity"]
        if type(quantity) is not int or not 0 <= quantity <= INT32_MAX:  # bool is not int here
            return ItemIssue(self.name, variant, sku, ConflictKind.BAD_DATA,
                             f"quantity {quantity!r} is not a whole number from 0 to {INT32_MAX}")
        return Observation(self.name, sku, variant, quantity)

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]:
        """One adjustments request under ``key``; the body depends only on ``batch``, so a
        resend under the same key is byte-for-byte the same request."""
        if not 0 < len(batch) <= CAPABILITIES.max_batch:
            raise ValueError(f"a Squarespace batch holds 1 to 50 operations, not {len(batch)}")
        if len({a.remote_id for a in batch}) != len(batch) or any(a.delta == 0 for a in batch):
            raise ValueError("a batch may not name a variant twice or carry a zero change")
        body = {
            "incrementOperations": [{"variantId": a.remote_id, "quantity": a.delta} for a in batch if a.delta > 0],
            "decrementOperations": [{"variantId": a.remote_id, "quantity": -a.delta} for a in batch if a.delta < 0],
        }
        headers = {**self._headers, "Idempotency-Key": key, "Content-Type": "application/json"}
        request = self.client.http.build_request("POST", ADJUSTMENTS, headers=headers, json=body)
        try:
            response = await self.client.send(request, retry=True, expect=(409,))
        except TransientStoreError as exc:
            return [UnknownOutcome(exc.reason)] * len(batch)
        except PermanentStoreError as exc:
            return [Rejected(str(exc.status or "error"), exc.reason)] * len(batch)
        if response.status_code == 409:
            err = _error_body(response)
            subtype = str(err.get("subtype") or "CONFLICT")
            message = str(err.get("message") or "conflict")
            return [Rejected(subtype, message, whole_batch=subtype in ITEM_CONFLICTS)] * len(batch)
        return [Applied()] * len(batch)


    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]:
        """Current quantities through ``GET /1.0/commerce/inventory/{ids}``, 50 ids a call.
        A 404 (one id unknown) fails the whole call, so such a chunk is read id by id."""
        found: dict[str, Quantity] = {}
        ids = list(dict.fromkeys(remote_ids))
        for i in range(0, len(ids), 50):
            chunk = ids[i : i + 50]
            items = await self._retrieve(chunk)
            if items is None:
                for one in chunk:
                    found.update({k: v for k, v in ((await self._retrieve([one])) or {}).items()})
            else:
                found.update(items)
        return found

    async def resolve_event_refs(self, order_ids: Sequence[str]) -> list[str]:
        """Squarespace sends no inventory events, only ``order.create`` / ``order.update``
        naming an order: its line items' variants are the items to re-read
        (``GET /1.0/commerce/orders/{id}``; an order it no longer knows names nothing)."""
        variants: list[str] = []
        for order_id in dict.fromkeys(order_ids):
            request = self.client.http.build_request("GET", f"{ORDERS}/{order_id}", headers=self._headers)
            response = await self.client.send(request, expect=(404,))
            if response.status_code == 404:
                continue
            body = self.client.json(response)
            lines = body.get("lineItems") if isinstance(body, dict) else None
            if not isinstance(lines, list):
                raise self._bad("order answer lacks 'lineItems'")
            variants += [line["variantId"] for line in lines
                         if isinstance(line, dict) and isinstance(line.get("variantId"), str)]
        return variants

    async def _retrieve(self, ids: list[str]) -> dict[str, Quantity] | None:
        request = self.client.http.build_request("GET", f"{INVENTORY}/{','.join(ids)}", headers=self._headers)
        response = await self.client.send(request, expect=(404,))
        if response.status_code == 404:
            return None
        body = self.client.json(response)
        items = body.get("inventory") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self._bad("retrieve answer lacks 'inventory'")
        out: dict[str, Quantity] = {}
        for item in items:
            parsed = self._item(item, set())
            if isinstance(parsed, Observation):
                out[parsed.remote_id] = parsed.quantity
        return out


def _next_cursor(body: Any) -> str | None:
    pagination = body.get("pagination") or {}
    if not pagination.get("hasNextPage"):
        return None
    cursor = pagination.get("nextPageCursor")
    if not isinstance(cursor, str) or not cursor:
        # hasNextPage without a cursor: stopping here would drop the rest silently.
        raise CursorLoop("hasNextPage is true but nextPageCursor is empty")
    return cursor
