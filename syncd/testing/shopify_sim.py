"""A Shopify Admin GraphQL simulator (ASGI), per ``shared/stores/shopify.md``.

``POST /admin/api/{version}/graphql.json`` parses and validates every document against
the slice of the schema syncd uses (``shopify_schema``; its 2026-10 form is checked to be
a subset of Shopify's own introspection), so a query it does not understand is refused
as Shopify would refuse it. Calculated query cost with a leaky bucket
(``extensions.cost`` on every answer, ``THROTTLED`` inside an HTTP 200, 1,000 points per
query), Relay cursors (``first`` ≤ 250, no paging past ``page_cap`` = 25,000 objects),
``inventorySetQuantities`` with per-version compare-and-set (``changeFromQuantity``
mandatory from 2026-04; from 2026-10 a quantity can be set where the item is not stocked
yet) and ``@idempotent`` keys kept 24 h, all-or-nothing with one ``userErrors`` entry per
bad row, a no-op answered with no group and no error, and bulk query operations whose
JSONL is served at ``/bulk-results/{id}.jsonl``. Every answer names the version served
(``X-Shopify-API-Version``; one older than ``oldest_supported`` is served as that one).

Knobs for failures: ``scopes`` (ACCESS_DENIED on fields needing others), ``token``,
``bulk_queries_allowed`` (the Partner Dashboard switch), ``bulk_limit_reached``,
``bulk_concurrency``, ``fail_bulk``, ``fail_writes``, ``in_flight_keys``, ``page_cap``,
``connection_size`` (how a connection's ``first`` is priced), ``oldest_supported``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..http.clock import Clock, SystemClock
from . import shopify_resolvers as resolvers
from .faults import FaultInjector
from .shopify_schema import MAX_COST, PAGE_CAP, Cost, era_of, schema_for, version_key
from .shopify_state import BulkRun, IdempotencyRecord, ShItem

__all__ = ["SCOPES", "IdempotencyRecord", "ShItem", "ShopifySimulator"]

SCOPES = frozenset({"read_inventory", "write_inventory", "read_locations", "read_products"})

@dataclass
class Bucket:
    maximum: float
    rate: float
    available: float
    at: float

    def leak(self, now: float) -> None:
        self.available = min(self.maximum, self.available + (now - self.at) * self.rate)
        self.at = now

    def status(self) -> dict[str, float]:
        return {"maximumAvailable": self.maximum, "currentlyAvailable": round(self.available, 1),
                "restoreRate": self.rate}


class ShopifySimulator:
    """One simulated shop with one primary location (and other, empty, locations)."""

    def __init__(self, items: Iterable[ShItem] = (), *, token: str = "shpat_test", clock: Clock | None = None,
                 location_id: int = 1001, restore_rate: float = 100.0, bucket_size: float | None = None,
                 throttle_status: int = 200, bulk_seconds: float = 2.0,
                 connection_size: Callable[[int], float] = float) -> None:
        self.items = {i.id: i for i in items}
        self.shop_name = "Simulated shop"
        self.scopes: set[str] = set(SCOPES)  # what the app was granted (a write_ scope grants its read_)
        self.oldest_supported = "2025-10"  # older versions are served as this one (Shopify "falls forward")
        self.connection_size = connection_size  # how a connection's first is priced (see Cost)
        self.page_cap = PAGE_CAP  # objects a connection can be paged through
        self.bulk_queries_allowed = True  # the Partner Dashboard's "Allow bulk queries"
        self.bulk_limit_reached = False  # bulkOperationRunQuery answers LIMIT_REACHED
        self.bulk_concurrency: int | None = None  # running bulk queries allowed (None: 1 up to 2025-10, else 5)
        self.in_flight_keys: set[str] = set()  # keys answered IDEMPOTENCY_CONCURRENT_REQUEST
        self.other_levels: dict[tuple[int, int], int] = {}  # (item, location) → available set at other locations
        self.token = token
        self.clock = clock or SystemClock()
        self.location_id = location_id
        self.locations = {location_id: "Main warehouse", location_id + 1: "Pop-up (nothing stocked)"}
        size = bucket_size if bucket_size is not None else 20 * restore_rate
        self.bucket = Bucket(size, restore_rate, size, self.clock.monotonic())
        self.throttle_status = throttle_status
        self.bulk_seconds = bulk_seconds
        self.bulk_runs: dict[int, BulkRun] = {}
        self.fail_bulk = False
        self.fail_writes = 0  # the next N mutations fail inside Shopify (INTERNAL_SERVER_ERROR)
        self.keys: dict[str, IdempotencyRecord] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}  # webhook subscriptions by id
        self.applied_keys: Counter[str] = Counter()  # how many times a key's writes were applied (replays: not)
        self.requests: Counter[str] = Counter()
        self.throttled = 0
        self.before_write: list[Callable[[ShopifySimulator], None]] = []
        routes = [
            Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
            Route("/bulk-results/{op:int}.jsonl", self._bulk_file, methods=["GET"]),
        ]
        self.faults = FaultInjector(Starlette(routes=routes))
        self.app = self.faults

    # --- merchant side --------------------------------------------------------------------

    def item(self, sku: str) -> ShItem:
        return next(i for i in self.items.values() if i.sku == sku)

    def quantity(self, sku: str) -> int:
        return self.item(sku).available

    def sell(self, sku: str, units: int = 1, *, oversell: bool | None = None) -> int:
        """An order: ``available`` down, ``committed`` up. DENY stops at zero; CONTINUE (the
        item's ``oversell``, or ``oversell=True`` for orders that outrun stock anyway, such
        as concurrent checkouts) takes ``available`` below zero."""
        i = self.item(sku)
        if not i.tracked:
            return units
        sold = units if (i.oversell if oversell is None else oversell) else min(units, max(0, i.available))
        i.available -= sold
        i.committed += sold
        return sold

    def restock(self, sku: str, units: int) -> None:
        self.item(sku).available += units

    # --- HTTP -----------------------------------------------------------------------------

    async def _graphql(self, request: Request) -> Response:
        version = version_key(request.path_params["version"])
        if version is None:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        served = request.path_params["version"]
        if version < (oldest := version_key(self.oldest_supported) or version):
            version, served = oldest, self.oldest_supported  # unsupported: served as the oldest supported
        if request.headers.get("x-shopify-access-token") != self.token:
            return JSONResponse({"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                           "password)"}, status_code=401)
        if "application/json" not in request.headers.get("content-type", ""):
            return JSONResponse({"errors": "Content-Type must be application/json"}, status_code=400)
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"errors": "Bad Request: malformed JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, status_code=400)
        era = era_of(version)
        response = self._run(schema_for(era), era, body, str(request.base_url).rstrip("/"))
        response.headers["X-Shopify-API-Version"] = served
        return response

    def _run(self, schema: GraphQLSchema, era: str, body: dict[str, Any], base: str) -> Response:
        resolvers.install(schema)
        self.bucket.leak(self.clock.monotonic())
        try:
            document = parse(body["query"])
        except GraphQLError as exc:
            return self._answer(None, [_err(exc.message, "PARSE_ERROR")], 0, 0)
        errors = validate(schema, document)
        operation = get_operation_ast(document, body.get("operationName"))
        if errors or operation is None:
            found = [_err(e.message, "GRAPHQL_VALIDATION_FAILED") for e in errors] or [
                _err("no single operation to run (name it in operationName)", "BAD_REQUEST")]
            return self._answer(None, found, 0, 0)
        variables = get_variable_values(schema, operation.variable_definitions, body.get("variables") or {})
        if isinstance(variables, list):
            return self._answer(None, [_err(e.message, "INVALID_VARIABLE") for e in variables], 0, 0)
        mutation = operation.operation is OperationType.MUTATION
        root = schema.mutation_type if mutation else schema.query_type
        assert root is not None
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        cost = Cost(schema, variables, fragments, self.connection_size)
        requested = cost.of(operation.selection_set, root, mutation)
        self.requests[f"{operation.operation.value} {_root_fields(operation)}"] += 1
        if requested > MAX_COST:
            return self._answer(None, [{"message": f"Query cost is {requested}, which exceeds the single query max "
                                                  f"cost limit ({MAX_COST}).",
                                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                       "maxCost": MAX_COST}}], requested, None)
        if requested > self.bucket.available:
            self.throttled += 1
            return self._answer(None, [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                requested, None, status=self.throttle_status)
        self.bucket.available -= requested
        returned: dict[int, int] = {}
        context = {"sim": self, "era": era, "returned": returned, "base": base, "bulk": False}
        result = execute(schema, document, context_value=context, variable_values=body.get("variables") or {},
                         operation_name=body.get("operationName"))
        assert isinstance(result, ExecutionResult)  # every resolver is synchronous
        actual = requested if mutation else cost.of(operation.selection_set, root, returned=returned)
        self.bucket.available = min(self.bucket.maximum, self.bucket.available + requested - actual)
        errors_out = [e.formatted for e in result.errors or ()]
        return self._answer(result.data, errors_out, requested, actual)

    def _answer(self, data: Any, errors: list[Any], requested: int, actual: int | None,
                status: int = 200) -> JSONResponse:
        body: dict[str, Any] = {"data": data} if data is not None or not errors else {}
        if errors:
            body["errors"] = errors
        body["extensions"] = {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                                       "throttleStatus": self.bucket.status()}}
        return JSONResponse(body, status_code=status)

    async def _bulk_file(self, request: Request) -> Response:
        run = self.bulk_runs.get(request.path_params["op"])
        if run is None or self.bulk_status(run) != "COMPLETED":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404, media_type="application/xml")
        text = "".join(json.dumps(line) + "\n" for line in run.lines)
        return Response(text, media_type="application/jsonl")

    def bulk_status(self, run: BulkRun) -> str:
        if self.clock.monotonic() - run.started < run.seconds:
            return "RUNNING"
        return "FAILED" if run.failed else "COMPLETED"


def _err(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


def _root_fields(operation: OperationDefinitionNode) -> str:
    return ",".join(s.name.value for s in operation.selection_set.selections if hasattr(s, "name"))
