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
from syncd.testing.shopify_state import BulkRun

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


# --- findings of issue 19 -------------------------------------------------------------------------

async def test_a_batch_already_at_its_targets_is_applied(clock):
    """A no-op inventorySetQuantities answers no adjustment group and no userErrors: the
    store holds the targets, so every row is Applied (not "another row refused", resent)."""
    sim, conn = make(clock, stock={"A": 5, "B": 3})
    obs = await pull(conn)
    assert await conn.push([adj(obs["A"], 5), adj(obs["B"], 3)], "k-1") == [Applied(), Applied()]
    assert sim.requests["mutation inventorySetQuantities"] == 1 and not sim.applied_keys
    assert await conn.push([adj(obs["A"], 5), adj(obs["B"], 3)], "k-1") == [Applied(), Applied()]  # replayed


async def test_a_negative_available_is_a_sale_not_bad_data(clock):
    """Orders outran stock: available below 0 is observed (DESIGN: negative counts)."""
    sim, conn = make(clock, stock={"A": 2, "B": 1})
    assert sim.sell("A", 5, oversell=True) == 5 and sim.quantity("A") == -3
    pages = [p async for p in conn.pull({})]
    assert [i for p in pages for i in p.issues] == []
    obs = {o.sku: o.quantity for p in pages for o in p.observations}
    assert obs == {"A": -3, "B": 1}
    assert await conn.read([f"gid://shopify/InventoryItem/{sim.item('A').id}"]) == {
        f"gid://shopify/InventoryItem/{sim.item('A').id}": -3}


async def test_a_refused_bulk_query_falls_back_to_paging_and_says_what_to_enable(clock):
    """Since 2026-11 a Partner Dashboard app without "Allow bulk queries" is refused
    bulkOperationRunQuery (ACCESS_DENIED): the pull pages instead and logs the setting."""
    from structlog.testing import capture_logs

    sim, conn = make(clock, n=1200, bulk_threshold=1000)
    sim.bulk_queries_allowed = False
    with capture_logs() as logs:
        assert len(await pull(conn)) == 1200
    [warning] = [e for e in logs if e["event"] == "shopify.bulk_refused"]
    assert "ACCESS_DENIED" in warning["reason"] and "Allow bulk queries" in warning["fix"]
    assert sim.requests["query location"] == 1 + 5  # the primary location, then 5 pages


@pytest.mark.parametrize("bulk", ["refused", "off"])
async def test_paging_that_cannot_read_everything_fails_loudly(clock, bulk):
    """Shopify pages a connection no further than 25,000 objects (here 500): rather than
    stop there silently, the pull fails and names the setting that would let it through."""
    from syncd.errors import PermanentStoreError

    sim, conn = make(clock, n=1200, bulk_threshold=1000 if bulk == "refused" else None)
    sim.bulk_queries_allowed = False
    sim.page_cap = conn.paged_max = 500
    with pytest.raises(PermanentStoreError, match="Allow bulk queries" if bulk == "refused" else "bulk_threshold"):
        await pull(conn)


async def test_the_simulator_refuses_to_page_past_the_cap(clock):
    sim, conn = make(clock, n=600, bulk_threshold=None)
    sim.page_cap = 500
    conn.paged_max = 10_000  # a connector that does not know the cap: Shopify's error fails the pull
    with pytest.raises(Exception, match="limited to 500 objects"):
        await pull(conn)


async def test_our_own_running_bulk_query_is_followed_not_duplicated(clock):
    """OPERATION_IN_PROGRESS for the very query syncd runs (a previous cycle's): poll it."""
    from syncd.connectors import shopify_bulk

    sim, conn = make(clock, n=30, bulk_threshold=10)
    sim.bulk_seconds = 30.0
    assert isinstance(await shopify_bulk.start(conn, await conn.location()), str)
    sim.bulk_concurrency = 1
    assert len(await pull(conn)) == 30
    assert len(sim.bulk_runs) == 1 and sim.requests["mutation bulkOperationRunQuery"] == 2


@pytest.mark.parametrize("refusal", ["OPERATION_IN_PROGRESS", "LIMIT_REACHED"])
async def test_a_busy_bulk_queue_pages_instead(clock, refusal):
    sim, conn = make(clock, n=30, bulk_threshold=10)
    if refusal == "LIMIT_REACHED":
        sim.bulk_limit_reached = True
    else:
        sim.bulk_seconds, sim.bulk_concurrency = 1e6, 1
        sim.bulk_runs[9] = BulkRun(9, "{ products { nodes { id } } }", [], clock.monotonic(), "", seconds=1e6)
    assert len(await pull(conn)) == 30
    assert sim.requests["query location"] == 2 and len(sim.bulk_runs) == (1 if refusal != "LIMIT_REACHED" else 0)


async def test_the_pull_waits_only_what_shopify_prices(clock):
    """Shopify prices connections below the linear 2 + first × node (its formula is not
    published): after the first answer the pull reserves what Shopify asked, not 754."""
    import math

    sim, conn = make(clock, n=3000, bulk_threshold=None)
    sim.connection_size = lambda n: math.log2(n + 1)  # ~8 × 3 + 3 = 28 points a page
    sim.bucket = type(sim.bucket)(1000.0, 50.0, 1000.0, clock.monotonic())
    assert len(await pull(conn)) == 3000  # the first page was priced at 754 (not known yet), then 28
    sim.bucket.available, started = 100.0, clock.t  # another app of the shop drained it
    assert len(await pull(conn)) == 3000
    floor = (12 * 28 - 100) / 50  # 12 pages of 28 points from 100, at 50 a second: what Shopify needs
    assert sim.throttled == 0 and floor * 0.9 <= clock.t - started <= floor * 1.2, clock.t - started


async def test_a_key_still_in_flight_is_an_unknown_outcome(clock):
    from syncd.connectors import UnknownOutcome

    sim, conn = make(clock, stock={"A": 5})
    obs = await pull(conn)
    sim.in_flight_keys.add("k-1")
    [result] = await conn.push([adj(obs["A"], 9)], "k-1")
    assert isinstance(result, UnknownOutcome) and sim.quantity("A") == 5


async def test_the_simulator_refuses_a_duplicate_row_and_stocks_anywhere_from_2026_10():
    sim = ShopifySimulator([ShItem(100, "A", 1), ShItem(101, "B", 0, stocked=False)], token=TOKEN, clock=FakeClock())
    q = SET % (", $key: String!", " @idempotent(key: $key)")
    base = {"name": "available", "reason": "correction"}
    body = await post(sim, q, {"input": {**base, "quantities": [row(changeFromQuantity=1), row(changeFromQuantity=1)]},
                               "key": "k1"})
    [error] = body["data"]["inventorySetQuantities"]["userErrors"]
    assert error["code"] == "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR" and error["field"][2] == "1"
    unstocked = row(inventoryItemId="gid://shopify/InventoryItem/101", changeFromQuantity=0)
    old = await post(sim, q, {"input": {**base, "quantities": [unstocked]}, "key": "k2"}, version="2026-07")
    assert old["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "ITEM_NOT_STOCKED_AT_LOCATION"
    new = await post(sim, q, {"input": {**base, "quantities": [unstocked]}, "key": "k3"})
    assert new["data"]["inventorySetQuantities"]["userErrors"] == [] and sim.item("B").stocked
    assert sim.item("B").available == 3
    noop = await post(sim, q, {"input": {**base, "quantities": [{**unstocked, "changeFromQuantity": 3}]}, "key": "k4"})
    assert noop["data"]["inventorySetQuantities"] == {"inventoryAdjustmentGroup": None, "userErrors": []}
