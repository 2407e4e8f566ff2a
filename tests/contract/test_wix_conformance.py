"""The Wix connector and simulators against Wix's own SDK typings (tests/data/wix,
SOURCES.md), offline.

Every request syncd sends in a run of pulls, reads, writes and checks on both catalogs is
matched to an SDK method by verb and www.wixapis.com path (from the built JS) and its body
validated against the method's request interface (fields, types, enums, limits, required
fields, fields the docs say every call must set). Every answer the simulators give is
validated against the response interface (so a field Wix does not send, such as ``hasNext``
on Query Inventory Items, fails). Every response field the connector reads must exist in
the responses of the endpoints it calls.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.connectors import wix, wix_check, wix_v1, wix_v3
from syncd.core import Adjustment, WriteMode
from syncd.testing import FakeClock, wix_sim, wix_v1_sim
from tests.connectors.test_wix import make, pull
from tests.support import wix_sdk as sdk

PACKAGES = {"inventory": "inventory.meta.d.ts", "inventory-items-v-3": "inventory-items-v-3.meta.d.ts",
            "catalog-versioning": "catalog-versioning.meta.d.ts", "products": "products.meta.d.ts"}
# Query Products (V1, the one taking includeHiddenProducts) is not an SDK method: its
# interfaces are in products.meta.d.ts, its path prefix in products.meta.js (checked below).
LEGACY = {("POST", "/stores-reader/v1/products/query"): ("products", "QueryProductsRequest", "QueryProductsResponse")}
DOCS = {"inventory": "inventory.index.typings.d.ts", "inventory-items-v-3": "inventory-items-v-3.universal.d.ts",
        "catalog-versioning": "catalog-versioning.index.typings.d.ts"}
LOCATION = "d85fbb4d-e415-49b1-98bc-9d22ec338cb1"


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, log: list[tuple[httpx.Request, httpx.Response]]) -> None:
        self.inner, self.log = inner, log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.log.append((request, httpx.Response(response.status_code, content=body, request=request)))
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)


def endpoint(verb: str, path: str) -> tuple[str, str, str, str]:
    """(package, request interface, response interface, fqn) of one request, or a failure."""
    for package in PACKAGES:
        method = sdk.find(package, verb, path)
        if method is not None:
            return package, method.request, method.response, method.fqn
    if (verb, path) in LEGACY:
        package, request, response = LEGACY[(verb, path)]
        return package, request, response, ""
    pytest.fail(f"{verb} {path}: no method of the vendored SDK packages has this verb and path")


def required_fields(package: str, fqn: str) -> list[str]:
    """``@requiredField`` paths of one method, from its SDK docs (``_id`` is REST's ``id``)."""
    if not fqn or package not in DOCS:
        return []
    doc = re.search(r"/\*\*((?:(?!\*/).)*?@fqn " + re.escape(fqn) + r"\n.*?)\*/", sdk.text(DOCS[package]), re.S)
    return [p.replace("_id", "id") for p in re.findall(r"@requiredField (\S+)", doc.group(1))] if doc else []


def present(body: Any, path: list[str]) -> bool:
    if not path:
        return True
    if isinstance(body, list):
        return all(present(item, path) for item in body)
    return isinstance(body, dict) and path[0] in body and present(body[path[0]], path[1:])


def adjust(obs: Any, target: int, mode: WriteMode = WriteMode.ABSOLUTE) -> Adjustment:
    return Adjustment("w", obs.sku, obs.remote_id, obs.quantity, target, mode)


async def scenario() -> list[tuple[httpx.Request, httpx.Response]]:
    """Both catalogs, every code path that talks to Wix: pulls (two V3 pages), reads,
    absolute and relative writes (a stale row among them), and check()."""
    log: list[tuple[httpx.Request, httpx.Response]] = []
    record = lambda t: Recorder(t, log)  # noqa: E731
    stock: dict[str, int | None] = {f"S{i:04d}": i % 9 for i in range(1001)} | {"FREE": None}
    sim, conn = make(FakeClock(), stock, wrap=record, location_id=LOCATION)
    sim.item("S0002").quantity = -3
    obs = await pull(conn)
    sim.sell("S0001", 1)
    await conn.push([adjust(obs["S0001"], 9), adjust(obs["S0002"], 0), adjust(obs["S0003"], 7)], "k")
    await conn.read([obs["S0004"].remote_id])
    await conn.check()
    for catalog, mode in (("v1", "absolute"), ("v1", "relative")):
        sim, conn = make(FakeClock(), {"A": 5, "B": 5, "H": 2}, "V1_CATALOG", wrap=record, catalog=catalog,
                         write_mode=mode)
        sim.item("H").hidden = True
        obs = await pull(conn)
        wm = WriteMode.RELATIVE if mode == "relative" else WriteMode.ABSOLUTE
        await conn.push([adjust(obs["A"], 8, wm), adjust(obs["B"], 2, wm)], "k")
        await conn.check()
    _, conn = make(FakeClock(), {"A": 1}, wrap=record)  # catalog = auto: the version call
    await pull(conn)
    return log


@pytest.fixture(scope="module")
def traffic() -> list[tuple[httpx.Request, httpx.Response]]:
    import asyncio

    return asyncio.run(scenario())


def test_every_request_is_a_documented_method_with_a_valid_body(traffic):
    seen = set()
    for request, _ in traffic:
        package, req_type, _, fqn = endpoint(request.method, request.url.path)
        seen.add((request.method, package, req_type))
        body = json.loads(request.content) if request.content else {}
        errors = sdk.validate(sdk.typings(PACKAGES[package]), req_type, body, request=True)
        method = sdk.find(package, request.method, request.url.path)
        in_path = {p.split(".")[-1] for p in re.findall(r"\{([^}]+)\}", method.public if method else "")}
        errors += [f"$.{field}: @requiredField of {fqn} but not sent" for field in required_fields(package, fqn)
                   if field not in in_path and not present(body, field.split("."))]  # a path param is sent
        assert not errors, f"{request.method} {request.url.path}: {errors}"
    assert {v for v, _, _ in seen} == {"GET", "POST", "PATCH"} and len(seen) >= 7, seen


def test_every_answer_of_the_simulators_follows_the_response_interfaces(traffic):
    for request, response in traffic:
        if response.status_code >= 300:
            continue
        package, _, resp_type, _ = endpoint(request.method, request.url.path)
        errors = sdk.validate(sdk.typings(PACKAGES[package]), resp_type, response.json())
        assert not errors, f"{request.method} {request.url.path}: {errors[:5]}"


def test_the_v3_query_answer_has_no_has_next_and_syncd_does_not_read_it():
    t = sdk.typings("inventory-items-v-3.meta.d.ts")
    assert t.fields("QueryInventoryItemsResponse")["pagingMetadata"].type == "PlatformPagingMetadataV2"
    assert set(t.fields("PlatformPagingMetadataV2")) == {"count", "cursors"}
    assert "hasNext" in t.fields("CursorPagingMetadata")  # Search's metadata has one; Query's does not


def _keys_read(module: Any) -> set[str]:
    """The string keys a module reads from JSON: ``x.get("k")`` and ``x["k"]``."""
    tree = ast.parse(Path(module.__file__).read_text())
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and \
                node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            keys.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and \
                isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str) and \
                not (isinstance(node.value, ast.Name) and node.value.id.isupper()):  # not a module constant
            keys.add(node.slice.value)
    return keys


