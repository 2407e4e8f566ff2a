"""What a verified store event names: the items to re-read (in each connector's own
remote-id form), or references a connector resolves into items (a Squarespace order).
Quantities in a payload are never read: an event is only a hint of where to look.

Topics that name no stock are accepted and ignored (``Event.ids`` and ``refs`` empty),
so a store does not retry them for days; a body that is not what the platform sends is
``Malformed`` (HTTP 400).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .verify import decoded_json

__all__ = ["Event", "Malformed", "parse_event"]


class Malformed(Exception):
    """The body is not an event of the platform."""


@dataclass(frozen=True, slots=True)
class Event:
    """One store event: its id (duplicates are dropped by it), its topic, the remote ids of
    the items to re-read, and references to resolve into more (Squarespace order ids)."""

    store: str
    event_id: str
    topic: str
    ids: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body is not JSON") from None


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_ids(data: Any, key: str) -> list[int]:
    value = data.get(key) if isinstance(data, dict) else None
    return [value] if type(value) is int else []


def parse_event(platform: str, store: str, body: bytes, headers: Mapping[str, str], claims: Any = None) -> Event:
    """The event in a verified request (``claims``: what the signature check decoded)."""
    if platform == "shopify":
        return _shopify(store, body, headers)
    if platform == "bigcommerce":
        return _bigcommerce(store, body)
    if platform == "squarespace":
        return _squarespace(store, body)
    if platform == "wix":
        return _wix(store, claims)
    raise Malformed(f"{platform} sends no events")


def _shopify(store: str, body: bytes, headers: Mapping[str, str]) -> Event:
    data = _json(body)
    if not isinstance(data, dict):
        raise Malformed("the body is not a JSON object")
    topic = headers.get("x-shopify-topic", "")
    event_id = headers.get("x-shopify-event-id") or headers.get("x-shopify-webhook-id") or _digest(body)
    if topic == "inventory_levels/update":
        item = data.get("inventory_item_id")
        if type(item) is not int:
            raise Malformed("inventory_levels/update without inventory_item_id")
        return Event(store, event_id, topic, ids=(f"gid://shopify/InventoryItem/{item}",))
    # orders/create names variants, not inventory items; Shopify sends inventory_levels/update
    # for the same sale, so an order event is accepted and left to it (counted as ignored).
    return Event(store, event_id, topic or "unknown")


def _bigcommerce(store: str, body: bytes) -> Event:
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("scope"), str):
        raise Malformed("the body lacks 'scope'")
    scope: str = data["scope"]
    event_id = _str(data.get("hash")) or _digest(body)
    inner: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
    inventory: dict[str, Any] = inner["inventory"] if isinstance(inner.get("inventory"), dict) else {}
    if "inventory" not in scope:
        return Event(store, event_id, scope)
    variants = {*_int_ids(inner, "variant_id"), *_int_ids(inventory, "variant_id")}
    products = {*_int_ids(inner, "product_id"), *_int_ids(inventory, "product_id")}
    if inner.get("type") == "sku":
        variants.update(_int_ids(inner, "id"))
    if inner.get("type") == "product":
        products.update(_int_ids(inner, "id"))
    if not variants and not products:
        raise Malformed(f"{scope} names no product or variant")
    return Event(store, event_id, scope, ids=(*(f"v{v}" for v in sorted(variants)),
                                              *(f"p{p}" for p in sorted(products))))


def _squarespace(store: str, body: bytes) -> Event:
    data = _json(body)
    if not isinstance(data, dict) or not isinstance(data.get("topic"), str) or not isinstance(data.get("id"), str):
        raise Malformed("the body lacks 'id' or 'topic'")
    topic: str = data["topic"]
    if topic not in ("order.create", "order.update"):
        return Event(store, data["id"], topic)
    order = (data.get("data") or {}).get("orderId") if isinstance(data.get("data"), dict) else None
    if not isinstance(order, str) or not order:
        raise Malformed(f"{topic} without data.orderId")
    return Event(store, data["id"], topic, refs=(order,))


def _wix(store: str, claims: Any) -> Event:
    """The verified JWT: ``data`` is a JSON string of {eventType, instanceId, data}, whose
    ``data`` is a JSON string of the event (``id``, ``entityId``; the legacy V1 inventory
    event carries ``productId`` and ``variants`` instead)."""
    try:
        envelope = decoded_json(claims.get("data") if isinstance(claims, dict) else None)
        inner = decoded_json(envelope.get("data")) if isinstance(envelope, dict) else None
    except ValueError:
        raise Malformed("the JWT's data is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(inner, dict):
        raise Malformed("the JWT lacks data.data")
    topic = str(envelope.get("eventType") or "unknown")
    event_id = _str(inner.get("id")) or _digest(json.dumps(envelope, sort_keys=True).encode())
    if "inventory" not in topic.lower():
        return Event(store, event_id, topic)
    product = inner.get("productId") or inner.get("externalId")
    variants = inner.get("variants")
    if isinstance(product, str) and isinstance(variants, list):  # Catalog V1: "Inventory Variants Changed"
        ids = [f"{product}/{v['id']}" for v in variants if isinstance(v, dict) and isinstance(v.get("id"), str)]
        return Event(store, event_id, topic, ids=tuple(ids))
    entity = inner.get("entityId")
    if not isinstance(entity, str) or not entity:
        raise Malformed(f"{topic} names no inventory item")
    return Event(store, event_id, topic, ids=(entity,))
