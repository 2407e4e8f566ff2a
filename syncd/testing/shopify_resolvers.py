"""Field resolvers of the Shopify simulator: reads, ``inventorySetQuantities`` and bulk
query operations. Every resolver finds its shop in ``info.context["sim"]``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    value_from_ast,
)

from .shopify_bulk_sim import bulk_operations, bulk_run, bulk_view
from .shopify_hooks_sim import HOOK_RESOLVERS
from .shopify_schema import MAX_INPUT, MAX_PAGE
from .shopify_state import KEY_RETENTION, IdempotencyRecord, ShItem

if TYPE_CHECKING:
    from .shopify_sim import ShopifySimulator

__all__ = ["install"]

QUANTITY_NAMES = {"available", "on_hand", "committed", "incoming", "reserved", "damaged", "safety_stock",
                  "quality_control"}
REASONS = {"correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
           "movement_received", "movement_canceled", "other", "promotion", "quality_control", "received",
           "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock",
           "shrinkage"}
LIMIT = 1_000_000_000


def gid(kind: str, n: int) -> str:
    return f"gid://shopify/{kind}/{n}"


def _id_of(value: Any, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    tail = value[len(prefix):].split("?")[0]
    return int(tail) if tail.isdigit() else None


def _sim(info: GraphQLResolveInfo) -> ShopifySimulator:
    return info.context["sim"]  # type: ignore[no-any-return]


def need(info: GraphQLResolveInfo, *any_of: str) -> None:
    """ACCESS_DENIED unless the app holds one of ``any_of`` (a write_ scope grants its read_)."""
    granted = _sim(info).scopes
    have = granted | {"read_" + s.removeprefix("write_") for s in granted if s.startswith("write_")}
    if not have & set(any_of):
        field = f"{info.parent_type.name}.{info.field_name}"
        raise GraphQLError(f"Access denied for {info.field_name} field. Required access: "
                           f"{' or '.join(f'`{s}` access scope' for s in any_of)}.",
                           extensions={"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/"
                                       "access-scopes", "requiredAccess": field})


# --- views ----------------------------------------------------------------------------------

def location_view(sim: ShopifySimulator, loc: int) -> dict[str, Any]:
    return {"__typename": "Location", "id": gid("Location", loc), "name": sim.locations[loc], "isActive": True,
            "_loc": loc}


def item_view(item: ShItem) -> dict[str, Any]:
    return {"__typename": "InventoryItem", "id": gid("InventoryItem", item.id), "sku": item.sku,
            "tracked": item.tracked, "_item": item}


def level_view(item: ShItem, loc: int) -> dict[str, Any]:
    return {"__typename": "InventoryLevel", "id": f"gid://shopify/InventoryLevel/{loc}{item.id}"
            f"?inventory_item_id={item.id}", "_item": item, "_loc": loc}


def _quantities(level: dict[str, Any], info: GraphQLResolveInfo, names: list[str]) -> list[dict[str, Any]]:
    need(info, "read_inventory")
    unknown = [n for n in names if n not in QUANTITY_NAMES]
    if unknown:
        raise GraphQLError(f"Invalid quantity names: {', '.join(unknown)}", extensions={"code": "BAD_REQUEST"})
    item: ShItem = level["_item"]
    values = {"available": item.available, "committed": item.committed, "on_hand": item.available + item.committed}
    return [{"name": n, "quantity": values.get(n, 0), "updatedAt": None} for n in names]


# --- paging ---------------------------------------------------------------------------------

def _cursor(n: int) -> str:
    return base64.b64encode(json.dumps({"last_id": n, "last_value": str(n)}).encode()).decode()


def _after(cursor: str | None) -> int:
    if cursor is None:
        return -1
    try:
        data = json.loads(base64.b64decode(cursor, validate=True))
        return int(data["last_id"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise GraphQLError("Invalid cursor", extensions={"code": "BAD_REQUEST"}) from None


def _page(info: GraphQLResolveInfo, items: list[ShItem], first: int | None, after: str | None,
          view: Any) -> dict[str, Any]:
    if info.context["bulk"]:
        chosen, more = items, False
    else:
        if first is None:
            raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_REQUEST"})
        if not 0 <= first <= MAX_PAGE:
            raise GraphQLError(f"The maximum page size is {MAX_PAGE}; got {first}.",
                               extensions={"code": "BAD_REQUEST"})
        start = _after(after)
        rest = [i for i in items if i.id > start]
        done, cap = len(items) - len(rest), _sim(info).page_cap
        if done >= cap and rest:  # the harsher reading: an error past the cap, not a silent end
            raise GraphQLError(f"Pagination is limited to {cap:,} objects; use a bulk operation to read more.",
                               extensions={"code": "BAD_REQUEST"})
        chosen, more = rest[:min(first, cap - done)], len(rest) > first
        info.context["returned"][id(info.field_nodes[0])] = len(chosen)
    nodes = [view(i) for i in chosen]
    return {"nodes": nodes, "edges": [{"cursor": _cursor(i.id), "node": n} for i, n in zip(chosen, nodes, strict=True)],
            "pageInfo": {"hasNextPage": more, "hasPreviousPage": after is not None,
                         "startCursor": _cursor(chosen[0].id) if chosen else None,
                         "endCursor": _cursor(chosen[-1].id) if chosen else None}}


# --- queries --------------------------------------------------------------------------------

def _location(_: Any, info: GraphQLResolveInfo, id: str | None = None) -> dict[str, Any] | None:
    sim = _sim(info)
    loc = sim.location_id if id is None else _id_of(id, "Location")
    return location_view(sim, loc) if loc in sim.locations else None


def _levels(location: dict[str, Any], info: GraphQLResolveInfo, first: int | None = None,
            after: str | None = None) -> dict[str, Any]:
    need(info, "read_locations")
    sim, loc = _sim(info), location["_loc"]
    stocked = sorted((i for i in sim.items.values() if i.stocked and loc == sim.location_id), key=lambda i: i.id)
    return _page(info, stocked, first, after, lambda i: level_view(i, loc))


def _items(_: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None,
           query: str | None = None) -> dict[str, Any]:
    if query is not None:
        raise GraphQLError("the simulator does not implement search queries", extensions={"code": "BAD_REQUEST"})
    return _page(info, sorted(_sim(info).items.values(), key=lambda i: i.id), first, after, item_view)


def _item_level(item: dict[str, Any], info: GraphQLResolveInfo, locationId: str) -> dict[str, Any] | None:
    need(info, "read_inventory")
    sim, loc = _sim(info), _id_of(locationId, "Location")
    it: ShItem = item["_item"]
    return level_view(it, loc) if loc == sim.location_id and it.stocked else None


def _count(_: Any, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = 10000) -> dict[str, Any]:
    need(info, "read_products")
    n = len(_sim(info).items)
    capped = limit is not None and n > limit
    return {"count": limit if capped else n, "precision": "AT_LEAST" if capped else "EXACT"}


def _node(sim: ShopifySimulator, value: str) -> dict[str, Any] | None:
    if (n := _id_of(value, "InventoryItem")) is not None and n in sim.items:
        return item_view(sim.items[n])
    if (n := _id_of(value, "Location")) is not None and n in sim.locations:
        return location_view(sim, n)
    if (n := _id_of(value, "BulkOperation")) is not None and n in sim.bulk_runs:
        return bulk_view(sim, sim.bulk_runs[n])
    return None


def _nodes(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[dict[str, Any] | None]:
    if len(ids) > MAX_INPUT:
        raise GraphQLError(f"The input array size of {len(ids)} is greater than the maximum allowed of "
                           f"{MAX_INPUT}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
    return [_node(_sim(info), i) for i in ids]


# --- inventorySetQuantities -----------------------------------------------------------------

def _key(info: GraphQLResolveInfo) -> str | None:
    for directive in info.field_nodes[0].directives:
        if directive.name.value == "idempotent":
            return value_from_ast(directive.arguments[0].value, GraphQLString, info.variable_values)  # type: ignore
    return None


def _set_quantities(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    need(info, "write_inventory")
    sim, era = _sim(info), info.context["era"]
    key = _key(info)
    if key is None and era in ("current", "latest"):
        raise GraphQLError("The @idempotent directive is required for this mutation.",
                           extensions={"code": "BAD_REQUEST"})
    if key is not None and era == "legacy":
        raise GraphQLError("The @idempotent directive is not supported on this field in this API version.",
                           extensions={"code": "BAD_REQUEST"})
    rows = input["quantities"]
    if len(rows) > MAX_INPUT:
        raise GraphQLError(f"The input array size of {len(rows)} is greater than the maximum allowed of "
                           f"{MAX_INPUT}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
    if era in ("current", "latest") and any("changeFromQuantity" not in r for r in rows):
        raise GraphQLError("changeFromQuantity must be given on every row (null to skip the check).",
                           extensions={"code": "BAD_REQUEST"})
    args = json.dumps(input, sort_keys=True)
    now = sim.clock.wall()
    if key is not None and key in sim.in_flight_keys:
        return _refused([(None, "IDEMPOTENCY_CONCURRENT_REQUEST", "This request is currently in progress, please "
                          "try again.")])
    if key is not None:
        record = sim.keys.get(key)
        if record is not None and now - record.at < KEY_RETENTION:
            if record.args != args:
                return _refused([(None, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                                  "The same idempotency key was used with different parameters.")])
            if record.failed:
                return _refused([(None, "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                                  "A previous request with this idempotency key failed; use a new key.")])
            return record.payload  # type: ignore[return-value]  # replayed, not applied again
    if sim.fail_writes > 0:
        sim.fail_writes -= 1
        if key is not None:
            sim.keys[key] = IdempotencyRecord(args, now, failed=True)
        raise GraphQLError("Internal error. Looks like something went wrong on our end.",
                           extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": "sim-0001"})
    for hook in list(sim.before_write):
        hook(sim)
    payload = _apply(sim, input, era)
    if key is not None:
        sim.keys[key] = IdempotencyRecord(args, now, payload)
        if payload["inventoryAdjustmentGroup"] is not None:
            sim.applied_keys[key] += 1
    return payload


def _refused(errors: list[tuple[list[str] | None, str, str]]) -> dict[str, Any]:
    return {"inventoryAdjustmentGroup": None,
            "userErrors": [{"field": f, "code": c, "message": m} for f, c, m in errors]}


def _check(sim: ShopifySimulator, i: int, row: dict[str, Any], era: str,
           top: dict[str, Any]) -> tuple[list[str] | None, str, str] | None:
    path = ["input", "quantities", str(i)]
    item = sim.items.get(_id_of(row["inventoryItemId"], "InventoryItem") or -1)
    loc = _id_of(row["locationId"], "Location")
    if item is None:
        return [*path, "inventoryItemId"], "INVALID_INVENTORY_ITEM", "The specified inventory item could not be found."
    if loc not in sim.locations:
        return [*path, "locationId"], "INVALID_LOCATION", "The specified location could not be found."
    if (not item.stocked or loc != sim.location_id) and era != "latest":  # 2026-10 stocks it there instead
        return [*path, "locationId"], "ITEM_NOT_STOCKED_AT_LOCATION", "The item is not stocked at the location."
    if not item.mutable:
        return [*path, "inventoryItemId"], "NON_MUTABLE_INVENTORY_ITEM", "The inventory item cannot be changed."
    quantity = row["quantity"]
    if quantity > LIMIT:
        return [*path, "quantity"], "INVALID_QUANTITY_TOO_HIGH", "The quantity can't be higher than 1,000,000,000."
    if quantity < 0:
        return [*path, "quantity"], "INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative."
    current = _current(sim, item, loc or -1, top["name"])
    if era != "legacy" and "changeFromQuantity" in row:
        if row["changeFromQuantity"] is not None and row["changeFromQuantity"] != current:
            return ([*path, "changeFromQuantity"], "CHANGE_FROM_QUANTITY_STALE",
                    "The changeFromQuantity value does not match persisted value.")
        return None
    if top.get("ignoreCompareQuantity"):
        return None
    if row.get("compareQuantity") is None:
        return [*path, "compareQuantity"], "COMPARE_QUANTITY_REQUIRED", "compareQuantity is required."
    if row["compareQuantity"] != current:
        return [*path, "compareQuantity"], "COMPARE_QUANTITY_STALE", "The compareQuantity value does not match."
    return None


def _current(sim: ShopifySimulator, item: ShItem, loc: int, name: str) -> int:
    """The named quantity at a location (0 where the item is not stocked yet)."""
    if loc != sim.location_id:
        return sim.other_levels.get((item.id, loc), 0)
    if not item.stocked:
        return 0
    return item.available if name == "available" else item.available + item.committed


def _duplicates(rows: list[dict[str, Any]]) -> list[tuple[list[str] | None, str, str]]:
    seen: set[tuple[str, str]] = set()
    found: list[tuple[list[str] | None, str, str]] = []
    for i, row in enumerate(rows):
        pair = (row["inventoryItemId"], row["locationId"])
        if pair in seen:
            found.append((["input", "quantities", str(i)], "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                          "The combination of inventoryItemId and locationId must be unique."))
        seen.add(pair)
    return found


def _apply(sim: ShopifySimulator, input: dict[str, Any], era: str) -> dict[str, Any]:
    """All or nothing: every bad row is named; only a clean batch changes anything."""
    if input["name"] not in ("available", "on_hand"):
        return _refused([(["input", "name"], "INVALID_NAME", "The quantity name must be available or on_hand.")])
    if input["reason"] not in REASONS:
        return _refused([(["input", "reason"], "INVALID_REASON", "The reason is not valid.")])
    uri = input.get("referenceDocumentUri")
    if uri is not None and ":" not in uri:
        return _refused([(["input", "referenceDocumentUri"], "INVALID_REFERENCE_DOCUMENT",
                          "The reference document URI must have a scheme.")])
    rows = input["quantities"]
    problems = _duplicates(rows) or [p for i, row in enumerate(rows) if (p := _check(sim, i, row, era, input))]
    if problems:
        return _refused(problems)
    targets = [(sim.items[_id_of(r["inventoryItemId"], "InventoryItem") or -1],
                _id_of(r["locationId"], "Location") or -1, r["quantity"]) for r in rows]
    if all(_current(sim, item, loc, input["name"]) == q for item, loc, q in targets):
        return {"inventoryAdjustmentGroup": None, "userErrors": []}  # a no-op: no group, no error
    changes = []
    for item, loc, quantity in targets:
        delta = quantity - _current(sim, item, loc, input["name"])
        if loc != sim.location_id:
            sim.other_levels[(item.id, loc)] = _current(sim, item, loc, "available") + delta
            after = {"available": sim.other_levels[(item.id, loc)], "on_hand": sim.other_levels[(item.id, loc)]}
        else:
            if not item.stocked:
                item.stocked, item.available = True, 0
            item.available += delta
            after = {"available": item.available, "on_hand": item.available + item.committed}
        for name, value in after.items():
            changes.append({"name": name, "delta": delta, "quantityAfterChange": value, "item": item_view(item),
                            "location": location_view(sim, loc), "ledgerDocumentUri": None})
    group = {"id": gid("InventoryAdjustmentGroup", len(sim.keys) + 1), "createdAt": sim.clock.wall().isoformat(),
             "reason": input["reason"], "referenceDocumentUri": uri, "_changes": changes}
    return {"inventoryAdjustmentGroup": group, "userErrors": []}


def _changes(group: dict[str, Any], info: GraphQLResolveInfo,
             quantityNames: list[str] | None = None) -> list[dict[str, Any]]:
    return [c for c in group["_changes"] if quantityNames is None or c["name"] in quantityNames]


def install(schema: GraphQLSchema) -> None:
    """Attach the resolvers to a schema (once)."""
    if getattr(schema, "_sim_resolvers", False):
        return
    types = schema.type_map
    for type_name, field_name, fn in (
        ("QueryRoot", "location", _location), ("QueryRoot", "inventoryItems", _items),
        ("QueryRoot", "productVariantsCount", _count), ("QueryRoot", "nodes", _nodes),
        ("QueryRoot", "node", lambda _, info, id: _node(_sim(info), id)),
        ("Location", "inventoryLevels", _levels), ("InventoryItem", "inventoryLevel", _item_level),
        ("InventoryLevel", "quantities", _quantities),
        ("InventoryLevel", "item", lambda level, info: item_view(level["_item"])),
        ("InventoryLevel", "location", lambda level, info: location_view(_sim(info), level["_loc"])),
        ("InventoryAdjustmentGroup", "changes", _changes),
        ("Mutation", "inventorySetQuantities", _set_quantities), ("Mutation", "bulkOperationRunQuery", bulk_run),
        ("QueryRoot", "bulkOperations", bulk_operations),
        ("QueryRoot", "shop", lambda _, info: {"name": _sim(info).shop_name}),
        ("QueryRoot", "currentAppInstallation", lambda _, info: {"accessScopes": [
            {"handle": h, "description": h} for h in sorted(_sim(info).scopes)]}),
        *HOOK_RESOLVERS,
    ):
        types[type_name].fields[field_name].resolve = fn  # type: ignore[attr-defined]
    types["Node"].resolve_type = lambda obj, info, t: obj["__typename"]  # type: ignore[attr-defined]
    schema._sim_resolvers = True  # type: ignore[attr-defined]