@pytest.mark.parametrize(("module", "responses"), [
    (wix_v3, [("inventory-items-v-3", "QueryInventoryItemsResponse"),
              ("inventory-items-v-3", "BulkUpdateInventoryItemsResponse")]),
    (wix_v1, [("inventory", "QueryInventoryResponse"), ("products", "QueryProductsResponse")]),
    (wix_check, [("inventory-items-v-3", "QueryInventoryItemsResponse"), ("inventory", "QueryInventoryResponse"),
                 ("catalog-versioning", "GetCatalogVersionResponse")]),
])
def test_every_field_the_connector_reads_is_in_the_responses_it_reads(module, responses):
    known = set().union(*(sdk.reachable(sdk.typings(PACKAGES[p]), r) for p, r in responses))
    unknown = _keys_read(module) - known
    assert not unknown, f"{module.__name__} reads fields no response it calls carries: {sorted(unknown)}"


def test_limits_in_the_connector_and_simulators_are_the_typings():
    v3 = sdk.typings("inventory-items-v-3.meta.d.ts")
    v1 = sdk.typings("inventory.meta.d.ts")
    products = sdk.typings("products.meta.d.ts")
    quantity = v3.fields("InventoryItem")["quantity"].tags
    assert (int(quantity["min"]), int(quantity["max"])) == (-wix.QUANTITY_LIMIT, wix.QUANTITY_LIMIT)
    assert int(products.fields("VariantStock")["quantity"].tags["max"]) == wix.QUANTITY_LIMIT
    assert wix_sim.QUANTITY_MAX == wix_v1_sim.QUANTITY_MAX == wix.QUANTITY_LIMIT
    assert "min" not in v1.fields("InventoryVariantV2")["quantity"].tags  # V1 names no floor: see wix_v1.FLOOR
    assert int(v3.fields("CursorPaging")["limit"].tags["max"]) == wix_v3.PAGE == wix_sim.V3_PAGE_MAX
    bulk = v3.fields("BulkUpdateInventoryItemsRequest")["inventoryItems"].tags
    assert int(bulk["maxSize"]) == wix.capabilities("v3").max_batch == wix_sim.V3_BULK_MAX
    assert int(v1.fields("Paging")["limit"].tags["max"]) == wix_v1.PAGE == wix_v1_sim.PAGE_MAX
    for request, data in (("IncrementInventoryRequest", "incrementData"), ("DecrementInventoryRequest",
                                                                          "decrementData")):
        size = int(v1.fields(request)[data].tags["maxSize"])
        assert size == wix.capabilities("v1", "relative").max_batch == wix_v1_sim.BATCH_MAX


