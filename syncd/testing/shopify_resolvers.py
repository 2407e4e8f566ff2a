"""Field resolvers of the Shopify simulator: reads, ``inventorySetQuantities`` and bulk
query operations. Every resolver finds its shop in ``info.context["sim"]``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
    value_from_ast,
)

from .shopify_schema import MAX_INPUT, MAX_PAGE
from .shopify_state import KEY_RETENTION, BulkRun, IdempotencyRecord, ShItem

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
        chosen, more = rest[:first], len(rest) > first
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
    sim, loc = _sim(info), location["_loc"]
    stocked = sorted((i for i in sim.items.values() if i.stocked and loc == sim.location_id), key=lambda i: i.id)
    return _page(info, stocked, first, after, lambda i: level_view(i, loc))


def _items(_: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None,
           query: str | None = None) -> dict[str, Any]:
    if query is not None:
        raise GraphQLError("the simulator does not implement search queries", extensions={"code": "BAD_REQUEST"})
    return _page(info, sorted(_sim(info).items.values(), key=lambda i: i.id), first, after, item_view)


def _item_level(item: dict[str, Any], info: GraphQLResolveInfo, locationId: str) -> dict[str, Any] | None:
    sim, loc = _sim(info), _id_of(locationId, "Location")
    it: ShItem = item["_item"]
    return level_view(it, loc) if loc == sim.location_id and it.stocked else None


def _count(_: Any, info: GraphQLResolveInfo, query: str | None = None, limit: int | None = 10000) -> dict[str, Any]:
    n = len(_sim(info).items)
    capped = limit is not None and n > limit
    return {"count": limit if capped else n, "precision": "AT_LEAST" if capped else "EXACT"}


def _node(sim: ShopifySimulator, value: str) -> dict[str, Any] | None:
    if (n := _id_of(value, "InventoryItem")) is not None and n in sim.items:
        return item_view(sim.items[n])
    if (n := _id_of(value, "Location")) is not None and n in sim.locations:
        return location_view(sim, n)
    if (n := _id_of(value, "BulkOperation")) is not None and n in sim.bulk_runs:
        return bulk_view(sim, n)
    return None


def _nodes(_: Any, info: GraphQLResolveInfo, ids: list[str]) -> list[dict[str, Any] | None]:
    if len(ids) > MAX_INPUT:
        raise GraphQLError(f"The input array size of {len(ids)} is greater than the maximum allowed of "
                           f"{MAX_INPUT}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
    return [_node(_sim(info), i) for i in ids]


# --- bulk operations ------------------------------------------------------------------------

def bulk_view(sim: ShopifySimulator, n: int) -> dict[str, Any]:
    run = sim.bulk_runs[n]
    status = sim.bulk_status(run)
    return {"__typename": "BulkOperation", "id": gid("BulkOperation", n), "status": status, "type": "QUERY",
            "errorCode": "INTERNAL_SERVER_ERROR" if status == "FAILED" else None,
            "objectCount": str(len(run.lines)) if status == "COMPLETED" else "0",
            "url": f"{run.base}/bulk-results/{n}.jsonl" if status == "COMPLETED" else None,
            "query": run.query, "createdAt": "2026-01-01T00:00:00Z", "completedAt": None}


def _bulk_run(_: Any, info: GraphQLResolveInfo, query: str) -> dict[str, Any]:
    sim = _sim(info)
    running = [n for n, r in sim.bulk_runs.items() if sim.bulk_status(r) == "RUNNING"]
    if len(running) >= (1 if info.context["era"] == "legacy" else 5):
        return {"bulkOperation": None, "userErrors": [{"field": None, "message": "A bulk query operation for this "
                                                        f"app and shop is already in progress: {running[0]}."}]}
    schema = info.schema
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": exc.message}]}
    errors = validate(schema, document)
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    roots = ops[0].selection_set.selections if len(ops) == 1 and not errors else ()
    if errors or len(roots) != 1:
        message = errors[0].message if errors else "Bulk queries must have exactly one top-level field."
        return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": message}]}
    result = execute(schema, document, context_value={**info.context, "bulk": True, "returned": {}})
    data = (result.data or {}) if isinstance(result, ExecutionResult) else {}
    root = next(iter(data.values()), None)
    if not isinstance(root, dict) or not ({"nodes", "edges"} & set(root)):
        return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": "Bulk queries must contain "
                                                        "at least one connection."}]}
    lines: list[dict[str, Any]] = []
    _flatten(root, None, lines)
    n = len(sim.bulk_runs) + 1
    sim.bulk_runs[n] = BulkRun(n, query, lines, sim.clock.monotonic(), info.context["base"], failed=sim.fail_bulk)
    return {"bulkOperation": bulk_view(sim, n), "userErrors": []}


def _flatten(connection: dict[str, Any], parent: str | None, out: list[dict[str, Any]]) -> None:
    """Bulk JSONL: one line per node, nested connections as lines naming ``__parentId``."""
    nodes = connection.get("nodes") or [e["node"] for e in connection.get("edges") or ()]
    for node in nodes:
        nested = {k: v for k, v in node.items() if isinstance(v, dict) and ({"nodes", "edges"} & set(v))}
        line = {k: v for k, v in node.items() if k not in nested}
        out.append({**line, "__parentId": parent} if parent else line)
        for value in nested.values():
            _flatten(value, node.get("id"), out)


# --- inventorySetQuantities -----------------------------------------------------------------

def _key(info: GraphQLResolveInfo) -> str | None:
    for directive in info.field_nodes[0].directives:
        if directive.name.value == "idempotent":
            return value_from_ast(directive.arguments[0].value, GraphQLString, info.variable_values)  # type: ignore
    return None


def _set_quantities(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    sim, era = _sim(info), info.context["era"]
    key = _key(info)
    if key is None and era == "current":
        raise GraphQLError("The @idempotent directive is required for this mutation.",
                           extensions={"code": "BAD_REQUEST"})
    if key is not None and era == "legacy":
        raise GraphQLError("The @idempotent directive is not supported on this field in this API version.",
                           extensions={"code": "BAD_REQUEST"})
    rows = input["quantities"]
    if len(rows) > MAX_INPUT:
        raise GraphQLError(f"The input array size of {len(rows)} is greater than the maximum allowed of "
                           f"{MAX_INPUT}.", extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"})
    if era == "current" and any("changeFromQuantity" not in r for r in rows):
        raise GraphQLError("changeFromQuantity must be given on every row (null to skip the check).",
                           extensions={"code": "BAD_REQUEST"})
    args = json.dumps(input, sort_keys=True)
    now = sim.clock.wall()
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
    if not item.stocked or loc != sim.location_id:
        return [*path, "locationId"], "ITEM_NOT_STOCKED_AT_LOCATION", "The item is not stocked at the location."
    if not item.mutable:
        return [*path, "inventoryItemId"], "NON_MUTABLE_INVENTORY_ITEM", "The inventory item cannot be changed."
    quantity = row["quantity"]
    if quantity > LIMIT:
        return [*path, "quantity"], "INVALID_QUANTITY_TOO_HIGH", "The quantity can't be higher than 1,000,000,000."
    if quantity < 0:
        return [*path, "quantity"], "INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative."
    current = item.available if top["name"] == "available" else item.available + item.committed
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
    problems = [p for i, row in enumerate(input["quantities"]) if (p := _check(sim, i, row, era, input))]
    if problems:
        return _refused(problems)
    changes = []
    for row in input["quantities"]:
        item = sim.items[_id_of(row["inventoryItemId"], "InventoryItem") or -1]
        before = item.available if input["name"] == "available" else item.available + item.committed
        delta = row["quantity"] - before
        item.available += delta
        for name, after in (("available", item.available), ("on_hand", item.available + item.committed)):
            changes.append({"name": name, "delta": delta, "quantityAfterChange": after, "item": item_view(item),
                            "location": location_view(sim, sim.location_id), "ledgerDocumentUri": None})
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
        ("Query", "location", _location), ("Query", "inventoryItems", _items),
        ("Query", "productVariantsCount", _count), ("Query", "nodes", _nodes),
        ("Query", "node", lambda _, info, id: _node(_sim(info), id)),
        ("Location", "inventoryLevels", _levels), ("InventoryItem", "inventoryLevel", _item_level),
        ("InventoryLevel", "quantities", _quantities),
        ("InventoryLevel", "item", lambda level, info: item_view(level["_item"])),
        ("InventoryLevel", "location", lambda level, info: location_view(_sim(info), level["_loc"])),
        ("InventoryAdjustmentGroup", "changes", _changes),
        ("Mutation", "inventorySetQuantities", _set_quantities), ("Mutation", "bulkOperationRunQuery", _bulk_run),
    ):
        types[type_name].fields[field_name].resolve = fn  # type: ignore[attr-defined]
    types["Node"].resolve_type = lambda obj, info, t: obj["__typename"]  # type: ignore[attr-defined]
    schema._sim_resolvers = True  # type: ignore[attr-defined]
