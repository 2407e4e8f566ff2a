"""A Squarespace Commerce Inventory API simulator (ASGI), strict as the notes describe.

Follows ``shared/stores/squarespace.md``: fixed pages of 50 with an opaque base64url
cursor and nulls on the last page; a required ``User-Agent``; adjustments that need an
``Idempotency-Key`` (≤ 64 of ``[A-Za-z0-9_-]``), hold ≤ 50 operations in total with no
variant twice, apply all or nothing and answer 204; a replayed key applies nothing and
gets the stored answer (kept 48 h); a key reused with other parameters is a 400; a key
in flight is a 409 CONCURRENT_MODIFICATION; decrements below zero are a 409
INSUFFICIENT_STOCK; the error body ``{type, subtype, message, details, contextId}``;
and an optional 300/min limit answering 429 with a one-minute cool-down and no headers.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http.clock import Clock, SystemClock
from .faults import FaultInjector

__all__ = ["SquarespaceSimulator", "Variant"]

PAGE = 50
MAX_OPS = 50
INT32_MAX = 2_147_483_647
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
KEY_RETENTION = timedelta(hours=48)
OP_ARRAYS = ("incrementOperations", "decrementOperations", "setFiniteOperations", "setUnlimitedOperations")
TYPES = {400: "INVALID_REQUEST_ERROR", 401: "AUTHORIZATION_ERROR", 404: "INVALID_REQUEST_ERROR",
         405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 429: "TOO_MANY_REQUESTS", 500: "SERVER_ERROR"}


@dataclass
class Variant:
    variant_id: str
    sku: str | None
    quantity: int
    unlimited: bool = False
    descriptor: str = ""


class _Catalogue(dict[str, Variant]):
    """The variants, with a version that moves whenever one is added or removed."""

    version = 0

    def __setitem__(self, key: str, value: Variant) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.version += 1
        super().__delitem__(key)


class SimError(Exception):
    def __init__(self, status: int, subtype: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.subtype, self.message = status, subtype, message


def _error(status: int, subtype: str | None, message: str) -> JSONResponse:
    return JSONResponse(
        {"type": TYPES.get(status, "SERVER_ERROR"), "subtype": subtype, "message": message,
         "details": None, "contextId": secrets.token_hex(5).upper()},
        status_code=status,
    )


class SquarespaceSimulator:
    """One simulated site. ``app`` is the ASGI application (faults included)."""

    def __init__(
        self,
        variants: Iterable[Variant] = (),
        *,
        token: str = "sq-test-token",
        clock: Clock | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> None:
        self.variants = _Catalogue({v.variant_id: v for v in variants})
        self._order_cache: list[str] | None = None
        self._order_version = -1
        self.token = token
        self.clock = clock or SystemClock()
        self.rate_limit = rate_limit_per_minute
        self._bucket = float(rate_limit_per_minute or 0)
        self._bucket_at = self.clock.monotonic()
        self._locked_until = 0.0
        self.keys: dict[str, tuple[str, float]] = {}  # key → (params digest, used at)
        self.in_flight: set[str] = set()
        self.applied_keys: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.merchant_changes: Counter[str] = Counter()  # variant → Σ sales/restocks
        self.before_write: list[Callable[[SquarespaceSimulator], None]] = []
        self.orders: dict[str, dict[str, Any]] = {}  # what sell() placed, as the Orders API shows it
        self.on_order: list[Callable[[str], None]] = []  # order id → e.g. an order.create webhook
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.oauth = True  # False: the token is an API key, which cannot subscribe to webhooks
        routes = [
            Route("/1.0/webhook_subscriptions", self._subscriptions, methods=["GET", "POST"]),
            Route("/1.0/webhook_subscriptions/{id}", self._unsubscribe, methods=["DELETE"]),
            Route("/1.0/commerce/orders/{id}", self._order, methods=["GET"]),
            Route("/1.0/commerce/inventory", self._list, methods=["GET"]),
            Route("/1.0/commerce/inventory/adjustments", self._adjust, methods=["POST"]),
            Route("/1.0/commerce/inventory/{ids}", self._retrieve, methods=["GET"]),
        ]
        self.faults = FaultInjector(Starlette(routes=routes))
        self.app = self.faults

    # --- merchant-side events (what shoppers and staff do) --------------------------------

    def variant_of(self, sku: str) -> Variant:
        return next(v for v in self.variants.values() if v.sku == sku)

    def sell(self, sku: str, units: int = 1) -> int:
        """A shopper buys up to ``units`` (never below zero, as the storefront enforces)."""
        v = self.variant_of(sku)
        sold = 0 if v.unlimited else min(units, v.quantity)
        v.quantity -= sold
        self.merchant_changes[v.variant_id] -= sold
        if sold or v.unlimited:
            order_id = secrets.token_hex(12)
            self.orders[order_id] = {"id": order_id, "orderNumber": str(len(self.orders) + 1),
                                     "lineItems": [{"id": secrets.token_hex(12), "variantId": v.variant_id,
                                                    "sku": v.sku, "quantity": units}]}
            for hook in self.on_order:
                hook(order_id)
        return sold

    def restock(self, sku: str, units: int) -> None:
        v = self.variant_of(sku)
        v.quantity += units
        self.merchant_changes[v.variant_id] += units

    def quantity(self, sku: str) -> int:
        return self.variant_of(sku).quantity

    # --- HTTP -----------------------------------------------------------------------------

    def _gate(self, request: Request) -> JSONResponse | None:
        self.requests[f"{request.method} {request.url.path}"] += 1
        if not request.headers.get("user-agent"):
            return _error(400, "MISSING_ARGUMENT", "A User-Agent header is required.")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, None, "The API key is missing, invalid or expired.")
        if self.rate_limit is not None and not self._take_token():
            return _error(429, None, "Too many requests; cool down for one minute.")
        return None

    def _take_token(self) -> bool:
        now = self.clock.monotonic()
        if now < self._locked_until:
            return False
        assert self.rate_limit is not None
        self._bucket = min(float(self.rate_limit), self._bucket + (now - self._bucket_at) * self.rate_limit / 60)
        self._bucket_at = now
        if self._bucket < 1:
            self._locked_until = now + 60.0  # a 429 starts a one-minute cool-down
            return False
        self._bucket -= 1
        return True

    async def _subscriptions(self, request: Request) -> Response:
        """Webhook subscriptions: OAuth tokens only; at most 25; a create answers the secret."""
        if (refused := self._gate(request)) is not None:
            return refused
        if not self.oauth:
            return _error(403, None, "Webhook subscriptions require an OAuth token.")
        if request.method == "GET":
            return JSONResponse({"webhookSubscriptions": [
                {k: v for k, v in sub.items() if k != "secret"} for sub in self.subscriptions.values()]})
        body = json.loads(await request.body() or b"{}")
        topics, endpoint = body.get("topics"), body.get("endpointUrl")
        usable = isinstance(endpoint, str) and endpoint.startswith(("https://", "http://127.0.0.1"))
        if not usable or not isinstance(topics, list) or not topics or \
                not set(topics) <= {"order.create", "order.update", "extension.uninstall"}:
            return _error(400, "INVALID_ARGUMENT", "endpointUrl (https) and topics are required.")
        if len(self.subscriptions) >= 25:
            return _error(400, "INVALID_ARGUMENT", "At most 25 webhook subscriptions per website.")
        sub = {"id": secrets.token_hex(12), "endpointUrl": endpoint, "topics": topics,
               "secret": secrets.token_hex(32), "createdOn": self.clock.wall().isoformat()}
        self.subscriptions[sub["id"]] = sub
        return JSONResponse(sub, status_code=201)

    async def _unsubscribe(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        if self.subscriptions.pop(request.path_params["id"], None) is None:
            return _error(404, None, "Webhook subscription not found.")
        return Response(status_code=204)

    async def _order(self, request: Request) -> Response:
        """``GET /1.0/commerce/orders/{id}``: the order with its line items (variantId, sku, quantity)."""
        if (refused := self._gate(request)) is not None:
            return refused
        order = self.orders.get(request.path_params["id"])
        if order is None:
            return _error(404, None, "Order not found.")
        return JSONResponse(order)

    async def _list(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        ordered = self._ordered()
        cursor = request.query_params.get("cursor")
        start = 0
        if cursor:
            after = _decode_cursor(cursor)
            if after is None:
                return _error(400, "INVALID_ARGUMENT", "The cursor is invalid.")
            start = bisect.bisect_right(ordered, after)
        page = ordered[start : start + PAGE]
        more = start + PAGE < len(ordered)
        next_cursor = _encode_cursor(page[-1]) if more and page else None
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "inventory": [self._item(self.variants[vid]) for vid in page],
            "pagination": {
                "hasNextPage": more,
                "nextPageCursor": next_cursor,
                "nextPageUrl": f"{base}/1.0/commerce/inventory?cursor={next_cursor}" if next_cursor else None,
            },
        })

    def _ordered(self) -> list[str]:
        """Variant ids in cursor order (cached until the catalogue gains or loses a variant)."""
        if self._order_cache is None or self._order_version != self.variants.version:
            self._order_cache = sorted(self.variants)
            self._order_version = self.variants.version
        return self._order_cache

    @staticmethod
    def _item(v: Variant) -> dict[str, Any]:
        return {"variantId": v.variant_id, "sku": v.sku, "descriptor": v.descriptor or v.sku or "",
                "isUnlimited": v.unlimited, "quantity": v.quantity}

    async def _retrieve(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        ids = [i for i in request.path_params["ids"].split(",") if i]
        if not ids or len(ids) > 50:
            return _error(400, "INVALID_ARGUMENT", "Between 1 and 50 ids are required.")
        missing = [i for i in ids if i not in self.variants]
        if missing:
            return _error(404, "INVALID_ARGUMENT", f"Inventory item {missing[0]} not found.")
        return JSONResponse({"inventory": [self._item(self.variants[i]) for i in ids]})

    async def _adjust(self, request: Request) -> Response:
        if (refused := self._gate(request)) is not None:
            return refused
        key = request.headers.get("idempotency-key")
        if not key or not KEY_RE.match(key):
            return _error(400, "MISSING_ARGUMENT" if not key else "INVALID_ARGUMENT",
                          "A valid Idempotency-Key header is required.")
        if "application/json" not in request.headers.get("content-type", ""):
            return _error(400, "INVALID_CONTENT_TYPE", "Content-Type must be application/json.")
        raw = await request.body()
        digest = hashlib.sha256(raw).hexdigest()
        self._forget_old_keys()
        if key in self.keys:
            if self.keys[key][0] != digest:
                return _error(400, "INVALID_ARGUMENT", "Idempotency-Key reused with different parameters.")
            return Response(status_code=204)  # replay: the stored answer, nothing applied
        if key in self.in_flight:
            return _error(409, "CONCURRENT_MODIFICATION", "A request with this key is in progress.")
        self.in_flight.add(key)
        try:
            ops = self._validate(raw)
            for hook in list(self.before_write):
                hook(self)
            self._apply(ops)
        except SimError as exc:
            return _error(exc.status, exc.subtype, exc.message)  # failures are not cached
        finally:
            self.in_flight.discard(key)
        self.keys[key] = (digest, self.clock.wall().timestamp())
        self.applied_keys[key] += 1
        return Response(status_code=204)

    def _forget_old_keys(self) -> None:
        horizon = self.clock.wall().timestamp() - KEY_RETENTION.total_seconds()
        for key in [k for k, (_, at) in self.keys.items() if at < horizon]:
            del self.keys[key]

    def _validate(self, raw: bytes) -> list[tuple[str, str, int]]:
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SimError(400, "INVALID_ARGUMENT", "The body is not valid JSON.") from None
        if not isinstance(body, dict) or set(body) - set(OP_ARRAYS):
            raise SimError(400, "INVALID_ARGUMENT", "Unknown fields in the body.")
        ops: list[tuple[str, str, int]] = []
        for name in OP_ARRAYS:
            entries = body.get(name) or []
            if not isinstance(entries, list):
                raise SimError(400, "INVALID_ARGUMENT", f"{name} must be an array.")
            for entry in entries:
                ops.append(_operation(name, entry))
        if not ops:
            raise SimError(400, "MISSING_ARGUMENT", "At least one operation is required.")
        if len(ops) > MAX_OPS:
            raise SimError(400, "INVALID_ARGUMENT", "Greater than 50 operations were specified.")
        ids = [vid for _, vid, _ in ops]
        if len(set(ids)) != len(ids):
            raise SimError(400, "INVALID_ARGUMENT", "A variant appears in more than one operation.")
        unknown = [vid for vid in ids if vid not in self.variants]
        if unknown:
            raise SimError(400, "INVENTORY_ITEM_NOT_FOUND", f"Inventory item {unknown[0]} not found.")
        return ops

    def _apply(self, ops: list[tuple[str, str, int]]) -> None:
        """All or nothing: check every operation against the current stock first."""
        new: dict[str, tuple[int, bool]] = {}
        for name, vid, qty in ops:
            v = self.variants[vid]
            if name in ("incrementOperations", "decrementOperations"):
                if v.unlimited:
                    raise SimError(409, "STOCK_NOT_TRACKED", f"Stock for {vid} is not tracked.")
                value = v.quantity + (qty if name == "incrementOperations" else -qty)
                if value < 0:
                    raise SimError(409, "INSUFFICIENT_STOCK", "Insufficient stock for the decrement.")
                if value > INT32_MAX:
                    raise SimError(409, "STOCK_EXCEEDS_MAX", "Stock would exceed the maximum.")
                new[vid] = (value, False)
            elif name == "setFiniteOperations":
                new[vid] = (qty, False)
            else:
                new[vid] = (v.quantity, True)
        for vid, (value, unlimited) in new.items():
            self.variants[vid].quantity, self.variants[vid].unlimited = value, unlimited


def _operation(name: str, entry: Any) -> tuple[str, str, int]:
    if name == "setUnlimitedOperations":
        if not isinstance(entry, str) or not entry:
            raise SimError(400, "INVALID_ARGUMENT", "setUnlimitedOperations takes variant id strings.")
        return name, entry, 0
    if not isinstance(entry, dict) or set(entry) != {"variantId", "quantity"}:
        raise SimError(400, "MISSING_ARGUMENT", f"{name} entries need variantId and quantity.")
    vid, qty = entry["variantId"], entry["quantity"]
    if not isinstance(vid, str) or isinstance(qty, bool) or not isinstance(qty, int):
        raise SimError(400, "INVALID_ARGUMENT", f"{name}: variantId must be a string, quantity an integer.")
    low = 0 if name == "setFiniteOperations" else 1
    if not low <= qty <= INT32_MAX:
        raise SimError(400, "INVALID_ARGUMENT", f"{name}: quantity {qty} is out of range.")
    return name, vid, qty


def _encode_cursor(last_id: str) -> str:
    raw = json.dumps({"a": last_id, "b": "ID"}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("b") != "ID" or not isinstance(data.get("a"), str):
        return None
    return str(data["a"])
