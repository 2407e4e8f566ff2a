"""Shopify conformance against Shopify's own introspection of the pinned API version
(``tests/data/shopify/admin_2026-10.json.gz``, see SOURCES.md), offline:

* every document the connector sends — recorded off the wire while it pulls (paged and
  bulk), reads, writes and checks — and the bulk query inside, validate against the
  real schema, and every variables object it built coerces to the declared types;
* the access each field of those documents requires (the file's ``offline_scopes``) is
  covered by the scopes ``check()`` asks for;
* every error code the connector compares against is one Shopify can answer;
* the simulator's schema is a subset of the real one: types, fields, arguments (types
  and defaults), input fields, enum values, interfaces, directives.
"""

from __future__ import annotations

import functools
import gzip
import json
import random
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_client_schema,
    get_named_type,
    is_specified_directive,
    parse,
    validate,
    visit,
)
from graphql.execution.values import get_variable_values

from syncd.connectors import shopify, shopify_bulk, shopify_check, shopify_documents
from syncd.connectors.registry import spec_of
from syncd.connectors.shopify import ShopifyConnector
from syncd.connectors.shopify_check import missing_scopes
from syncd.core import Adjustment, WriteMode
from syncd.http import ApiClient, RateLimiter, RetryPolicy
from syncd.testing import FakeClock
from syncd.testing.shopify_schema import schema_for
from syncd.testing.shopify_sim import ShItem, ShopifySimulator
from syncd.webhooks import subscriptions

DATA = Path(__file__).parent.parent / "data" / "shopify" / "admin_2026-10.json.gz"
CONNECTOR_SOURCES = sorted((Path(shopify_documents.__file__).parent).glob("shopify*.py"))


@functools.cache
def introspection() -> dict[str, Any]:
    with gzip.open(DATA) as f:
        return json.load(f)  # type: ignore[no-any-return]


@functools.cache
def real() -> GraphQLSchema:
    return build_client_schema(introspection()["data"])


# --- what syncd sends -----------------------------------------------------------------------------

def make(clock: FakeClock, n: int, **kw: Any) -> tuple[ShopifySimulator, ShopifyConnector, list[dict[str, Any]]]:
    sim = ShopifySimulator([ShItem(100 + i, f"SKU-{i:04d}", i % 5) for i in range(n)], token="shpat_t", clock=clock)
    spec = spec_of("shopify")
    sent: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("graphql.json"):
            sent.append(json.loads(request.content))

    http = httpx.AsyncClient(base_url="https://demo.myshopify.com", transport=httpx.ASGITransport(app=sim.app),
                             event_hooks={"request": [record]})
    client = ApiClient("shop", http, clock=clock, limiter=RateLimiter(1200, clock),
                       retry=RetryPolicy(max_attempts=2, base=0.1, rng=random.Random(0)),
                       classify=spec.classify, pace=spec.pace)
    return sim, ShopifyConnector("shop", client, "shpat_t", **kw), sent


async def everything_syncd_sends() -> list[dict[str, Any]]:
    """Drive every path of the connector against the simulator; answer the bodies sent."""
    clock = FakeClock()
    sim, conn, sent = make(clock, 30, bulk_threshold=10)
    async for _ in conn.pull({}):  # bulk
        pass
    sim.bulk_seconds = 30.0
    await shopify_bulk.start(conn, await conn.location())  # another cycle's, still running
    sim.bulk_concurrency = 1
    async for _ in conn.pull({}):  # OPERATION_IN_PROGRESS: follows it (bulkOperations)
        break
    conn.bulk_threshold = None
    pages = [page async for page in conn.pull({})]  # paged
    obs = [o for p in pages for o in p.observations]
    await conn.read([o.remote_id for o in obs[:3]])
    await conn.push([Adjustment("shop", o.sku, o.remote_id, o.quantity, 7, WriteMode.ABSOLUTE) for o in obs[:3]],
                    "k-1")
    await conn.check()
    return sent


@pytest.fixture(scope="module")
def sent() -> list[dict[str, Any]]:
    import asyncio

    return asyncio.run(everything_syncd_sends())


def test_every_document_syncd_has_validates_against_2026_10() -> None:
    documents = {**shopify_documents.DOCUMENTS, **subscriptions.DOCUMENTS,
                 "BULK_QUERY": shopify_documents.bulk_query("gid://shopify/Location/1")}
    for name, text in documents.items():
        assert validate(real(), parse(text)) == [], name


