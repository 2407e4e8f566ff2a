"""One contract every connector + simulator pair must pass. Later platforms join by
adding a Harness below."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from syncd.config import StoreSettings
from syncd.connectors import Applied, Connector, Deferred, UnknownOutcome
from syncd.connectors.registry import spec_of
from syncd.core import (
    Adjustment,
    ConflictKind,
    ReadVerdict,
    judge_reread,
)
from syncd.errors import BadStoreData
from syncd.http import ApiClient, RetryPolicy, limiter_for
from syncd.testing import FakeClock
from syncd.testing.pool import Pool


@dataclass(frozen=True)
class Harness:
    """How to drive one platform's simulator in the contract tests."""

    platform: str
    options: dict[str, Any]
    list_path: str  # regex of the listing route
    next_page: str  # regex the query of a follow-up page matches
    write: tuple[str, str]  # method, path regex of a write
    throttle: dict[str, Any]  # a 429 as the platform sends it
    min_wait: float  # the least syncd must wait after that 429
    untracked_is_listed: bool = True
    list_method: str = "GET"
    list_match: str = "query"  # where next_page is looked for: "query" or "content" (the request body)
    list_content: str | None = None  # a pattern of the listing request's body (GraphQL: one path for all)
    write_content: str | None = None
    sim: dict[str, Any] | None = None  # simulator options (e.g. Wix's catalog version)

    def listing(self, *, follow_up: bool = False) -> dict[str, Any]:
        """Fault-rule arguments matching the listing requests (only follow-up pages)."""
        kw: dict[str, Any] = {"method": self.list_method, "path": self.list_path}
        if self.list_content:
            kw["content"] = self.list_content
        if follow_up:
            kw[self.list_match] = self.next_page if self.list_match == "query" else (
                (self.list_content or "") + ".*" + self.next_page)
        return kw

    def writes(self) -> dict[str, Any]:
        return {"method": self.write[0], "path": self.write[1], "content": self.write_content}


WIX_429 = {"status": 429, "body": {"message": "Too many requests", "details": {"applicationError": {
    "code": "RESOURCE_EXHAUSTED", "description": "Too many requests", "data": {}}}}}

HARNESSES = {
    "squarespace": Harness(
        "squarespace", {}, r"/1\.0/commerce/inventory", "cursor=",
        ("POST", r"/1\.0/commerce/inventory/adjustments"),
        {"status": 429, "body": {"type": "TOO_MANY_REQUESTS", "subtype": None, "message": "slow down",
                                 "details": None, "contextId": "C"}},
        60.0),
    "bigcommerce": Harness(
        "bigcommerce", {}, r".*/inventory/locations/\d+/items", "page=2",
        ("PUT", r".*/inventory/adjustments/absolute"),
        {"status": 429, "headers": {"X-Retry-After": "15", "X-Rate-Limit-Time-Reset-Ms": "15000"},
         "body": {"status": 429, "title": "Too many requests", "type": "x", "errors": {}}},
        15.0, untracked_is_listed=False),
    "bigcommerce-relative": Harness(
        "bigcommerce", {"write_mode": "relative"}, r".*/inventory/locations/\d+/items", "page=2",
        ("POST", r".*/inventory/adjustments/relative"),
        {"status": 429, "headers": {"X-Retry-After": "15"},
         "body": {"status": 429, "title": "Too many requests", "type": "x", "errors": {}}},
        15.0, untracked_is_listed=False),
    "saasignal": Harness(
        "saasignal", {}, r"/modules/commerce/inventory", "cursor=",
        ("PATCH", r"/modules/commerce/inventory/[^/]+"),
        {"status": 429, "headers": {"Retry-After": "2"},
         "body": {"code": "rate_limited", "message": "Rate limit exceeded. Retry after 2 seconds"}},
        2.0),
    "saasignal-relative": Harness(
        "saasignal", {"write_mode": "relative"}, r"/modules/commerce/inventory", "cursor=",
        ("POST", r"/modules/commerce/inventory/[^/]+/adjust"),
        {"status": 429, "headers": {"Retry-After": "2"},
         "body": {"code": "rate_limited", "message": "Rate limit exceeded. Retry after 2 seconds"}},
        2.0),
    "shopify": Harness(
        "shopify", {}, r"/admin/api/[^/]+/graphql\.json", r'"after": ?"',
        ("POST", r"/admin/api/[^/]+/graphql\.json"),
        {"status": 200, "body": {
            "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {"requestedQueryCost": 754, "actualQueryCost": None, "throttleStatus": {
                "maximumAvailable": 2000.0, "currentlyAvailable": 54.0, "restoreRate": 100.0}}}}},
        7.0, list_method="POST", list_match="content", list_content="SyncdLevels", write_content="SyncdSet"),
    "wix-v3": Harness(
        "wix", {"catalog": "v3"}, r"/stores/v3/inventory-items/query", r'"cursor"',
        ("POST", r"/stores/v3/bulk/inventory-items/update"), WIX_429, 60.0,
        list_method="POST", list_match="content"),
    "wix-v3-auto": Harness(
        "wix", {}, r"/stores/v3/inventory-items/query", r'"cursor"',
        ("POST", r"/stores/v3/bulk/inventory-items/update"), WIX_429, 60.0,
        list_method="POST", list_match="content"),
    "wix-v1": Harness(
        "wix", {"catalog": "v1"}, r"/stores-reader/v2/inventoryItems/query", r'numericId.*\$gt',
        ("PATCH", r"/stores/v2/inventoryItems/product/[^/]+"), WIX_429, 60.0,
        list_method="POST", list_match="content", sim={"catalog": "V1_CATALOG"}),
    "wix-v1-relative": Harness(
        "wix", {"catalog": "v1", "write_mode": "relative"}, r"/stores-reader/v2/inventoryItems/query",
        r'numericId.*\$gt', ("POST", r"/stores/v2/inventoryItems/(in|de)crement"), WIX_429, 60.0,
        list_method="POST", list_match="content", sim={"catalog": "V1_CATALOG"}),
}

