"""Whole cycles with Wix stores on both catalogs."""

from __future__ import annotations

from syncd.core import ConflictKind
from syncd.ledger import Ledger
from tests.cycle.test_mixed_pool import HookedLedger, converged, cycle
from tests.cycle.test_shopify_cycle import make_pool, settles
from tests.helpers import assert_conserved

V1 = {"catalog": "V1_CATALOG"}


async def test_v1_learns_skus_once_and_keeps_sales(monkeypatch, engine, clock):
    """Catalog V1 has no SKU on inventory items: products are looked up once and
    remembered; a sale before the fresh read waits for the next cycle."""
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "w1": "wix"}, {"w1": V1})
    ledger = HookedLedger(engine)
    ledger.after_record = []
    options = {"w1": {"catalog": "v1"}}
    assert (await cycle(pool, engine, clock, ledger, **options)).exit_code == 0
    lookups = pool["w1"].requests["POST /stores-reader/v1/products/query"]
    assert lookups == 1
    pool["sq"].sell("A", 3)
    ledger.after_record = [lambda: pool["w1"].sell("A", 1)]
    report = await cycle(pool, engine, clock, ledger, **options)
    assert report.exit_code == 0 and report.deferred == 1
    await cycle(pool, engine, clock, ledger, **options)
    assert converged(pool, "A") == 6
    assert pool["w1"].requests["POST /stores-reader/v1/products/query"] == lookups
    assert_conserved(ledger)


async def test_v1_relative_keeps_a_sale_that_lands_during_the_write(monkeypatch, engine, clock):
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "w1": "wix"}, {"w1": V1})
    options = {"w1": {"catalog": "v1", "write_mode": "relative"}}
    await cycle(pool, engine, clock, **options)
    pool["sq"].sell("A", 4)
    pool["w1"].before_write.append(lambda sim: (sim.sell("A", 1), sim.before_write.clear()))
    await cycle(pool, engine, clock, **options)
    assert pool.quantities("A") == {"sq": 6, "w1": 5}
    await cycle(pool, engine, clock, **options)
    assert converged(pool, "A") == 5
    assert_conserved(Ledger(engine))


async def test_a_pool_with_both_wix_catalogs_and_every_platform_converges(monkeypatch, engine, clock):
    """Six stores — Squarespace, BigCommerce, SaaSignal, Shopify, Wix V1, Wix V3 (auto-
    detected) — with sales on each and between pull and push: every sale counted once."""
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "bc": "bigcommerce", "ss": "saasignal",
                                          "sh": "shopify", "w1": "wix", "w3": "wix"}, {"w1": V1})
    ledger = HookedLedger(engine)
    ledger.after_record = []
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    sold = {"A": pool["w1"].sell("A", 3), "B": pool["w3"].sell("B", 2), "C": pool["sh"].sell("C", 1)}
    ledger.after_record = [lambda: pool["w3"].sell("A", 1), lambda: pool["w1"].sell("C", 1)]
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    sold["A"] += 1
    sold["C"] += 1
    await settles(pool, engine, clock, ledger, sold)


async def test_v3_paid_orders_past_zero_are_sales_and_the_store_is_written_back_to_zero(monkeypatch, engine, clock):
    """Wix V3 counts go negative when paid orders outrun stock: a real observation (its
    delta counts like any sale), not bad data; available goes negative (oversold) and
    every store is written to its target, never below 0; a restock pays the debt."""
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "w3": "wix"})
    ledger = HookedLedger(engine)
    ledger.after_record = []
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    pool["sq"].sell("A", 10)  # Squarespace sells its 10, Wix's paid orders take 12 more
    pool["w3"].paid_order("A", 12)
    assert pool["w3"].quantity("A") == -2
    report = await cycle(pool, engine, clock, ledger)
    assert report.exit_code == 0
    assert ledger.load_snapshot().available["A"] == 10 - 10 - 12
    assert not [c for c in report.new_conflicts if c.kind is ConflictKind.BAD_DATA]
    assert [c.kind for c in report.new_conflicts if c.sku == "A"] == [ConflictKind.OVERSOLD]
    assert pool.quantities("A") == {"sq": 0, "w3": 0}
    pool["sq"].restock("A", 20)
    for _ in range(2):
        assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    assert converged(pool, "A") == 8 and ledger.load_snapshot().available["A"] == 8
    assert_conserved(ledger)
