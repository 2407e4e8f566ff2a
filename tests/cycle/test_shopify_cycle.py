"""Whole cycles with a Shopify store: compare-and-set conflicts (with Wix V3's revision
check alongside), @idempotent resends, and a four-platform pool converging with
conservation."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from syncd.core import ConflictKind
from syncd.ledger import Ledger
from syncd.testing import FakeClock
from syncd.testing.pool import Pool
from tests.cycle.test_mixed_pool import HookedLedger, converged, cycle
from tests.helpers import assert_conserved

STOCK = {"A": 10, "B": 10, "C": 10}


def make_pool(monkeypatch: pytest.MonkeyPatch, clock: FakeClock, stores: dict[str, str],
              sims: dict[str, dict[str, str]] | None = None) -> Pool:
    """A pool of ``STOCK`` on each named store (name → platform), tokens in the environment."""
    pool = Pool({name: (platform, STOCK) for name, platform in stores.items()}, clock=clock, sim_options=sims)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    return pool


async def settles(pool: Pool, engine: Engine, clock: FakeClock, ledger: Ledger, sold: dict[str, int]) -> None:
    """Two more cycles converge every store to 10 − what sold, the ledger balances, and a
    quiet cycle after that plans no write."""
    for _ in range(2):
        assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    for sku in STOCK:
        assert converged(pool, sku) == 10 - sold[sku]
        assert ledger.load_snapshot().available[sku] == 10 - sold[sku]
    assert_conserved(ledger)
    quiet = await cycle(pool, engine, clock, ledger)
    assert quiet.plan is not None and quiet.plan.adjustments == ()


@pytest.mark.parametrize(("platform", "refusal"), [("shopify", "CHANGE_FROM_QUANTITY_STALE"),
                                                  ("wix", "REVISION_MISMATCH")])
async def test_a_sale_between_pull_and_push_is_a_cas_conflict_settled_next_cycle(monkeypatch, engine, clock,
                                                                                 platform, refusal):
    """Shopify (changeFromQuantity) and Wix V3 (revision) refuse the stale row: a
    stale_write conflict, not a failed cycle; the rest of the batch is applied in the same
    cycle (Shopify: under a new key, its mutation being all or nothing), and the next
    cycle counts the sale."""
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "cas": platform})
    ledger = HookedLedger(engine)
    ledger.after_record = []
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    for sku in STOCK:
        pool["sq"].sell(sku, 2)
    ledger.after_record = [lambda: pool["cas"].sell("B", 1)]
    report = await cycle(pool, engine, clock, ledger)
    assert report.exit_code == 0 and report.deferred == 1 and report.applied == 2
    [stale] = [c for c in report.new_conflicts if c.kind is ConflictKind.STALE_WRITE]
    assert stale.store == "cas" and stale.sku == "B" and refusal in stale.message
    assert pool.quantities("A") == {"sq": 8, "cas": 8} and pool.quantities("B") == {"sq": 8, "cas": 9}
    report = await cycle(pool, engine, clock, ledger)
    assert report.exit_code == 0
    assert {sku: converged(pool, sku) for sku in STOCK} == {"A": 8, "B": 7, "C": 8}
    assert_conserved(ledger)
    assert all(n == 1 for n in getattr(pool["cas"], "applied_keys", {}).values())


async def test_a_lost_answer_is_resent_under_its_key_and_applied_once(monkeypatch, engine, clock):
    """The write is applied but every answer is lost: the cycle ends unresolved (exit 1);
    the next one resends under the same @idempotent key, which Shopify replays."""
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "sh": "shopify"})
    await cycle(pool, engine, clock)
    pool["sq"].sell("A", 3)
    pool["sh"].faults.add("POST", r"/admin/api/[^/]+/graphql\.json", "timeout_after", times=10,
                          content="SyncdSet")
    assert (await cycle(pool, engine, clock)).exit_code == 1
    assert pool.quantities("A") == {"sq": 7, "sh": 7}  # applied once, though every try timed out
    pool["sh"].faults.clear()
    pool["sh"].sell("A", 1)  # a sale after the lost answer: a blind absolute resend would erase it
    report = await cycle(pool, engine, clock)
    assert report.exit_code == 0 and report.settled == 1
    await cycle(pool, engine, clock)
    assert converged(pool, "A") == 6
    assert list(pool["sh"].applied_keys.values()) == [1]
    assert_conserved(Ledger(engine))


async def test_four_platforms_converge_and_keep_every_sale(monkeypatch, engine, clock):
    """Squarespace, BigCommerce, SaaSignal and Shopify: sales on each, sales between pull
    and push on each; every sale counted once, every store at the same count."""
    pool = make_pool(monkeypatch, clock, {"sq": "squarespace", "bc": "bigcommerce", "ss": "saasignal",
                                          "sh": "shopify"})
    ledger = HookedLedger(engine)
    ledger.after_record = []
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    sold = {"A": pool["sh"].sell("A", 3), "B": pool["bc"].sell("B", 2), "C": pool["ss"].sell("C", 1)}
    sold["A"] += pool["sq"].sell("A", 1)
    ledger.after_record = [lambda: pool["sh"].sell("B", 1), lambda: pool["bc"].sell("C", 1),
                           lambda: pool["sq"].sell("C", 1)]
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    sold["B"] += 1
    sold["C"] += 2
    await settles(pool, engine, clock, ledger, sold)