BIG = {f"SKU-{i:04d}": i % 9 for i in range(1, 1201)}  # several pages on every platform


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest) -> Harness:
    return HARNESSES[request.param]


Make = Callable[[dict[str, int | None]], tuple[Any, Connector]]


@pytest.fixture
def make(harness: Harness, clock: FakeClock) -> Make:
    def build(stock: dict[str, int | None]) -> tuple[Any, Connector]:
        pool = Pool({"s": (harness.platform, stock)}, clock=clock, sim_options={"s": harness.sim or {}})
        sim = pool["s"]
        store = StoreSettings(**{**pool.store_settings("s"), **harness.options})
        spec = spec_of(store.platform)
        caps = spec.capabilities(store)
        base = "https://api.bigcommerce.com" if store.platform == "bigcommerce" else "https://store.test"
        http = httpx.AsyncClient(base_url=base, transport=httpx.ASGITransport(app=sim.app))
        limiter = limiter_for(caps.requests_per_minute, clock, caps.limit_window)
        client = ApiClient("s", http, clock=clock, limiter=limiter,
                           retry=RetryPolicy(max_attempts=4, base=0.1, rng=random.Random(0)),
                           classify=spec.classify, pace=spec.pace, retry_after_429=spec.retry_after_429)
        return sim, spec.build(store, client, sim.token, caps)

    return build


async def pull(conn: Connector) -> tuple[list, list]:
    obs, issues = [], []
    async for page in conn.pull({}):
        obs.extend(page.observations)
        issues.extend(page.issues)
    return obs, issues


async def test_pages_to_exhaustion(make):
    """Every item of a multi-page catalogue, each once, with its quantity."""
    _, conn = make(BIG)
    obs, issues = await pull(conn)
    assert {o.sku: o.quantity for o in obs} == BIG and issues == []


async def test_resumes_after_a_transient_error_mid_pagination(make, harness):
    """A 500 on a follow-up page is retried; the pull still completes."""
    sim, conn = make(BIG)
    rule = sim.faults.add(action="status", status=500, **harness.listing(follow_up=True))
    obs, _ = await pull(conn)
    assert rule.fired == 1 and len(obs) == len(BIG)


async def test_a_malformed_page_fails_the_pull(make, harness):
    """A truncated body is BadStoreData (the cycle then leaves this store out)."""
    sim, conn = make(BIG)
    sim.faults.add(action="malformed", **harness.listing())
    with pytest.raises(BadStoreData):
        await pull(conn)


