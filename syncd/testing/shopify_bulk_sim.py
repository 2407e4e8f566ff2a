"""Bulk query operations of the Shopify simulator: ``bulkOperationRunQuery`` (with its
``BulkOperationUserError`` codes and the Partner Dashboard's "Allow bulk queries"
switch) and ``bulkOperations``. The JSONL is served by the simulator at
``/bulk-results/{id}.jsonl``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, GraphQLError, GraphQLResolveInfo, OperationDefinitionNode, execute, parse, validate

from .shopify_state import BulkRun

if TYPE_CHECKING:
    from .shopify_sim import ShopifySimulator

__all__ = ["bulk_operations", "bulk_run", "bulk_view"]


def bulk_view(sim: ShopifySimulator, run: BulkRun) -> dict[str, Any]:
    status = sim.bulk_status(run)
    return {"__typename": "BulkOperation", "id": f"gid://shopify/BulkOperation/{run.id}", "status": status,
            "type": "QUERY", "errorCode": "INTERNAL_SERVER_ERROR" if status == "FAILED" else None,
            "objectCount": str(len(run.lines)) if status == "COMPLETED" else "0",
            "url": f"{run.base}/bulk-results/{run.id}.jsonl" if status == "COMPLETED" else None,
            "query": run.query, "createdAt": "2026-01-01T00:00:00Z", "completedAt": None}


def _refused(code: str, message: str, field: list[str] | None = None) -> dict[str, Any]:
    return {"bulkOperation": None, "userErrors": [{"code": code, "field": field, "message": message}]}


def bulk_run(_: Any, info: GraphQLResolveInfo, query: str, groupObjects: bool) -> dict[str, Any]:
    sim: ShopifySimulator = info.context["sim"]
    if not sim.bulk_queries_allowed:
        # Since 2026-11 a Partner Dashboard app must be allowed bulk queries; the refusal is
        # "an access denied error" (its exact words unpublished): a top-level ACCESS_DENIED.
        raise GraphQLError("Access denied for bulkOperationRunQuery field. Bulk queries are not enabled for this "
                           "app: allow them in the Partner Dashboard (API access requests).",
                           extensions={"code": "ACCESS_DENIED"})
    if sim.bulk_limit_reached:
        return _refused("LIMIT_REACHED", "Bulk operations limit reached. Please try again later.")
    running = [r for r in sim.bulk_runs.values() if sim.bulk_status(r) == "RUNNING"]
    allowed = sim.bulk_concurrency or (1 if info.context["era"] == "legacy" else 5)
    if len(running) >= allowed:
        return _refused("OPERATION_IN_PROGRESS", "A bulk query operation for this app and shop is already in "
                        f"progress: gid://shopify/BulkOperation/{running[0].id}.")
    schema = info.schema
    try:
        document = parse(query)
    except GraphQLError as exc:
        return _refused("INVALID", exc.message, ["query"])
    errors = validate(schema, document)
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    roots = ops[0].selection_set.selections if len(ops) == 1 and not errors else ()
    if errors or len(roots) != 1:
        return _refused("INVALID", errors[0].message if errors else "Bulk queries must have exactly one top-level "
                        "field.", ["query"])
    result = execute(schema, document, context_value={**info.context, "bulk": True, "returned": {}})
    data = (result.data or {}) if isinstance(result, ExecutionResult) else {}
    root = next(iter(data.values()), None)
    if not isinstance(root, dict) or not ({"nodes", "edges"} & set(root)):
        return _refused("INVALID", "Bulk queries must contain at least one connection.", ["query"])
    lines: list[dict[str, Any]] = []
    _flatten(root, None, lines)
    n = len(sim.bulk_runs) + 1
    sim.bulk_runs[n] = BulkRun(n, query, lines, sim.clock.monotonic(), info.context["base"], failed=sim.fail_bulk,
                               grouped=groupObjects, seconds=sim.bulk_seconds)
    return {"bulkOperation": bulk_view(sim, sim.bulk_runs[n]), "userErrors": []}


def _flatten(connection: dict[str, Any], parent: str | None, out: list[dict[str, Any]]) -> None:
    """Bulk JSONL: one line per node, nested connections as lines naming ``__parentId``."""
    nodes = connection.get("nodes") or [e["node"] for e in connection.get("edges") or ()]
    for node in nodes:
        nested = {k: v for k, v in node.items() if isinstance(v, dict) and ({"nodes", "edges"} & set(v))}
        line = {k: v for k, v in node.items() if k not in nested}
        out.append({**line, "__parentId": parent} if parent else line)
        for value in nested.values():
            _flatten(value, node.get("id"), out)


def bulk_operations(_: Any, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None,
                    query: str | None = None, reverse: bool = False, sortKey: str = "CREATED_AT") -> dict[str, Any]:
    """This app's bulk operations, newest first, filtered by ``operation_type:`` and
    ``status:`` terms (the only ones the simulator knows)."""
    sim: ShopifySimulator = info.context["sim"]
    if first is None or not 0 <= first <= 250 or after is not None:
        raise GraphQLError("the simulator pages bulkOperations with first (≤ 250) only",
                           extensions={"code": "BAD_REQUEST"})
    terms = dict(t.split(":", 1) for t in (query or "").replace(" AND ", " ").split() if ":" in t)
    if set(terms) - {"operation_type", "status"}:
        raise GraphQLError(f"the simulator does not filter bulkOperations by {sorted(terms)}",
                           extensions={"code": "BAD_REQUEST"})
    runs = sorted(sim.bulk_runs.values(), key=lambda r: r.id, reverse=not reverse)
    views = [v for v in (bulk_view(sim, r) for r in runs) if terms.get("operation_type", "query") == "query"
             and terms.get("status", v["status"]).upper() == v["status"]][:first]
    info.context["returned"][id(info.field_nodes[0])] = len(views)
    return {"nodes": views, "edges": [{"cursor": v["id"], "node": v} for v in views],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}}
