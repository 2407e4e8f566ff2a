"""Wix connector on both catalogs, and the simulator's strictness."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from syncd.config import StoreSettings
from syncd.connectors import Applied, Deferred, Rejected
from syncd.connectors.registry import spec_of
from syncd.core import Adjustment, ConflictKind, WriteMode
from syncd.errors import BadStoreData, PermanentStoreError
from syncd.http import ApiClient, RetryPolicy, limiter_for
from syncd.testing import FakeClock
from syncd.testing.pool import Pool


def make(clock: FakeClock, stock: dict[str, int | None], site_catalog: str = "V3_CATALOG",
         wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] = lambda t: t,
         **options: Any) -> tuple[Any, Any]:
    """A simulated site and a connector to it (``wrap``: around the transport, to watch it)."""
    pool = Pool({"w": ("wix", stock)}, clock=clock, sim_options={"w": {"catalog": site_catalog}})
    sim = pool["w"]
    store = StoreSettings(**{**pool.store_settings("w"), **options})
    spec = spec_of("wix")
    caps = spec.capabilities(store)
    http = httpx.AsyncClient(base_url="https://www.wixapis.com", transport=wrap(httpx.ASGITransport(app=sim.app)))
    client = ApiClient("w", http, clock=clock, limiter=limiter_for(caps.requests_per_minute, clock, caps.limit_window),
                       retry=RetryPolicy(max_attempts=3, base=0.1, rng=random.Random(0)),
                       classify=spec.classify, retry_after_429=spec.retry_after_429)
    return sim, spec.build(store, client, sim.token, caps)


async def pull(conn: Any) -> dict[str, Any]:
    out = {}
    async for page in conn.pull({}):
        out.update({o.sku: o for o in page.observations})
    return out


def adj(obs: Any, target: int, mode: WriteMode = WriteMode.ABSOLUTE) -> Adjustment:
    return Adjustment("w", obs.sku, obs.remote_id, obs.quantity, target, mode)


async def test_v1_crawls_past_the_offset_limit_and_stays_under_the_rate_limit(clock):
    """10,250 products: offset paging would stop at 10,000; the numericId crawl does not.
    206 requests, paced by a sliding window of 200 a minute: the first 200 at once, the
    rest a minute later, and no 429 from the simulator's 200-a-minute limit."""
    stock = {f"SKU-{i:05d}": i % 5 for i in range(10_250)}
    sim, conn = make(clock, stock, "V1_CATALOG", catalog="v1")
    obs = await pull(conn)
    assert {s: o.quantity for s, o in obs.items()} == stock
    assert sim.requests["POST /stores-reader/v2/inventoryItems/query"] == 103
    assert sim.throttled == 0 and clock.t > 60  # it paced itself, and was never refused
    assert clock.t < 60 * 1.02 + 5  # one window's wait: the floor, not 206/200 minutes


async def test_v1_absolute_writes_after_a_fresh_read_and_relative_keeps_a_late_sale(clock):
    sim, conn = make(clock, {"A": 5, "B": 5}, "V1_CATALOG", catalog="v1")
    obs = await pull(conn)
    sim.sell("B", 1)
    assert await conn.push([adj(obs["A"], 8), adj(obs["B"], 8)], "k") == [Applied(), Deferred(4)]
    assert (sim.quantity("A"), sim.quantity("B")) == (8, 4)
    sim, conn = make(clock, {"A": 5, "B": 5}, "V1_CATALOG", catalog="v1", write_mode="relative")
    obs = await pull(conn)
    sim.sell("B", 1)
    rel = WriteMode.RELATIVE
    assert await conn.push([adj(obs["A"], 8, rel), adj(obs["B"], 2, rel)], "k") == [Applied(), Applied()]
    assert (sim.quantity("A"), sim.quantity("B")) == (8, 1)  # 5 − 1 (the late sale) − 3


@pytest.mark.parametrize("code", ["REVISION_MISMATCH", "INVALID_REVISION", "WHATEVER"])
async def test_v3_a_stale_revision_fails_only_its_row_whatever_its_code(clock, code):
    """The bulk update is not atomic: the sold item is refused (stale, waits for the next
    pull), the others are applied in the same request. Stale is judged from a re-read of
    the failed row (its revision moved), not from the code, which the typings do not name."""
    sim, conn = make(clock, {"A": 5, "B": 5, "C": 5})
    sim.stale_code = code
    obs = await pull(conn)
    sim.sell("B", 1)
    results = await conn.push([adj(obs[s], 9) for s in "ABC"], "k")
    assert results[0] == Applied() and results[2] == Applied()
    assert results[1] == Deferred(4, refused=f"{code}: the item changed since this revision was read")
    assert [sim.quantity(s) for s in "ABC"] == [9, 4, 9]
    assert sim.requests["POST /stores/v3/bulk/inventory-items/update"] == 1


