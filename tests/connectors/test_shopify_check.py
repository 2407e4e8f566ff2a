"""``check()`` on a Shopify store, against the simulator with each failure injected:
read-only, one Check per item, a one-line fix on each failure, nothing raised."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connectors import Check
from tests.connectors.test_shopify import make


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def assert_read_only(sim: Any) -> None:
    assert not [r for r in sim.requests if r.startswith("mutation")] and not sim.bulk_runs


async def test_a_healthy_shop_passes_every_check(clock):
    sim, conn = make(clock, n=300)
    checks = by_name(await conn.check())
    assert list(checks) == ["token", "api_version", "scopes", "location", "bulk_access", "first_page"]
    assert all(c.ok and not c.fix for c in checks.values()), checks
    assert "250 items read" in checks["first_page"].detail and "more pages" in checks["first_page"].detail
    assert "2026-10" in checks["api_version"].detail
    assert_read_only(sim)


async def test_a_refused_token_is_one_failed_check(clock):
    sim, conn = make(clock, n=3)
    sim.token = "shpat_other"
    [token] = await conn.check()
    assert token.name == "token" and not token.ok and "401" in token.detail and token.fix
    assert "shpat_test" not in token.detail + token.fix


async def test_a_missing_scope_is_named(clock):
    sim, conn = make(clock, n=3)
    sim.scopes = {"write_inventory", "read_products"}  # no read_locations: a location's levels need it
    checks = by_name(await conn.check())
    assert not checks["scopes"].ok and "read_locations" in checks["scopes"].detail and "read_locations" in \
        checks["scopes"].fix
    assert checks["token"].ok and checks["location"].ok  # Location.id takes read_inventory (write_ grants it)
    assert not checks["first_page"].ok and "access denied" in checks["first_page"].detail
    assert_read_only(sim)


async def test_an_unknown_location_is_named(clock):
    _, conn = make(clock, n=3, location_id=4242)
    checks = by_name(await conn.check())
    assert not checks["location"].ok and "4242" in checks["location"].detail and "location_id" in \
        checks["location"].fix
    assert not checks["first_page"].ok


async def test_a_version_shopify_no_longer_serves_is_named(clock):
    """An unsupported version is served as the oldest supported one; the answer's
    X-Shopify-API-Version header says which."""
    sim, conn = make(clock, n=3)
    sim.oldest_supported = "2027-01"
    checks = by_name(await conn.check())
    assert not checks["api_version"].ok and "2027-01" in checks["api_version"].detail
    assert checks["api_version"].fix


@pytest.mark.parametrize(("threshold", "expected"), [(None, "bulk pulls are off"), (1000, "not needed"),
                                                     (10, "unknown until a pull runs one")])
async def test_bulk_access_is_reported_without_starting_one(clock, threshold, expected):
    sim, conn = make(clock, n=30, bulk_threshold=threshold)
    sim.bulk_queries_allowed = False  # a check cannot see this without starting a bulk query
    bulk = by_name(await conn.check())["bulk_access"]
    assert bulk.ok and expected in bulk.detail
    assert_read_only(sim)


async def test_a_first_page_with_bad_data_still_reads(clock):
    sim, conn = make(clock, stock={"A": 1, "B": 2})
    sim.item("B").sku = None
    first = by_name(await conn.check())["first_page"]
    assert first.ok and "1 items read, 1 with issues" in first.detail
