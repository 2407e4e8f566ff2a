"""Simulators that send store events, as the platforms do: on every change of stock —
a shopper's sale or a restock, and the writes of any app (syncd's own included, which
is how echoes arise) — one signed event per item to a configured URL.

    emitter = attach_events(sim, "shopify", EventSender(url, "shopify", secret))

Each platform's event names the item as it does (Shopify the inventory item, BigCommerce
the product and variant, Wix the V3 inventory item or the V1 product's variants) and
Squarespace, which has no inventory topic, sends ``order.create`` for a sale only. The
sender's knobs add what real delivery does: duplicates, delays, reordering, drops and
bad signatures.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .webhooks import EventSender

__all__ = ["attach_events"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Payload = tuple[dict[str, Any], str]  # (event body, topic)


def _shopify(item: Any) -> Payload:
    return ({"inventory_item_id": item.id, "location_id": 1, "available": item.available,
             "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, "inventory_levels/update")


def _bigcommerce(item: Any) -> Payload:
    inventory = {"product_id": item.product_id, "method": "absolute", "value": item.onhand}
    if item.variant_id is not None and not item.by_product:
        inventory["variant_id"] = item.variant_id
        data = {"type": "sku", "id": item.variant_id, "inventory": inventory}
        scope = "store/sku/inventory/updated"
    else:
        data = {"type": "product", "id": item.product_id, "inventory": inventory}
        scope = "store/product/inventory/updated"
    return ({"scope": scope, "store_id": "1", "hash": uuid.uuid4().hex, "created_at": int(time.time()),
             "producer": "stores/sim", "data": data}, "")


def _wix(item: Any, catalog: str) -> Payload:
    if catalog == "V1_CATALOG":
        return ({"productId": item.product_id, "variants": [{"id": item.variant_id}]},
                "com.wix.ecommerce.inventory.api.v1.InventoryVariantsChanged")
    return ({"entityId": item.id, "slug": "inventory_item_updated_with_reason",
             "entityFqdn": "wix.stores.catalog.v3.inventory_item",
             "actionEvent": {"body": {"currentEntity": {"id": item.id}, "reason": "ORDER"}}},
            "wix.stores.catalog.v3.inventory_item_updated_with_reason")


class _Emitter:
    def __init__(self, sim: Any, platform: str, sender: EventSender) -> None:
        self.sim, self.platform, self.sender = sim, platform, sender
        self.inner = sim.app
        self._refs: dict[Any, Any] = {}
        self._refs_of = -1  # how many items the map was built for

    def item_event(self, item: Any) -> None:
        if self.platform == "shopify":
            self.sender.emit(*_shopify(item))
        elif self.platform == "bigcommerce":
            self.sender.emit(*_bigcommerce(item))
        elif self.platform == "wix":
            self.sender.emit(*_wix(item, self.sim.catalog))

    def on_sku(self, sku: str) -> None:
        self.item_event(self.sim.item(sku))

    def wrap_merchant(self, name: str) -> None:
        original = getattr(self.sim, name, None)
        if original is None:
            return

        def wrapped(sku: str, *args: Any, **kw: Any) -> Any:
            out = original(sku, *args, **kw)
            self.on_sku(sku)
            return out

        setattr(self.sim, name, wrapped)

    def written(self, method: str, path: str, body: bytes) -> list[Any]:
        """The items an app's write request named (applied: the caller saw a 2xx)."""
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return []
        items = self._items_by_ref()
        refs: list[Any] = []
        if self.platform == "shopify" and "inventorySetQuantities" in str(data.get("query", "")):
            quantities = (((data.get("variables") or {}).get("input") or {}).get("quantities")) or []
            refs = [int(str(q.get("inventoryItemId", "")).rsplit("/", 1)[-1] or 0) for q in quantities]
        elif self.platform == "bigcommerce" and "/inventory/adjustments/" in path:
            refs = [("v", r["variant_id"]) if "variant_id" in r else ("p", r.get("product_id"))
                    for r in data.get("items") or [] if isinstance(r, dict)]
        elif self.platform == "wix" and "/bulk/inventory-items/" in path:
            refs = [((r.get("inventoryItem") or r).get("id") or r.get("inventoryItemId"))
                    for r in (data.get("inventoryItems") or data.get("incrementData") or data.get("decrementData")
                              or []) if isinstance(r, dict)]
        elif self.platform == "wix" and ("/inventoryItems/product/" in path or path.endswith(("/increment",
                                                                                                "/decrement"))):
            product = path.rsplit("/", 1)[-1]
            rows = (data.get("inventoryItem") or {}).get("variants") or data.get("incrementData") \
                or data.get("decrementData") or []
            refs = [(r.get("productId") or product, r.get("variantId")) for r in rows if isinstance(r, dict)]
        return [items[r] for r in refs if r in items]

    def _items_by_ref(self) -> dict[Any, Any]:
        """Each item under the references a write names it by (built once per catalogue size:
        a write of a few items must not cost a scan of 100,000)."""
        if self._refs_of == len(self.sim.items):
            return self._refs
        items = list(self.sim.items.values())
        if self.platform == "shopify":
            out: dict[Any, Any] = {i.id: i for i in items}
        elif self.platform == "bigcommerce":
            out = {}
            for i in items:
                out[("p", i.product_id)] = i
                if i.variant_id is not None:
                    out[("v", i.variant_id)] = i
        else:
            out = {**{i.id: i for i in items}, **{(i.product_id, i.variant_id): i for i in items}}
        self._refs, self._refs_of = out, len(items)
        return out

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] == "GET":
            await self.inner(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        status = 0

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.inner(scope, replay, capture)
        if 200 <= status < 300:
            for item in self.written(scope["method"], scope["path"], body):
                self.item_event(item)


def attach_events(sim: Any, platform: str, sender: EventSender) -> Any:
    """Make ``sim`` send ``sender`` an event on every change; returns the wrapped ASGI app
    (also set as ``sim.app``: build transports or serve it after attaching)."""
    if platform == "squarespace":  # no inventory topic: an order.create per sale
        def order_created(order_id: str) -> None:
            sender.emit({"id": uuid.uuid4().hex, "websiteId": "sim", "subscriptionId": "sim",
                         "topic": "order.create", "createdOn": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "data": {"orderId": order_id}})

        sim.on_order.append(order_created)
        return sim.app
    if platform not in ("shopify", "bigcommerce", "wix"):
        raise ValueError(f"{platform} sends no events syncd can use")
    emitter = _Emitter(sim, platform, sender)
    for name in ("sell", "restock", "paid_order"):
        emitter.wrap_merchant(name)
    sim.app = emitter
    return emitter