def test_every_request_syncd_sends_validates_and_its_variables_coerce(sent: list[dict[str, Any]]) -> None:
    schema = real()
    for body in sent:
        document = parse(body["query"])
        assert validate(schema, document) == [], body["query"]
        [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        coerced = get_variable_values(schema, operation.variable_definitions or (), body.get("variables") or {})
        assert not isinstance(coerced, list), (body["query"], [e.message for e in coerced])
        inner = (body.get("variables") or {}).get("query")
        if inner is not None:  # the bulk operation's own document
            assert validate(schema, parse(inner)) == [], inner
    assert {b["query"] for b in sent} == set(shopify_documents.DOCUMENTS.values())  # every path was driven


def _required_scopes(text: str) -> list[tuple[str, list[str]]]:
    """(where, any-of scopes) for every type and field the document touches."""
    table: dict[tuple[str, str | None], list[str]] = {}
    for item in introspection()["offline_scopes"]["items"]:
        table[(item["typeName"], item.get("fieldName") if item["type"] == "field" else None)] = item["offlineScopes"]
    schema, info, needs = real(), TypeInfo(real()), []

    class Fields(Visitor):
        def enter_field(self, node: Any, *_: Any) -> None:
            parent, field = info.get_parent_type(), info.get_field_def()
            if parent is None or field is None:
                return
            named = get_named_type(field.type)
            for key in ((parent.name, node.name.value), (named.name, None)):
                if table.get(key):
                    needs.append((f"{key[0]}.{key[1] or '*'}", table[key]))

    visit(parse(text), TypeInfoVisitor(info, Fields()))
    assert schema is not None
    return needs


def test_the_scopes_check_asks_for_cover_every_field_syncd_reads_or_writes() -> None:
    documents = [*shopify_documents.DOCUMENTS.values(), shopify_documents.bulk_query("gid://shopify/Location/1")]
    needs = [need for text in documents for need in _required_scopes(text)]
    assert needs, "the file lists the access each field needs"
    granted = set(shopify_documents.SCOPES)
    for where, any_of in needs:
        assert any(not missing_scopes(granted) and (s in granted or s.replace("read_", "write_") in granted)
                   for s in any_of), (where, any_of)
    assert missing_scopes({"write_inventory", "read_locations", "read_products"}) == []  # write_ grants read_


def test_every_error_code_the_connector_names_is_one_shopify_answers() -> None:
    schema = real()
    enums = ("InventorySetQuantitiesUserErrorCode", "BulkOperationUserErrorCode", "BulkOperationStatus",
             "BulkOperationErrorCode")
    known = {v for e in enums for v in schema.get_type(e).values}  # type: ignore[union-attr]
    top_level = {"THROTTLED", "INTERNAL_SERVER_ERROR", "ACCESS_DENIED"}  # extensions.code, not in the schema
    names = {n for m in (shopify, shopify_bulk, shopify_check, shopify_documents) for n in dir(m)}  # __all__
    named = {c for path in CONNECTOR_SOURCES for c in re.findall(r'"([A-Z][A-Z_]{5,})"', path.read_text())} - names
    assert {"CHANGE_FROM_QUANTITY_STALE", "OPERATION_IN_PROGRESS", "LIMIT_REACHED"} <= named
    assert named - known - top_level - {"ERROR"} == set()


# --- the simulator offers nothing Shopify does not ---------------------------------------------------

def _kind(t: GraphQLNamedType) -> str:
    return type(t).__name__


def simulator_drift(sim: GraphQLSchema, shop: GraphQLSchema) -> list[str]:
    """Everything in ``sim`` that is not in ``shop`` the same way."""
    drift: list[str] = []
    assert sim.query_type and shop.query_type
    if sim.query_type.name != shop.query_type.name:
        drift.append(f"query root {sim.query_type.name} (Shopify: {shop.query_type.name})")
    for name, t in sim.type_map.items():
        if name.startswith("__"):
            continue
        other = shop.get_type(name)
        if other is None or _kind(other) != _kind(t):
            drift.append(f"type {name} ({_kind(t)}) is not in Shopify's schema as such")
            continue
        if isinstance(t, GraphQLEnumType):
            drift += [f"enum value {name}.{v}" for v in t.values if v not in other.values]  # type: ignore[union-attr]
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType):
            assert isinstance(other, GraphQLObjectType | GraphQLInterfaceType)
            drift += [f"{name} implements {i.name}" for i in t.interfaces
                      if i.name not in {j.name for j in other.interfaces}]
            for fname, field in t.fields.items():
                theirs = other.fields.get(fname)
                if theirs is None or str(theirs.type) != str(field.type):
                    drift.append(f"field {name}.{fname}: {field.type} (Shopify: {theirs and theirs.type})")
                    continue
                for aname, arg in field.args.items():
                    real_arg = theirs.args.get(aname)
                    if real_arg is None or str(real_arg.type) != str(arg.type) or \
                            real_arg.default_value != arg.default_value:
                        drift.append(f"argument {name}.{fname}({aname}: {arg.type} = {arg.default_value!r})")
                drift += [f"argument {name}.{fname}({a}) is required by Shopify" for a, r in theirs.args.items()
                          if a not in field.args and str(r.type).endswith("!") and r.default_value is None]
        if isinstance(t, GraphQLInputObjectType):
            assert isinstance(other, GraphQLInputObjectType)
            for fname, field in t.fields.items():
                theirs = other.fields.get(fname)
                if theirs is None or str(theirs.type) != str(field.type):
                    drift.append(f"input field {name}.{fname}: {field.type}")
            drift += [f"input field {name}.{f} is required by Shopify" for f, r in other.fields.items()
                      if f not in t.fields and str(r.type).endswith("!")]
    for directive in (d for d in sim.directives if not is_specified_directive(d)):  # built-ins: graphql-core's
        theirs = shop.get_directive(directive.name)
        if theirs is None or {a: str(x.type) for a, x in theirs.args.items()} != {
                a: str(x.type) for a, x in directive.args.items()} or set(theirs.locations) != set(directive.locations):
            drift.append(f"directive @{directive.name}")
    return drift


def test_the_simulators_schema_is_a_subset_of_2026_10() -> None:
    assert simulator_drift(schema_for("latest"), real()) == []


def test_the_subset_check_sees_a_drift() -> None:
    """The check itself: a code 2026-10 removed is found."""
    from graphql import build_schema

    drifted = build_schema("schema { query: QueryRoot } type QueryRoot { x: InventorySetQuantitiesUserErrorCode } "
                           "enum InventorySetQuantitiesUserErrorCode { INVALID_NAME ITEM_NOT_STOCKED_AT_LOCATION }")
    assert simulator_drift(drifted, real()) == [
        "field QueryRoot.x: InventorySetQuantitiesUserErrorCode (Shopify: None)",
        "enum value InventorySetQuantitiesUserErrorCode.ITEM_NOT_STOCKED_AT_LOCATION"]
