"""Each platform's page parser on one item at a time: the same verdict for the same
fault on every platform (the parsers are written for speed, so this table pins what
they must still say)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncd.connectors.base import Page
from syncd.connectors.bigcommerce import BigCommerceConnector
from syncd.connectors.shopify import ShopifyConnector
from syncd.connectors.squarespace import SquarespaceConnector
from syncd.connectors.wix import WixSite
from syncd.connectors.wix_v3 import CatalogV3
from syncd.core import ConflictKind, Observation
from syncd.errors import BadStoreData

NO_CLIENT: Any = None


def squarespace(sku: Any, qty: Any, ref: str = "v1") -> Page:
    item = {"variantId": ref, "sku": sku, "isUnlimited": qty is None, "quantity": 3 if qty is None else qty}
    return SquarespaceConnector("s", NO_CLIENT, "t")._page({"inventory": [item], "pagination": {
        "hasNextPage": False}}, set())


def bigcommerce(sku: Any, qty: Any, ref: str = "v1") -> Page:
    row = {"identity": {"sku": sku, "variant_id": int(ref[1:]), "product_id": 7}, "total_inventory_onhand": qty}
    return BigCommerceConnector("s", NO_CLIENT, "t", store_hash="h")._parse([row], set())


def shopify(sku: Any, qty: Any, ref: str = "v1") -> Page:
    item = {"id": ref, "sku": sku, "tracked": qty is not None}
    quantities = [{"name": "on_hand", "quantity": 99}, {"name": "available", "quantity": qty}]
    return ShopifyConnector("s", NO_CLIENT, "t")._parse([(item, quantities)], set())


def wix(sku: Any, qty: Any, ref: str = "v1") -> Page:
    raw = {"id": ref, "revision": 4, "locationId": "L", "product": {"variantSku": sku}}
    raw |= {"trackQuantity": False, "inStock": True} if qty is None else {"trackQuantity": True, "quantity": qty}
    return CatalogV3(WixSite("s", NO_CLIENT, "t", "site"), None)._parse([raw], set())


PARSERS: dict[str, Callable[..., Page]] = {"squarespace": squarespace, "bigcommerce": bigcommerce,
                                           "shopify": shopify, "wix": wix}


@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
@pytest.mark.parametrize(("sku", "qty", "expected"), [
    ("A-1", 5, ("A-1", 5)),
    ("  A-1 ", 0, ("A-1", 0)),                      # SKUs are trimmed
    ("A-1", None, ("A-1", None)),                   # untracked / unlimited (BigCommerce has no such value)
    ("A-1", 99_999_999, ("A-1", 99_999_999)),       # the largest every platform takes (Wix's cap)
    ("A-1", -1, ConflictKind.BAD_DATA),
    ("A-1", True, ConflictKind.BAD_DATA),           # a JSON boolean is not a count
    ("A-1", 2.5, ConflictKind.BAD_DATA),
    ("A-1", 2.0, ConflictKind.BAD_DATA),
    ("A-1", "5", ConflictKind.BAD_DATA),
    ("   ", 5, ConflictKind.UNMAPPED),
    ("", 5, ConflictKind.UNMAPPED),
    (None, 5, ConflictKind.UNMAPPED),
    (17, 5, ConflictKind.UNMAPPED),                 # a SKU that is not a string
])
def test_one_item(parse: Callable[..., Page], sku: Any, qty: Any, expected: Any) -> None:
    page = parse(sku, qty)
    if parse is bigcommerce and qty is None:
        expected = ConflictKind.BAD_DATA
    if parse is wix and type(qty) is int and not 0 <= qty <= 99_999:  # Wix: -99,999..99,999, below 0 a sale
        expected = ConflictKind.BAD_DATA if abs(qty) > 99_999 else ("A-1", qty)
    if parse is shopify and type(qty) is int and qty < 0:  # Shopify: available below 0 is oversold, a sale
        expected = ("A-1", qty)
    if isinstance(expected, ConflictKind):
        assert page.observations == () and [i.kind for i in page.issues] == [expected]
        assert page.issues[0].sku == (None if expected is ConflictKind.UNMAPPED else "A-1")
    else:
        assert page.issues == ()
        assert [(o.sku, o.quantity) for o in page.observations] == [expected]
        assert type(page.observations[0]) is Observation and page.observations[0].remote_id.endswith("1")


@pytest.mark.parametrize("parse", PARSERS.values(), ids=PARSERS.keys())
def test_an_item_twice_in_one_pull_fails_it(parse: Callable[..., Page]) -> None:
    with pytest.raises(BadStoreData, match="twice"):
        _twice(parse, set())


def _twice(parse: Callable[..., Page], seen: set[str]) -> None:
    """Two items with the same id on one page."""
    name = parse.__name__
    if name == "squarespace":
        items = [{"variantId": "v1", "sku": s, "isUnlimited": False, "quantity": 1} for s in ("A", "B")]
        SquarespaceConnector("s", NO_CLIENT, "t")._page({"inventory": items, "pagination": {"hasNextPage": False}},
                                                       seen)
    elif name == "bigcommerce":
        rows = [{"identity": {"sku": s, "variant_id": 1}, "total_inventory_onhand": 1} for s in ("A", "B")]
        BigCommerceConnector("s", NO_CLIENT, "t", store_hash="h")._parse(rows, seen)
    elif name == "shopify":
        rows = [({"id": "i1", "sku": s, "tracked": True}, [{"name": "available", "quantity": 1}]) for s in "AB"]
        ShopifyConnector("s", NO_CLIENT, "t")._parse(rows, seen)
    else:
        raws = [{"id": "i1", "revision": 1, "quantity": 1, "product": {"variantSku": s}} for s in "AB"]
        CatalogV3(WixSite("s", NO_CLIENT, "t", "site"), None)._parse(raws, seen)