async def test_v3_a_failed_row_whose_item_did_not_move_is_rejected_even_if_it_says_invalid_revision(clock):
    sim, conn = make(clock, {"A": 5, "B": 5})
    obs = await pull(conn)
    sim.row_errors[sim.item("B").id] = "INVALID_REVISION"
    results = await conn.push([adj(obs[s], 9) for s in "AB"], "k")
    assert results[0] == Applied()
    assert isinstance(results[1], Rejected) and results[1].code == "INVALID_REVISION"
    assert [sim.quantity(s) for s in "AB"] == [9, 5]


async def test_v3_reads_every_page_though_the_answer_has_no_has_next(clock):
    """1,257 items: pages of 1,000 follow ``cursors.next`` (Query Inventory Items answers
    ``{count, cursors}``, no ``hasNext``); the second page is not lost."""
    stock = {f"SKU-{i:05d}": i % 7 for i in range(1257)}
    sim, conn = make(clock, stock)
    obs = await pull(conn)
    assert {s: o.quantity for s, o in obs.items()} == stock
    assert sim.requests["POST /stores/v3/inventory-items/query"] == 2


async def test_v3_negative_counts_are_observations_and_targets_stay_in_wix_range(clock):
    """Paid orders drive a V3 count below 0: that is a sale, observed as it is. A target
    above Wix's 99,999 is refused before sending (never clamped: a clamped write confirmed
    as the target would count the difference as a sale next pull)."""
    sim, conn = make(clock, {"A": 3, "FREE": None, "NEG": 1, "BIG": 5})
    sim.paid_order("NEG", 3)
    issues = []
    obs = {}
    async for page in conn.pull({}):
        obs.update({o.sku: o for o in page.observations})
        issues.extend(page.issues)
    assert {s: o.quantity for s, o in obs.items()} == {"A": 3, "FREE": None, "NEG": -2, "BIG": 5} and not issues
    results = await conn.push([adj(obs["NEG"], 0), adj(obs["BIG"], 100_000)], "k")
    assert results[0] == Applied() and sim.quantity("NEG") == 0
    assert isinstance(results[1], Rejected) and results[1].code == "QUANTITY_ABOVE_WIX_LIMIT"
    assert sim.quantity("BIG") == 5 and sim.requests["POST /stores/v3/bulk/inventory-items/update"] == 1
    sim.item("A").quantity = -100_000  # beyond what Wix holds: bad data, not a count
    issues = [i async for page in conn.pull({}) for i in page.issues]
    assert [(i.sku, i.kind) for i in issues] == [("A", ConflictKind.BAD_DATA)]


async def test_v1_absolute_write_keeps_quantity_tracking_on_for_the_whole_product(clock):
    """Wix takes a PATCH without ``trackQuantity`` as false, for ALL the product's variants:
    purchases would stop decrementing. syncd sends it; a sale after the write still counts."""
    sim, conn = make(clock, {"A": 5, "B": 5}, "V1_CATALOG", catalog="v1")
    sim.item("B").product_id = sim.item("A").product_id
    sim.item("B").variant_id = "00000000-0000-0001-0005-9ccb19c4e6f0"
    obs = await pull(conn)
    assert await conn.push([adj(obs["A"], 8)], "k") == [Applied()]
    assert sim.item("A").tracked and sim.item("B").tracked
    assert sim.sell("A", 1) == 1 and sim.sell("B", 2) == 2
    assert {s: o.quantity for s, o in (await pull(conn)).items()} == {"A": 7, "B": 3}


async def test_v1_targets_above_wix_range_are_refused_not_sent(clock):
    for mode in ("absolute", "relative"):
        sim, conn = make(clock, {"A": 5}, "V1_CATALOG", catalog="v1", write_mode=mode)
        obs = await pull(conn)
        wm = WriteMode.RELATIVE if mode == "relative" else WriteMode.ABSOLUTE
        [result] = await conn.push([adj(obs["A"], 100_000, wm)], "k")
        assert isinstance(result, Rejected) and result.code == "QUANTITY_ABOVE_WIX_LIMIT"
        assert sim.quantity("A") == 5 and not any(k.startswith(("PATCH", "POST /stores/v2")) for k in sim.requests)


