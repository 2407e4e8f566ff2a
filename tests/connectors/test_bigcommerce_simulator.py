"""The BigCommerce simulator finds the item a write row or a filtered read names as the
platform does: by SKU, by variant id, or by product id only for an item tracked by
product; untracked items are not in the Inventory API."""

from __future__ import annotations

import httpx
import pytest

from syncd.testing import FakeClock
from syncd.testing.bigcommerce_sim import BcItem, BigCommerceSimulator

BASE = "/stores/abc123/v3/inventory"
HEAD = {"X-Auth-Token": "bc-token", "Accept": "application/json"}


@pytest.fixture
def sim(clock: FakeClock) -> BigCommerceSimulator:
    return BigCommerceSimulator([
        BcItem(product_id=10, variant_id=100, sku="A", onhand=5),
        BcItem(product_id=10, variant_id=101, sku="B", onhand=5),
        BcItem(product_id=20, variant_id=None, sku="C", onhand=5),  # tracked by product
        BcItem(product_id=30, variant_id=300, sku="D", onhand=5, tracked=False),
        BcItem(product_id=40, variant_id=400, sku="A", onhand=5),  # the same SKU again: the first one wins
    ], clock=clock)


async def put(sim: BigCommerceSimulator, row: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://bc") as c:
        return await c.put(f"{BASE}/adjustments/absolute", headers=HEAD,
                           json={"reason": "t", "items": [{"location_id": 1, "quantity": 9, **row}]})


@pytest.mark.parametrize(("row", "written", "error"), [
    ({"variant_id": 101}, "v101", None),
    ({"sku": "B"}, "v101", None),
    ({"sku": "A"}, "v100", None),
    ({"product_id": 20}, "p20", None),
    ({"variant_id": 100.0}, "v100", None),  # JSON numbers compare as numbers
    ({"product_id": 10}, None, "Items with identity: [product_id 10] not found"),
    ({"variant_id": 300}, None, "Items with identity: [variant_id 300] not found"),
    ({"sku": "D"}, None, "Items with identity: [sku D] not found"),
    ({"variant_id": 999}, None, "Items with identity: [variant_id 999] not found"),
    ({"sku": ["A"]}, None, "Items with identity: [sku ['A']] not found"),
    ({"variant_id": None}, None,
     "[Item with variant_id None is tracked by product, please update stock by product id]"),
])
async def test_a_write_row_names_its_item(sim: BigCommerceSimulator, row: dict[str, object], written: str | None,
                                          error: str | None) -> None:
    r = await put(sim, row)
    if error is None:
        assert r.status_code == 200, r.text
        assert sim.items[written].onhand == 9
        assert sum(i.onhand == 9 for i in sim.items.values()) == 1
    else:
        assert (r.status_code, r.json()["title"]) == (422, error)
        assert all(i.onhand == 5 for i in sim.items.values())


@pytest.mark.parametrize(("query", "refs"), [
    ({"variant_id:in": "100,300,400"}, ["v100", "v400"]),
    ({"sku:in": "A,C"}, ["v100", "p20", "v400"]),
    ({"product_id:in": "10", "sku:in": "B"}, ["v101"]),
    ({"variant_id:in": "999"}, []),
])
async def test_filtered_reads(sim: BigCommerceSimulator, query: dict[str, str], refs: list[str]) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://bc") as c:
        r = await c.get(f"{BASE}/locations/1/items", headers=HEAD, params=query)
    assert r.status_code == 200
    got = [f"v{d['identity']['variant_id']}" if "variant_id" in d["identity"] else f"p{d['identity']['product_id']}"
           for d in r.json()["data"]]
    assert sorted(got) == sorted(refs)


@pytest.mark.parametrize(("method", "path", "operation"), [("PUT", "absolute", "put"), ("POST", "relative", "post")])
async def test_the_tracked_by_product_refusal_is_the_specs_own_example(clock: FakeClock, method: str, path: str,
                                                                      operation: str) -> None:
    """inventory.v3.yml's "Item has another tracking mode error" example, taken from the
    file: a write naming variant 106 of a product that tracks stock gets exactly that body
    (and content type); the product_id form of the same row is accepted."""
    import yaml

    from tests.support.openapi import SPECS

    spec = yaml.safe_load((SPECS / "inventory.v3.yml").read_text())
    answer = spec["paths"][f"/inventory/adjustments/{path}"][operation]["responses"]["422"]["content"]
    example = answer["application/problem+json"]["examples"]["Item has another tracking mode error"]["value"]
    sim = BigCommerceSimulator([BcItem(product_id=11, variant_id=106, sku="X", onhand=5, by_product=True)],
                               clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app), base_url="http://bc") as c:
        for ident, status in (({"variant_id": 106}, 422), ({"product_id": 11}, 200)):
            r = await c.request(method, f"{BASE}/adjustments/{path}", headers=HEAD,
                                json={"items": [{"location_id": 1, **ident, "quantity": 1}]})
            assert r.status_code == status, r.text
            if status == 422:
                assert r.json() == example
                assert r.headers["content-type"].startswith("application/problem+json")
    assert sim.items["v106"].onhand in (1, 6)  # absolute sets 1, relative adds 1


def test_the_scopes_the_simulator_and_check_name_are_the_specs() -> None:
    """Every OAuth scope the simulator enforces (and check() names in its fixes) is in the
    OAuth-scope table of the spec that owns the route (securitySchemes' description)."""
    import re

    import yaml

    from syncd.testing.bigcommerce_sim import NEEDS
    from tests.support.openapi import SPECS

    def scopes(name: str) -> set[str]:
        text = yaml.safe_load((SPECS / name).read_text())["components"]["securitySchemes"]["X-Auth-Token"]
        return set(re.findall(r"\| `(store_[a-z_]+)` \|", text["description"]))

    owner = {"/inventory/locations": scopes("locations.v3.yml"), "/inventory": scopes("inventory.v3.yml")}
    assert owner["/inventory"] == {"store_inventory", "store_inventory_read_only"}
    for (area, _), accepted in NEEDS.items():
        assert set(accepted) <= owner[area], (area, accepted)
    source = (SPECS.parents[2] / "syncd" / "connectors" / "bigcommerce.py").read_text()
    named = set(re.findall(r"\((store_[a-z_]+)\)", source))
    assert named and named <= owner["/inventory"] | owner["/inventory/locations"], named
