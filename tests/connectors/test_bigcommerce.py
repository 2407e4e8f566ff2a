"""The BigCommerce connector against its simulator, every exchange checked against
BigCommerce's own OpenAPI files."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from syncd.connectors import Applied, Deferred, Rejected
from syncd.connectors.bigcommerce import PARALLEL_PAGES, BigCommerceConnector, capabilities, pace
from syncd.core import Adjustment, ConflictKind, WriteMode
from syncd.errors import BadStoreData
from syncd.http import ApiClient, RateLimiter, RetryPolicy
from syncd.testing import FakeClock
from syncd.testing.bigcommerce_sim import BcItem, BigCommerceSimulator
from tests.support.openapi import ValidatingTransport

SPECS = [(r"/inventory/locations$", "locations.v3.yml"), (r".", "inventory.v3.yml")]


def make(sim: BigCommerceSimulator, clock: FakeClock, *, write_mode: str = "absolute",
         location_id: int | None = None, per_minute: int = 300,
         wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
         ) -> tuple[BigCommerceConnector, ValidatingTransport]:
    transport = ValidatingTransport(httpx.ASGITransport(app=sim.app), SPECS)
    http = httpx.AsyncClient(base_url="https://api.bigcommerce.com",
                             transport=wrap(transport) if wrap else transport)
    client = ApiClient("bc", http, clock=clock, limiter=RateLimiter(per_minute, clock),
                       retry=RetryPolicy(max_attempts=4, base=0.1, rng=random.Random(0)), pace=pace,
                       retry_after_429=30.0)
    conn = BigCommerceConnector("bc", client, sim.token, store_hash=sim.store_hash, location_id=location_id,
                                caps=capabilities(write_mode, timedelta(seconds=5)))
    return conn, transport


def catalogue(n: int) -> list[BcItem]:
    return [BcItem(product_id=1000 + i // 3, variant_id=i + 1, sku=f"SKU-{i:05d}", onhand=i % 17) for i in range(n)]


async def pull_all(conn: BigCommerceConnector) -> tuple[list, list]:
    obs, issues = [], []
    async for page in conn.pull({}):
        obs.extend(page.observations)
        issues.extend(page.issues)
    return obs, issues


def adj(ref: str, before: int, target: int, mode: WriteMode = WriteMode.ABSOLUTE) -> Adjustment:
    return Adjustment("bc", ref.upper(), ref, before, target, mode)


async def test_pull_walks_every_page_at_the_largest_size_and_matches_the_spec(clock):
    """2,500 items: the default location is looked up once, 3 pages of ≤ 1,000; all valid."""
    sim = BigCommerceSimulator(catalogue(2500), clock=clock)
    conn, transport = make(sim, clock)
    obs, issues = await pull_all(conn)
    assert len(obs) == 2500 and issues == []
    assert obs[0].remote_id == "v1" and obs[0].quantity == 0
    assert sim.requests["GET /inventory/locations/1/items"] == 3
    assert sim.requests["GET /inventory/locations"] == 1
    assert transport.errors == [] and transport.checked == 4


class PagesInFlight(httpx.AsyncBaseTransport):
    """Counts the pull's page requests in flight at once; ``on_page`` runs as each is sent."""

    def __init__(self, inner: httpx.AsyncBaseTransport, on_page: Callable[[int], None] | None = None) -> None:
        self.inner, self.on_page = inner, on_page
        self.now = self.most = 0
        self.pages: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        page = request.url.params.get("page")
        if not request.url.path.endswith("/items") or page is None:
            return await self.inner.handle_async_request(request)
        self.now += 1
        self.most = max(self.most, self.now)
        self.pages.append(int(page))
        try:
            await asyncio.sleep(0)  # the others get to send theirs
            if self.on_page is not None:
                self.on_page(int(page))
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1


