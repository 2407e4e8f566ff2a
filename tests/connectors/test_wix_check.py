"""``WixConnector.check()`` against the simulator, one injected failure at a time: read-only,
one ``Check`` per item, never raising for a failed one."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connectors.base import Check
from syncd.connectors.wix_check import PERMISSIONS
from syncd.testing import FakeClock
from tests.connectors.test_wix import make

LOCATION = "d85fbb4d-e415-49b1-98bc-9d22ec338cb1"
OTHER = "0b7c6c1a-6a8e-4d7e-9b58-2f6a4c2f0a11"


async def run(site_catalog: str = "V3_CATALOG", setup: Any = None, **options: Any) -> tuple[Any, dict[str, Check]]:
    sim, conn = make(FakeClock(), {"A": 3, "B": 4}, site_catalog, **options)
    if setup is not None:
        setup(sim)
    checks = await conn.check()
    assert not any(k.startswith(("PATCH", "POST /stores/v2", "POST /stores/v3/bulk")) for k in sim.requests)
    by_name = {c.name: c for c in checks}
    assert len(by_name) == len(checks)  # one line per item
    return sim, by_name


@pytest.mark.parametrize(("site", "options"), [("V3_CATALOG", {}), ("V3_CATALOG", {"catalog": "v3"}),
                                               ("V3_CATALOG", {"location_id": LOCATION}),
                                               ("V1_CATALOG", {}), ("V1_CATALOG", {"catalog": "v1"})])
async def test_a_ready_site_passes_every_check(site, options):
    _, checks = await run(site, **options)
    assert all(c.ok for c in checks.values()), checks
    assert {"token", "catalog", "scopes", "first_page"} <= set(checks)
    assert checks["first_page"].detail.startswith("1 " if site == "V1_CATALOG" else "2 ")


async def test_a_refused_token():
    _, checks = await run(setup=lambda sim: setattr(sim, "token", "another"))
    assert list(checks) == ["token"] and not checks["token"].ok and "token" in checks["token"].fix


async def test_a_site_id_the_token_may_not_use():
    _, checks = await run(setup=lambda sim: setattr(sim, "site_id", "another-site"))
    assert list(checks) == ["scopes"] and "site_id" in checks["scopes"].fix


@pytest.mark.parametrize(("site", "configured", "fix"), [("V3_CATALOG", "v1", 'catalog = "v3"'),
                                                         ("V1_CATALOG", "v3", 'catalog = "v1"'),
                                                         ("STORES_NOT_INSTALLED", "auto", "install Wix Stores")])
async def test_the_wrong_catalog(site, configured, fix):
    _, checks = await run(site, catalog=configured)
    assert checks["token"].ok and not checks["catalog"].ok and fix in checks["catalog"].fix
    assert "first_page" not in checks


@pytest.mark.parametrize(("site", "scope", "key"), [
    ("V3_CATALOG", "SCOPE.STORES.INVENTORY_ITEM_READ", "v3_read"),
    ("V1_CATALOG", "SCOPE.DC-STORES.READ-PRODUCTS", "v1_read"),
    ("V1_CATALOG", "SCOPE.DC-STORES.MANAGE-PRODUCTS", "v1_write"),  # hidden products' SKUs need it
])
async def test_a_missing_scope_is_named(site, scope, key):
    _, checks = await run(site, setup=lambda sim: sim.missing_scopes.add(scope))
    assert checks["token"].ok and checks["catalog"].ok
    assert not checks["scopes"].ok and scope in checks["scopes"].fix and PERMISSIONS[key][0] in checks["scopes"].fix


async def test_an_unknown_location():
    _, checks = await run(location_id=OTHER)
    assert checks["first_page"].ok and not checks["location"].ok and "location_id" in checks["location"].fix


async def test_stock_at_several_locations_needs_a_location_id():
    _, checks = await run(setup=lambda sim: setattr(sim.item("B"), "location_id", OTHER))
    assert not checks["location"].ok and "set location_id" in checks["location"].fix
    _, checks = await run(setup=lambda sim: setattr(sim.item("B"), "location_id", OTHER), location_id=LOCATION)
    assert checks["location"].ok


async def test_v1_has_no_locations():
    _, checks = await run("V1_CATALOG", location_id=LOCATION)
    assert not checks["location"].ok and "remove location_id" in checks["location"].fix


async def test_a_broken_first_page_is_a_failed_check_not_an_exception():
    def setup(sim: Any) -> None:
        sim.faults.add("POST", r"/stores/v3/inventory-items/query", "status", times=10, status=400,
                       body={"message": "bad", "details": {"applicationError": {"code": "BOOM", "description": "x"}}})
    _, checks = await run(setup=setup)
    assert checks["token"].ok and not checks["first_page"].ok and "BOOM" in checks["first_page"].detail