def test_the_documented_traps_are_pinned():
    v1 = sdk.typings("inventory.meta.d.ts")
    assert "must explicitly set this field" in v1.fields("InventoryItemV2")["trackQuantity"].doc
    hidden = sdk.typings("products.meta.d.ts").fields("QueryProductsRequest")["includeHiddenProducts"].doc
    assert "Defaults to `false`" in hidden and "silently excluded" in hidden
    assert any(src == "/stores-reader/v1/products" for src, _ in sdk.host_prefixes("products"))
    codes = set(re.findall(r"code\?: '(\w+)'", sdk.text("inventory-items-v-3.universal.d.ts")))
    assert "INVALID_REVISION" not in codes  # no stale-revision code is named: syncd must not rely on one
    assert "INVALID_REVISION" not in Path(wix_v3.__file__).read_text()
    assert wix_sim.WixSimulator().stale_code not in codes | {"INVALID_REVISION"}


def test_the_version_call_and_its_answers():
    method = sdk.methods("catalog-versioning")["getCatalogVersion"]
    assert method.verbs == ("GET",) and method.public == wix_check.VERSION == "/stores/v3/provision/version"
    versions = sdk.typings("catalog-versioning.meta.d.ts").enums["VersionWithLiterals"]
    assert versions == set(wix.VERSIONS) | {"STORES_NOT_INSTALLED"}


def test_the_permissions_check_names_are_in_the_typings():
    fqns = {"v1_read": ("inventory", "wix.inventory.api.v1.InventoryReadApi.QueryInventory"),
            "v1_write": ("inventory", "wix.inventory.api.v1.InventoryWriteApi.UpdateInventoryVariants"),
            "v3_read": ("inventory-items-v-3", "com.wix.stores.catalog.inventory.api.v3.InventoryService."
                                               "QueryInventoryItems"),
            "v3_write": ("inventory-items-v-3", "com.wix.stores.catalog.inventory.api.v3.InventoryService."
                                                "BulkUpdateInventoryItems")}
    scopes = set(re.findall(r"@permissionScopeId (\S+)", "".join(sdk.text(f) for f in DOCS.values())))
    for key, (package, fqn) in fqns.items():
        permission, scope, _ = wix_check.PERMISSIONS[key]
        assert re.search(rf"@permissionId {re.escape(permission)}\n(?: \* .*\n)*? \* @fqn {re.escape(fqn)}\n",
                         sdk.text(DOCS[package])), (key, permission)
        assert scope in scopes or key == "v3_write", scope  # the write scope is named by the REST reference only
    version_doc = sdk.text(DOCS["catalog-versioning"])
    assert re.search(rf"@permissionId {wix_check.CATALOG_VERSION_READ}\n(?: \* .*\n)*? \* @fqn \S+GetCatalogVersion",
                     version_doc)
