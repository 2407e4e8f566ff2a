"""Wix connector on both catalogs, and the simulator's strictness."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from syncd.config import StoreSettings
from syncd.connectors import Applied, Deferred
from syncd.connectors.registry import spec_of
from syncd.core import Adjustment, WriteMode
from syncd.errors import BadStoreData, PermanentStoreError
from syncd.http import ApiClient, RetryPolicy, limiter_for
from syncd.testing import FakeClock
from syncd.testing.pool import Pool


def make(clock: FakeClock, stock: dict[str, int | None], site_catalog: str = "V3_CATALOG",
         **options: Any) -> tuple[Any, Any]:
    pool = Pool({"w": ("wix", stock)}, clock=clock, sim_options={"w": {"catalog": site_catalog}})
    sim = pool["w"]
    store = StoreSettings(**{**pool.store_settings("w"), **options})
    spec = spec_of("wix")
    caps = spec.capabilities(store)
    http = httpx.AsyncClient(base_url="https://www.wixapis.com", transport=httpx.ASGITransport(app=sim.app))
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


async def test_v3_a_stale_revision_fails_only_its_row(clock):
    """The bulk update is not atomic: the sold item is refused (stale revision, waits for
    the next pull), the others are applied in the same request."""
    sim, conn = make(clock, {"A": 5, "B": 5, "C": 5})
    obs = await pull(conn)
    sim.sell("B", 1)
    results = await conn.push([adj(obs[s], 9) for s in "ABC"], "k")
    assert results[0] == Applied() and results[2] == Applied()
    assert isinstance(results[1], Deferred) and results[1].refused.startswith("INVALID_REVISION")
    assert [sim.quantity(s) for s in "ABC"] == [9, 4, 9]
    assert sim.requests["POST /stores/v3/bulk/inventory-items/update"] == 1


async def test_v3_in_stock_tracking_is_unlimited_and_negative_stock_is_bad_data(clock):
    sim, conn = make(clock, {"A": 3, "FREE": None, "NEG": 1})
    sim.item("NEG").quantity = -2
    issues = []
    obs = {}
    async for page in conn.pull({}):
        obs.update({o.sku: o.quantity for o in page.observations})
        issues.extend(page.issues)
    assert obs == {"A": 3, "FREE": None} and [i.sku for i in issues] == ["NEG"]


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
    assert first.json()["pagingMetadata"]["hasNext"] is True
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
