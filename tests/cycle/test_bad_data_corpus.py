"""A corpus of bad store data. Every case gives a clear error or a conflict, the other
store is still reconciled, and nothing the ledger knew is changed by the bad data: a
failed pull leaves the whole store untouched; a bad item leaves its own pair untouched
(the store's good items sync as usual)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from syncd.core import ConflictKind
from syncd.http import RetryPolicy
from syncd.ledger import Ledger
from syncd.service import reconcile_once
from syncd.testing import FakeClock
from syncd.testing.pool import SquarespacePool, variant_id
from tests.helpers import assert_conserved

RETRY = RetryPolicy(max_attempts=2, base=0.1, rng=random.Random(3))
LIST = "/1.0/commerce/inventory"


def item(sku: Any, qty: Any, vid: str | None = None) -> dict[str, Any]:
    return {"variantId": vid or variant_id("bad", str(sku)), "sku": sku, "descriptor": "", "isUnlimited": False,
            "quantity": qty}


def page(items: Any, cursor: str | None = None) -> dict[str, Any]:
    return {"inventory": items, "pagination": {"hasNextPage": cursor is not None, "nextPageCursor": cursor,
                                               "nextPageUrl": None}}


GOOD = [item("OIL", 10), item("TEA", 10)]
# case → (fault rules as (action, body, query), expected: "fail" with text, or a conflict kind)
CASES: dict[str, tuple[list[tuple[str, Any, str | None]], tuple[str, Any]]] = {
    "truncated_json": ([("malformed", None, None)], ("fail", "not valid JSON")),
    "inventory_not_a_list": ([("status", page({"OIL": 1}), None)], ("fail", "must be a list")),
    "no_pagination": ([("status", {"inventory": GOOD}, None)], ("fail", "pagination")),
    "item_without_variant_id": ([("status", page([{"sku": "OIL", "quantity": 1, "isUnlimited": False}]), None)],
                                ("fail", "variantId")),
    "negative_quantity": ([("status", page([item("OIL", -3), GOOD[1]]), None)], ("conflict", ConflictKind.BAD_DATA)),
    "fractional_quantity": ([("status", page([item("OIL", 2.5), GOOD[1]]), None)], ("conflict", ConflictKind.BAD_DATA)),
    "enormous_quantity": ([("status", page([item("OIL", 10**12), GOOD[1]]), None)],
                          ("conflict", ConflictKind.BAD_DATA)),
    "quantity_as_text": ([("status", page([item("OIL", "10"), GOOD[1]]), None)], ("conflict", ConflictKind.BAD_DATA)),
    "duplicate_sku": ([("status", page([item("OIL", 10), item("OIL", 4, "other-variant"), GOOD[1]]), None)],
                      ("conflict", ConflictKind.DUPLICATE_SKU)),
    "blank_sku": ([("status", page([*GOOD, item("  ", 3, "nameless")]), None)], ("conflict", ConflictKind.UNMAPPED)),
    "cursor_loop": ([("status", page(GOOD, "again"), "^$"), ("status", page([], "again"), "cursor=again")],
                    ("fail", "invalid cursor")),
    "page_repeats_an_item": ([("status", page(GOOD, "c1"), "^$"), ("status", page([GOOD[0]]), "cursor=c1")],
                             ("fail", "appears twice")),
    "next_page_without_cursor": ([("status", {"inventory": GOOD, "pagination": {"hasNextPage": True,
                                  "nextPageCursor": None, "nextPageUrl": None}}, None)], ("fail", "nextPageCursor")),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_data_changes_nothing_for_that_store(case, monkeypatch, engine, ledger_url):
    clock = FakeClock()
    pool = SquarespacePool({"good": {"OIL": 10, "TEA": 10}, "bad": {"OIL": 10, "TEA": 10}}, clock=clock)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    settings = pool.settings(ledger_url)
    ledger = Ledger(engine)
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    before = {k: v for k, v in ledger.load_snapshot().items.items() if k[0] == "bad"}
    journal_before = ledger.journal_totals()
    rules, (expect, what) = CASES[case]
    for action, body, query in rules:
        pool["bad"].faults.add("GET", LIST, action, status=200, body=body, query=query, times=100)
    pool["good"].sell("OIL", 2)
    report = await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    if expect == "fail":
        assert set(report.failed) == {"bad"} and what in report.failed["bad"], report.failed
    else:
        assert report.failed == {}
        assert what in {c.kind for c in report.plan.conflicts}
    after = {k: v for k, v in ledger.load_snapshot().items.items() if k[0] == "bad"}
    if case == "blank_sku":  # the nameless variant is reported; the store's real items sync
        assert after[("bad", "TEA")] == before[("bad", "TEA")] and after[("bad", "OIL")].expected == 8
        assert "nameless" not in {s.remote_id for s in after.values()}
    elif expect == "fail":
        assert after == before  # a failed pull touches nothing of that store
    else:
        assert after[("bad", "OIL")] == before[("bad", "OIL")]  # the bad item's pair is untouched
        assert pool["bad"].requests["POST /1.0/commerce/inventory/adjustments"] == 0
    totals = ledger.journal_totals()
    expected_oil = 8 if case != "duplicate_sku" else journal_before["OIL"]
    assert totals["OIL"] == expected_oil and totals["TEA"] == journal_before["TEA"]
    if case != "duplicate_sku":
        assert pool["good"].quantity("OIL") == 8
    assert_conserved(ledger)


async def test_unicode_skus_are_ordinary_skus(monkeypatch, engine, ledger_url):
    """SKUs in any script round-trip through the ledger and sync like any other."""
    clock = FakeClock()
    skus = {"ÖLIVENÖL-é": 5, "茶-緑": 7, "SALT-🧂": 3}
    pool = SquarespacePool({"a": skus, "b": {k: v + 1 for k, v in skus.items()}}, clock=clock)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    settings = pool.settings(ledger_url)
    report = await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    assert report.exit_code == 0
    assert Ledger(engine).load_snapshot().available == skus
    assert {sku: pool["b"].quantity(sku) for sku in skus} == skus