async def test_v1_skus_of_hidden_products_are_mapped(clock):
    """The products query leaves hidden / draft products out unless asked: their variants
    would stay unmapped for ever."""
    sim, conn = make(clock, {"A": 5, "HID": 2}, "V1_CATALOG", catalog="v1")
    sim.item("HID").hidden = True
    issues = []
    obs = {}
    async for page in conn.pull({}):
        obs.update({o.sku: o.quantity for o in page.observations})
        issues.extend(page.issues)
    assert obs == {"A": 5, "HID": 2} and not issues


async def test_v3_needs_a_location_when_stock_is_kept_at_several(clock):
    sim, conn = make(clock, {"A": 3, "B": 4})
    sim.item("B").location_id = "other-location"
    with pytest.raises(BadStoreData, match="location_id"):
        await pull(conn)
    sim, conn = make(clock, {"A": 3, "B": 4}, location_id="d85fbb4d-e415-49b1-98bc-9d22ec338cb1")
    sim.item("B").location_id = "other-location"
    assert set(await pull(conn)) == {"A"}  # only the configured location's stock


async def test_auto_detection_and_its_errors(clock):
    _, conn = make(clock, {"A": 1}, "V1_CATALOG")
    assert set(await pull(conn)) == {"A"} and conn.version == "v1"
    _, conn = make(clock, {"A": 1}, "STORES_NOT_INSTALLED")
    with pytest.raises(PermanentStoreError, match="not installed"):
        await pull(conn)
    _, conn = make(clock, {"A": 1}, "V3_CATALOG", catalog="v1")  # configured wrong
    with pytest.raises(PermanentStoreError, match="CATALOG_VERSION_MISMATCH"):
        await pull(conn)


@pytest.mark.parametrize(("path", "body", "fragment"), [
    ("/stores-reader/v2/inventoryItems/query", {"query": {"paging": {"limit": 100, "offset": 9950}}},
     "offset paging stops"),
    ("/stores-reader/v2/inventoryItems/query", {"query": {"filter": {"numericId": {"$gt": 1}}}},
     "JSON-encoded string"),
    ("/stores-reader/v2/inventoryItems/query", {"query": {"paging": {"limit": 101}}}, "limit must be 1 to 100"),
    ("/stores/v2/inventoryItems/increment", {"incrementData": [{"productId": "x", "variantId": "y",
                                                                "incrementBy": 1}] * 301}, "1 to 300"),
])
async def test_the_v1_simulator_refuses_what_wix_refuses(path, body, fragment):
    pool = Pool({"w": ("wix", {"A": 1})}, clock=FakeClock(), sim_options={"w": {"catalog": "V1_CATALOG"}})
    sim = pool["w"]
    async with httpx.AsyncClient(base_url="https://www.wixapis.com", transport=httpx.ASGITransport(app=sim.app)) as h:
        r = await h.post(path, json=body, headers={"Authorization": sim.token, "wix-site-id": sim.site_id})
    assert r.status_code == 400 and fragment in r.text


async def test_the_v3_simulator_limits_and_cursor_rules():
    pool = Pool({"w": ("wix", {f"S{i}": 1 for i in range(3)})}, clock=FakeClock(),
                sim_options={"w": {"rate_limit_per_minute": 3}})
    sim = pool["w"]
    headers = {"Authorization": f"Bearer {sim.token}", "wix-site-id": sim.site_id}
    async with httpx.AsyncClient(base_url="https://www.wixapis.com", transport=httpx.ASGITransport(app=sim.app)) as h:
        first = await h.post("/stores/v3/inventory-items/query", json={"query": {"cursorPaging": {"limit": 2}}},
                             headers=headers)
        cursor = first.json()["pagingMetadata"]["cursors"]["next"]
        mixed = await h.post("/stores/v3/inventory-items/query", headers=headers, json={"query": {
            "cursorPaging": {"limit": 2, "cursor": cursor}, "filter": {"productId": {"$in": ["x"]}}}})
        big = await h.post("/stores/v3/inventory-items/query", headers=headers,
                           json={"query": {"cursorPaging": {"limit": 1001}}})
        limited = await h.post("/stores/v3/inventory-items/query", headers=headers, json={"query": {}})
    assert "hasNext" not in first.json()["pagingMetadata"] and cursor
    assert mixed.status_code == 400 and "only cursorPaging" in mixed.text
    assert big.status_code == 400 and "limit must be 1 to 1000" in big.text
    assert limited.status_code == 429 and sim.throttled == 1
    assert limited.json()["details"]["applicationError"]["code"] == "RESOURCE_EXHAUSTED"