async def test_pages_after_the_first_are_fetched_several_at_once_and_yielded_in_order(clock):
    """6 pages: page 1 gives total_pages, then up to PARALLEL_PAGES are in flight at once;
    the items come out in the store's order, each page requested once, all valid."""
    sim = BigCommerceSimulator(catalogue(5500), clock=clock)
    flight: list[PagesInFlight] = []
    conn, transport = make(sim, clock, location_id=1, per_minute=6000,
                           wrap=lambda t: flight.append(PagesInFlight(t)) or flight[0])
    obs, _ = await pull_all(conn)
    assert [o.remote_id for o in obs] == [ref for ref, _ in sorted(sim.items.items())]
    assert sorted(flight[0].pages) == [1, 2, 3, 4, 5, 6] and flight[0].pages[0] == 1
    assert flight[0].most == PARALLEL_PAGES == 4
    assert transport.errors == [] and sim.requests["GET /inventory/locations/1/items"] == 6


@pytest.mark.parametrize("fault", ["total moves", "page refused"])
async def test_a_parallel_pull_that_fails_leaves_no_request_behind(clock, fault):
    """The inventory growing under the scan (total moves) or a page failing ends the pull
    with BadStoreData, and the pages still in flight are cancelled, not left running."""
    sim = BigCommerceSimulator(catalogue(5500), clock=clock)

    def on_page(page: int) -> None:
        if page == 3 and fault == "total moves":
            sim.items["v99999"] = BcItem(product_id=99999, variant_id=99999, sku="NEW", onhand=1)

    if fault == "page refused":
        sim.faults.add("GET", r".*/items", "status", status=200, body={"data": []}, query=r"(^|&)page=3(&|$)")
    flight: list[PagesInFlight] = []
    conn, _ = make(sim, clock, location_id=1, per_minute=6000,
                   wrap=lambda t: flight.append(PagesInFlight(t, on_page)) or flight[0])
    with pytest.raises(BadStoreData, match="total moved" if fault == "total moves" else r"meta\.pagination"):
        await pull_all(conn)
    assert flight[0].now == 0 and max(flight[0].pages) < 6
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_product_level_items_blank_skus_and_bad_counts(clock):
    """Tracked by product → p<id>; no SKU → unmapped; untracked products are not listed."""
    sim = BigCommerceSimulator([BcItem(7, None, "BY-PRODUCT", 4), BcItem(8, 80, None, 1),
                                BcItem(9, 90, "UNTRACKED", 0, tracked=False)], clock=clock)
    conn, transport = make(sim, clock, location_id=1)
    obs, issues = await pull_all(conn)
    assert [(o.remote_id, o.sku, o.quantity) for o in obs] == [("p7", "BY-PRODUCT", 4)]
    assert [(i.remote_id, i.kind) for i in issues] == [("v80", ConflictKind.UNMAPPED)]
    assert transport.errors == []


async def test_a_malformed_page_fails_the_pull(clock):
    """A page without meta.pagination is BadStoreData."""
    sim = BigCommerceSimulator(catalogue(5), clock=clock)
    sim.faults.add("GET", r".*/items", "status", status=200, body={"data": []})
    conn, _ = make(sim, clock, location_id=1)
    with pytest.raises(BadStoreData, match=r"meta\.pagination"):
        await pull_all(conn)


async def test_absolute_write_only_where_the_fresh_read_still_matches(clock):
    """A sale since the pull defers that item; the others are written absolutely."""
    sim = BigCommerceSimulator(catalogue(6), clock=clock)
    conn, transport = make(sim, clock)
    await pull_all(conn)
    sim.sell("SKU-00002", 1)  # v3: 2 → 1
    results = await conn.push([adj("v2", 1, 5), adj("v3", 2, 5)], "unused-key")
    assert results == [Applied(), Deferred(1)]
    assert sim.quantity("SKU-00001") == 5 and sim.quantity("SKU-00002") == 1
    assert sim.writes == [{"reason": "syncd stock sync", "items": [{"location_id": 1, "variant_id": 2, "quantity": 5}]}]
    assert transport.errors == []


async def test_writes_apply_asynchronously(clock):
    """The write is accepted at once and visible only after the store's delay."""
    sim = BigCommerceSimulator(catalogue(3), clock=clock, apply_delay=3)
    conn, _ = make(sim, clock)
    assert await conn.push([adj("v2", 1, 9)], "k") == [Applied()]
    assert (await conn.read(["v2"])) == {"v2": 1}
    clock.advance(3)
    assert (await conn.read(["v2"])) == {"v2": 9}