async def test_429_is_waited_out_as_the_platform_says(make, harness, clock):
    """The platform's own 429 (headers and body) is honoured, then the pull goes on."""
    sim, conn = make({"A": 1, "B": 2})
    sim.faults.add(action="status", **harness.listing(), **harness.throttle)
    obs, _ = await pull(conn)
    assert len(obs) == 2 and clock.t >= harness.min_wait


async def test_a_429_storm_is_ridden_out_and_a_longer_one_fails_cleanly(make, harness, clock):
    """429s in a row are waited out (two: Squarespace's one-minute cool-downs fill the
    retry policy's 180 s budget); more than the budget fails the pull with a transient
    store error (the cycle leaves the store out), never a crash."""
    from syncd.errors import TransientStoreError

    sim, conn = make({"A": 1})
    sim.faults.add(action="status", times=2, **harness.listing(), **harness.throttle)
    obs, _ = await pull(conn)
    assert len(obs) == 1 and clock.t >= 2 * harness.min_wait
    sim.faults.add(action="status", times=50, **harness.listing(), **harness.throttle)
    with pytest.raises(TransientStoreError):
        await pull(conn)


def adjustment(conn: Connector, obs: Any, target: int) -> Adjustment:
    return Adjustment("s", obs.sku, obs.remote_id, obs.quantity, target,
                      conn.capabilities.strategy.mode)


@pytest.mark.parametrize("fault", ["after", "reset_after", "timeout_after"])
async def test_a_write_is_applied_exactly_once_across_a_retry(make, harness, fault):
    """The store applies the write and then answers 500, drops the connection, or hangs
    past the timeout: syncd either resends under the same key (replayed, not reapplied)
    or does not resend and settles by re-reading."""
    sim, conn = make({"A": 5, "B": 5})
    obs = {o.sku: o for o in (await pull(conn))[0]}
    sim.faults.add(action=fault, status=500, **harness.writes())
    adj = adjustment(conn, obs["A"], 2)
    [result] = await conn.push([adj], "key-0001")
    if isinstance(result, UnknownOutcome):
        assert judge_reread(adj, (await conn.read([adj.remote_id]))[adj.remote_id]) is ReadVerdict.APPLIED
    else:
        assert result == Applied()
    assert sim.quantity("A") == 2  # a second application would show -1 or fail


async def test_a_write_waits_when_the_store_changed_since_the_pull(make):
    """Keyless absolute writes check a fresh read first; relative ones keep the sale."""
    sim, conn = make({"A": 5})
    [obs] = (await pull(conn))[0]
    sim.sell("A", 1)
    [result] = await conn.push([adjustment(conn, obs, 3)], "key-0002")
    if isinstance(result, Deferred):
        assert sim.quantity("A") == 4 and result.observed in (4, None)
    else:
        assert result == Applied() and sim.quantity("A") == 2  # 5 − 1 − 2: the sale survives


async def test_unlimited_items_are_reported_as_such(make, harness):
    """Untracked stock is None (unlimited), or — where the API hides it — not listed."""
    _, conn = make({"A": 3, "FREE": None})
    obs = {o.sku: o.quantity for o in (await pull(conn))[0]}
    assert obs == ({"A": 3, "FREE": None} if harness.untracked_is_listed else {"A": 3})


async def test_duplicate_and_blank_skus_surface_as_conflicts(make):
    """Two items with one SKU reach the core as two observations (→ duplicate_sku);
    an item with no SKU is an unmapped issue."""
    from syncd.core import InitialPolicy, Policy, StorePolicy, StorePull, plan_cycle
    from syncd.core.model import Snapshot

    sim, conn = make({"A": 1, "B": 2, "C": 3})
    _set_sku(sim, "B", "A")
    _set_sku(sim, "C", None)
    obs, issues = await pull(conn)
    assert [i.kind for i in issues] == [ConflictKind.UNMAPPED]
    plan = plan_cycle(Snapshot({}, {}), [StorePull("s", tuple(obs), tuple(issues))],
                      Policy({"s": StorePolicy()}, InitialPolicy.MIN))
    assert sorted(c.kind for c in plan.conflicts) == [ConflictKind.DUPLICATE_SKU, ConflictKind.UNMAPPED]


def _set_sku(sim: Any, old: str, new: str | None) -> None:
    for attr in ("variants", "items", "records"):
        for item in getattr(sim, attr, {}).values():
            if item.sku == old:
                item.sku = new
                return
    raise AssertionError(old)