def test_settings():
    with pytest.raises(ValueError, match="site_id"):
        StoreSettings(name="w", platform="wix", token_env="T")
    with pytest.raises(ValueError, match="Catalog V1 only"):
        StoreSettings(name="w", platform="wix", token_env="T", site_id="s", write_mode="relative")
    with pytest.raises(ValueError, match="GUID"):
        StoreSettings(name="w", platform="wix", token_env="T", site_id="s", location_id=5)
    store = StoreSettings(name="w", platform="wix", token_env="T", site_id="s")
    assert store.catalog == "auto" and spec_of("wix").url_for(store) == "https://www.wixapis.com"


async def _raw(sim: Any, method: str, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url="https://www.wixapis.com", transport=httpx.ASGITransport(app=sim.app)) as h:
        return await h.request(method, path, json=body, headers={"Authorization": sim.token,
                                                                  "wix-site-id": sim.site_id})


async def test_the_v1_simulator_follows_the_typings_traps():
    """A PATCH without trackQuantity switches tracking off for the whole product; the
    products query leaves hidden products out unless includeHiddenProducts; 99,999 at most."""
    pool = Pool({"w": ("wix", {"A": 1, "B": 2, "H": 3})}, clock=FakeClock(),
                sim_options={"w": {"catalog": "V1_CATALOG"}})
    sim = pool["w"]
    sim.item("B").product_id = sim.item("A").product_id
    sim.item("B").variant_id = "00000000-0000-0001-0005-9ccb19c4e6f0"
    sim.item("H").hidden = True
    pid = sim.item("A").product_id
    r = await _raw(sim, "PATCH", f"/stores/v2/inventoryItems/product/{pid}",
                   {"inventoryItem": {"variants": [{"variantId": sim.item("A").variant_id, "quantity": 4}]}})
    assert r.status_code == 200 and not sim.item("A").tracked and not sim.item("B").tracked
    assert sim.sell("B", 1) == 1 and sim.quantity("B") == 2  # purchases no longer decrement
    r = await _raw(sim, "PATCH", f"/stores/v2/inventoryItems/product/{pid}", {"inventoryItem": {
        "trackQuantity": True, "variants": [{"variantId": sim.item("A").variant_id, "quantity": 100_000}]}})
    assert r.status_code == 400 and "99999" in r.text
    ids = [sim.item(s).product_id for s in "AH"]
    query = {"query": {"filter": json.dumps({"id": {"$hasSome": ids}})}, "includeVariants": True}
    found = (await _raw(sim, "POST", "/stores-reader/v1/products/query", query)).json()["products"]
    assert [p["id"] for p in found] == [ids[0]]
    found = (await _raw(sim, "POST", "/stores-reader/v1/products/query",
                        {**query, "includeHiddenProducts": True})).json()["products"]
    assert sorted(p["id"] for p in found) == sorted(ids)


async def test_the_v3_simulator_keeps_the_documented_range_and_paid_orders_go_negative():
    pool = Pool({"w": ("wix", {"A": 2})}, clock=FakeClock())
    sim = pool["w"]
    sim.paid_order("A", 5)
    assert sim.quantity("A") == -3
    item = sim.item("A")
    for quantity in (100_000, -100_000):
        r = await _raw(sim, "POST", "/stores/v3/bulk/inventory-items/update", {"inventoryItems": [
            {"inventoryItem": {"id": item.id, "revision": str(item.revision), "quantity": quantity}}]})
        assert r.status_code == 400 and "inventoryItems[0].inventoryItem.quantity" in r.text
    empty = await _raw(sim, "POST", "/stores/v3/inventory-items/query",
                       {"query": {"filter": {"locationId": {"$eq": "elsewhere"}}}})
    assert empty.json() == {"pagingMetadata": {"count": 0, "cursors": {"next": None, "prev": None}}}