async def test_relative_mode_and_its_refusals(clock):
    """Relative writes carry the signed delta; 'absolute before relative' and the safety
    floor are 422s that refuse the whole batch (so the cycle splits it)."""
    sim = BigCommerceSimulator([BcItem(1, 1, "A", 5, safety_stock=2), BcItem(1, 2, "B", 5, has_absolute=False)],
                               clock=clock)
    conn, transport = make(sim, clock, write_mode="relative")
    assert await conn.push([adj("v1", 5, 3, WriteMode.RELATIVE)], "k") == [Applied()]
    assert sim.quantity("A") == 3
    floor = await conn.push([adj("v1", 3, 0, WriteMode.RELATIVE)], "k")
    assert isinstance(floor[0], Rejected) and floor[0].whole_batch and "Insufficient" in floor[0].message
    baseline = await conn.push([adj("v2", 5, 4, WriteMode.RELATIVE)], "k")
    assert isinstance(baseline[0], Rejected) and "requires absolute adjustment" in baseline[0].message
    assert sim.quantity("A") == 3 and sim.quantity("B") == 5
    assert transport.errors == []


async def test_tracked_by_product_is_written_by_product_id(clock):
    """A p<id> item is written with product_id, as the API requires."""
    sim = BigCommerceSimulator([BcItem(7, None, "BY-PRODUCT", 4)], clock=clock)
    conn, transport = make(sim, clock)
    assert await conn.push([adj("p7", 4, 6)], "k") == [Applied()]
    assert sim.quantity("BY-PRODUCT") == 6 and transport.errors == []


async def test_rate_headers_slow_syncd_down_before_a_429(clock):
    """With a 10-request quota per 30 s, a 12-page pull pauses at the window's end and
    never provokes a 429."""
    sim = BigCommerceSimulator(catalogue(12), clock=clock, quota=10)
    conn, _ = make(sim, clock, location_id=1)
    conn_pages = []
    loc = await conn.location()
    for page in range(1, 13):
        conn_pages.append(await conn._get(f"/inventory/locations/{loc}/items", {"page": page, "limit": 1}))
    assert conn.client.throttled == 0 and clock.t >= 30


async def test_a_429_waits_for_x_retry_after(clock):
    """A 429 is waited out (X-Retry-After) and retried."""
    sim = BigCommerceSimulator(catalogue(3), clock=clock)
    sim.faults.add("GET", r".*/items", "status", status=429, headers={"X-Retry-After": "15"},
                   body={"status": 429, "title": "Too many requests", "type": "x", "errors": {}})
    conn, _ = make(sim, clock, location_id=1)
    obs, _ = await pull_all(conn)
    assert len(obs) == 3 and clock.t >= 15 and conn.client.throttled == 1


def test_the_vendored_specs_are_the_shared_ones():
    """tests/data/bigcommerce holds verbatim copies of shared/stores/specs (checked when shared/ is beside)."""
    from pathlib import Path

    from tests.support.openapi import SPECS

    shared = Path(__file__).resolve().parents[3] / "shared" / "stores" / "specs"
    if not shared.is_dir():
        pytest.skip("shared/stores/specs is not beside this checkout")
    for name in ("inventory.v3.yml", "locations.v3.yml", "product-variants_catalog.v3.yml"):
        assert (SPECS / name).read_bytes() == (shared / name).read_bytes(), name


