"""Shopify connector and simulator: compare-and-set, @idempotent keys, the cost bucket,
bulk operations, and the simulator's strictness."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from syncd.config import StoreSettings
from syncd.connectors import Applied, Deferred, NotApplied, Rejected
from syncd.connectors.registry import spec_of
from syncd.connectors.shopify import PAGE_COST, ShopifyConnector
from syncd.core import Adjustment, WriteMode
from syncd.http import ApiClient, RateLimiter, RetryPolicy
from syncd.testing import FakeClock
from syncd.testing.shopify_sim import ShItem, ShopifySimulator

TOKEN = "shpat_test"
URL = "/admin/api/2026-10/graphql.json"


def make(clock: FakeClock, n: int = 0, stock: dict[str, int | None] | None = None,
         **kw: Any) -> tuple[ShopifySimulator, ShopifyConnector]:
    stock = stock if stock is not None else {f"SKU-{i:05d}": i % 7 for i in range(n)}
    sim = ShopifySimulator([ShItem(100 + i, sku, q or 0, tracked=q is not None)
                            for i, (sku, q) in enumerate(stock.items())], token=TOKEN, clock=clock)
    spec = spec_of("shopify")
    http = httpx.AsyncClient(base_url="https://demo.myshopify.com", transport=httpx.ASGITransport(app=sim.app))
    client = ApiClient("shop", http, clock=clock, limiter=RateLimiter(1200, clock),
                       retry=RetryPolicy(max_attempts=4, base=0.1, rng=random.Random(0)),
                       classify=spec.classify, pace=spec.pace, retry_after_429=2.0)
    return sim, ShopifyConnector("shop", client, TOKEN, **kw)


async def pull(conn: ShopifyConnector) -> dict[str, Any]:
    out = {}
    async for page in conn.pull({}):
        out.update({o.sku: o for o in page.observations})
    return out


def adj(obs: Any, target: int) -> Adjustment:
    return Adjustment("shop", obs.sku, obs.remote_id, obs.quantity, target, WriteMode.ABSOLUTE)


async def test_a_stale_row_is_deferred_and_the_others_go_again(clock):
    """The mutation is all or nothing: the stale row waits (with the store's words),
    the clean rows come back NotApplied so delivery resends them under a new key."""
    sim, conn = make(clock, stock={"A": 5, "B": 5, "C": 5})
    obs = await pull(conn)
    sim.sell("B", 1)
    results = await conn.push([adj(obs["A"], 7), adj(obs["B"], 7), adj(obs["C"], 7)], "k-1")
    assert isinstance(results[0], NotApplied) and isinstance(results[2], NotApplied)
    assert isinstance(results[1], Deferred) and "CHANGE_FROM_QUANTITY_STALE" in results[1].refused
    assert [sim.quantity(s) for s in "ABC"] == [5, 4, 5]  # nothing applied
    assert await conn.push([adj(obs["A"], 7), adj(obs["C"], 7)], "k-2") == [Applied(), Applied()]
    assert [sim.quantity(s) for s in "ABC"] == [7, 4, 7]


async def test_a_resend_under_the_same_key_is_not_applied_twice(clock):
    """Shopify answers a replayed key from its record, even after the item moved."""
    sim, conn = make(clock, stock={"A": 5})
    obs = await pull(conn)
    assert await conn.push([adj(obs["A"], 9)], "k-1") == [Applied()]
    sim.sell("A", 2)
    assert await conn.push([adj(obs["A"], 9)], "k-1") == [Applied()]
    assert sim.quantity("A") == 7


async def test_a_failed_attempt_under_a_key_asks_for_a_new_key(clock):
    """IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED: nothing applied; resend under a new key."""
    sim, conn = make(clock, stock={"A": 5})
    obs = await pull(conn)
    sim.fail_writes = 1
    conn.client.retry = RetryPolicy(max_attempts=2, base=0.1, rng=random.Random(0))
    [result] = await conn.push([adj(obs["A"], 9)], "k-1")
    assert isinstance(result, NotApplied) and sim.quantity("A") == 5
    assert await conn.push([adj(obs["A"], 9)], "k-2") == [Applied()]


async def test_other_row_errors_are_rejections(clock):
    sim, conn = make(clock, stock={"A": 5, "B": 5})
    obs = await pull(conn)
    sim.item("B").mutable = False
    results = await conn.push([adj(obs["A"], 6), adj(obs["B"], 6)], "k-1")
    assert isinstance(results[0], NotApplied)
    assert isinstance(results[1], Rejected) and results[1].code == "NON_MUTABLE_INVENTORY_ITEM"


async def test_the_pull_paces_itself_and_is_never_throttled(clock):
    """3,000 levels = 12 pages of 754 points against a 2,000-point bucket refilling at
    100/s: no THROTTLED answer, and the wait is what the bucket needs, not more."""
    sim, conn = make(clock, n=3000)
    assert len(await pull(conn)) == 3000
    assert sim.throttled == 0
    pages = 12
    floor = (pages * PAGE_COST - 2000) / 100  # the points beyond a full bucket, at the restore rate
    assert floor * 0.8 <= clock.t <= floor * 1.2, clock.t


async def test_a_throttled_answer_is_waited_out(clock):
    sim, conn = make(clock, n=10, location_id=1001, bulk_threshold=None)
    sim.bucket.available = 100.0  # syncd does not know the bucket is low: its first request is refused
    assert len(await pull(conn)) == 10
    assert sim.throttled >= 1 and clock.t >= (PAGE_COST - 100) / 100 * 0.9


async def test_a_large_catalogue_is_pulled_by_a_bulk_operation(clock):
    """Over bulk_threshold: run, poll, download the JSONL — without the access token."""
    sim, conn = make(clock, n=1200, bulk_threshold=1000)
    seen: list[httpx.Request] = []
    conn.client.http.event_hooks["request"].append(lambda r: _note(seen, r))
    obs = await pull(conn)
    assert len(obs) == 1200 and obs["SKU-00008"].quantity == 1
    assert sim.requests["mutation bulkOperationRunQuery"] == 1
    assert sim.requests["query location"] == 1  # the primary-location lookup; no page was walked
    download = [r for r in seen if r.url.path.endswith(".jsonl")]
    assert len(download) == 1 and "x-shopify-access-token" not in download[0].headers


async def _note(seen: list[httpx.Request], request: httpx.Request) -> None:
    seen.append(request)


async def test_a_failed_bulk_operation_fails_the_pull(clock):
    from syncd.errors import TransientStoreError

    sim, conn = make(clock, n=20, bulk_threshold=10)
    sim.fail_bulk = True
    with pytest.raises(TransientStoreError):
        await pull(conn)


async def test_untracked_items_are_unlimited_and_reads_follow(clock):
    _, conn = make(clock, stock={"A": 3, "FREE": None})
    obs = await pull(conn)
    assert obs["FREE"].quantity is None and obs["A"].quantity == 3
    assert await conn.read([obs["A"].remote_id, obs["FREE"].remote_id, "gid://shopify/InventoryItem/1"]) == {
        obs["A"].remote_id: 3, obs["FREE"].remote_id: None}


# --- the simulator is as strict as Shopify ------------------------------------------------------

async def post(sim: ShopifySimulator, query: str, variables: dict[str, Any] | None = None,
               version: str = "2026-10") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url="https://x.myshopify.com", transport=httpx.ASGITransport(app=sim.app)) as h:
        r = await h.post(f"/admin/api/{version}/graphql.json", json={"query": query, "variables": variables or {}},
                         headers={"X-Shopify-Access-Token": TOKEN})
        return {"status": r.status_code, **r.json()}


SET = """mutation S($input: InventorySetQuantitiesInput!%s) { inventorySetQuantities(input: $input)%s {
  inventoryAdjustmentGroup { id } userErrors { field message code } } }"""


def row(**extra: Any) -> dict[str, Any]:
    return {"inventoryItemId": "gid://shopify/InventoryItem/100", "locationId": "gid://shopify/Location/1001",
            "quantity": 3, **extra}


@pytest.mark.parametrize(("query", "variables", "fragment"), [
    ("{ location { nope } }", None, "Cannot query field 'nope'"),
    ("{ location { inventoryLevels(first: 251) { nodes { id } } } }", None, "maximum page size"),
    ("{ location { inventoryLevels(first: 1, after: \"!!\") { nodes { id } } } }", None, "Invalid cursor"),
    ("{ inventoryItems(first: 250) { nodes { id inventoryLevel(locationId: \"gid://shopify/Location/1001\") "
     "{ item { id } quantities(names: [\"available\"]) { quantity } } } } }", None,
     "exceeds the single query max cost"),
    (SET % (", $key: String!", " @idempotent(key: $key)"),
     {"input": {"name": "available", "reason": "correction", "quantities": [row()]}, "key": "k"},
     "changeFromQuantity must be given"),
    (SET % ("", ""), {"input": {"name": "available", "reason": "correction",
                                "quantities": [row(changeFromQuantity=None)]}}, "@idempotent directive is required"),
    (SET % (", $key: String!", " @idempotent(key: $key)"),
     {"input": {"name": "available", "reason": "correction", "quantities": [row(compareQuantity=1)]}, "key": "k"},
     "compareQuantity"),
])
async def test_the_simulator_refuses_what_shopify_refuses(query, variables, fragment):
    sim = ShopifySimulator([ShItem(100, "A", 1)], token=TOKEN, clock=FakeClock())
    body = await post(sim, query, variables)
    assert body["status"] == 200 and fragment in str(body["errors"]), body
    assert sim.item("A").available == 1
    assert "throttleStatus" in body["extensions"]["cost"]


async def test_a_key_reused_with_other_variables_is_refused():
    sim = ShopifySimulator([ShItem(100, "A", 1)], token=TOKEN, clock=FakeClock())
    q = SET % (", $key: String!", " @idempotent(key: $key)")
    base = {"name": "available", "reason": "correction"}
    first = await post(sim, q, {"input": {**base, "quantities": [row(changeFromQuantity=1)]}, "key": "k"})
    assert first["data"]["inventorySetQuantities"]["userErrors"] == []
    again = await post(sim, q, {"input": {**base, "quantities": [row(quantity=5, changeFromQuantity=3)]}, "key": "k"})
    assert again["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"
    assert sim.item("A").available == 3


async def test_older_versions_use_compare_quantity():
    sim = ShopifySimulator([ShItem(100, "A", 1)], token=TOKEN, clock=FakeClock())
    q = SET % ("", "")
    body = await post(sim, q, {"input": {"name": "available", "reason": "correction",
                                         "quantities": [row(compareQuantity=2)]}}, version="2025-10")
    assert body["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "COMPARE_QUANTITY_STALE"
    assert (await post(sim, "{ location { id } }", version="2024-13"))["status"] == 404


def test_settings_default_base_url_and_version_floor():
    spec = spec_of("shopify")
    store = StoreSettings(name="s", platform="shopify", shop="demo.myshopify.com", token_env="T")
    assert spec.url_for(store) == "https://demo.myshopify.com" and store.api_version >= "2026-04"
    with pytest.raises(ValueError, match="2026-04 or later"):
        StoreSettings(name="s", platform="shopify", shop="demo.myshopify.com", token_env="T", api_version="2026-01")
    with pytest.raises(ValueError, match="shop"):
        StoreSettings(name="s", platform="shopify", token_env="T")
    with pytest.raises(ValueError, match="for shopify stores only"):
        StoreSettings(name="s", platform="squarespace", token_env="T", shop="demo.myshopify.com")