@pytest.mark.parametrize("write_mode", ["absolute", "relative"])
async def test_a_variant_whose_product_tracks_stock_is_written_by_product_id(clock, write_mode):
    """The product tracks stock itself but its item is listed with a variant id: the write
    by variant_id is refused whole (422, the spec's example), so that row is sent again at
    once by the product_id its identity carried; the next write goes by product_id directly.
    The refusal and both writes validate against inventory.v3.yml."""
    sim = BigCommerceSimulator([BcItem(7, 70, "BY-PRODUCT", 40, by_product=True), BcItem(8, 80, "PLAIN", 5)],
                               clock=clock)
    conn, transport = make(sim, clock, write_mode=write_mode)
    obs, _ = await pull_all(conn)
    assert {o.remote_id for o in obs} == {"v70", "v80"}
    mode = WriteMode.RELATIVE if write_mode == "relative" else WriteMode.ABSOLUTE
    assert await conn.push([adj("v70", 40, 15, mode), adj("v80", 5, 6, mode)], "k") == [Applied(), Applied()]
    assert sim.quantity("BY-PRODUCT") == 15 and sim.quantity("PLAIN") == 6
    quantity = (lambda before, after: after - before) if write_mode == "relative" else (lambda before, after: after)
    assert sim.writes[-1]["items"] == [{"location_id": 1, "product_id": 7, "quantity": quantity(40, 15)},
                                       {"location_id": 1, "variant_id": 80, "quantity": quantity(5, 6)}]
    path = "/inventory/adjustments/" + write_mode
    calls = sim.requests[("POST " if write_mode == "relative" else "PUT ") + path]
    assert calls == 2  # refused once, then written
    assert await conn.push([adj("v70", 15, 9, mode)], "k") == [Applied()]
    assert sim.requests[("POST " if write_mode == "relative" else "PUT ") + path] == calls + 1
    assert sim.quantity("BY-PRODUCT") == 9 and transport.errors == []


async def test_a_product_tracked_item_gets_its_target_in_a_cycle(clock, engine, monkeypatch):
    """A whole cycle: a sale on Squarespace reaches a BigCommerce item whose product tracks
    stock (listed with a variant id), instead of being split off and given up."""
    from syncd.service import reconcile_once
    from syncd.testing.pool import Pool

    pool = Pool({"sq": ("squarespace", {"A": 40, "B": 10}), "bc": ("bigcommerce", {"A": 40, "B": 10})}, clock=clock)
    pool["bc"].item("A").by_product = True
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    settings = pool.settings(engine.url.render_as_string(hide_password=False))
    await reconcile_once(settings, clock, engine=engine, transports=pool.transports())
    pool["sq"].sell("A", 25)
    report = await reconcile_once(settings, clock, engine=engine, transports=pool.transports())
    assert report.exit_code == 0, report
    assert pool["bc"].quantity("A") == 15


def _failed(checks: list) -> list[tuple[str, str]]:
    return [(c.name, c.fix) for c in checks if not c.ok]


@pytest.mark.parametrize(("inject", "location_id", "failed", "fix_words"), [
    (None, 1, [], ""),
    (None, None, [], ""),
    ("token", 1, ["token"], "token"),
    ("no store_locations", 1, ["scopes"], "store_locations_read_only"),
    ("no store_inventory", 1, ["scopes"], "store_inventory"),
    (None, 9, ["location"], "location_id"),
    ("inactive", 1, ["location"], "activate"),
    ("unreadable page", 1, ["first_page"], ""),
])
async def test_check_names_each_failure_with_its_fix_and_writes_nothing(clock, inject, location_id, failed,
                                                                        fix_words):
    """check(): token (401), the locations and inventory read scopes (403), the configured
    location (exists, active), the first page; every request valid against the spec, none a write."""
    sim = BigCommerceSimulator(catalogue(5), clock=clock,
                               scopes={"no store_locations": ["store_inventory"],
                                       "no store_inventory": ["store_locations"]}.get(inject, ("store_inventory",
                                                                                             "store_locations")))
    sim.location_enabled = inject != "inactive"
    if inject == "unreadable page":
        sim.faults.add("GET", r".*/items", "status", status=200, body={"data": []})
    conn, transport = make(sim, clock, location_id=location_id)
    if inject == "token":
        conn._headers["X-Auth-Token"] = "not-the-token-42"
    checks = await conn.check()
    got = _failed(checks)
    assert [name for name, _ in got] == failed, checks
    if failed:
        assert fix_words in got[0][1] and "not-the-token-42" not in str(checks)
    else:
        assert [c.name for c in checks] == ["token", "location", "scopes", "first_page"]
        assert "5 item(s)" in checks[-1].detail
    assert sim.writes == [] and not [k for k in sim.requests if not k.startswith("GET")]
    undeclared = ("ResponseNotFound(http_status='401'", "ResponseNotFound(http_status='403'")  # not in the spec
    assert [e for e in transport.errors if not any(u in e for u in undeclared)] == []
