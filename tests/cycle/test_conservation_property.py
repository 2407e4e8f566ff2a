"""Property: over any sequence of sales, restocks, faults and cycles, conservation holds
after every cycle, no key is applied twice, and after quiet cycles every store shows
the same count, which equals the seed plus every sale and restock that happened."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.http import RetryPolicy
from syncd.ledger import Ledger, make_engine, upgrade
from syncd.service import reconcile_once
from syncd.testing import FakeClock, SquarespaceSimulator
from syncd.testing.pool import SquarespacePool
from tests.helpers import assert_conserved

STORES = ("s1", "s2", "s3")
SKUS = ("A", "B", "C")

store = st.sampled_from(STORES)
sku = st.sampled_from(SKUS)
units = st.integers(min_value=1, max_value=6)
event = st.one_of(
    st.tuples(st.just("sell"), store, sku, units),
    st.tuples(st.just("restock"), store, sku, units),
    st.tuples(st.just("sell_mid_push"), store, sku, units),
    st.tuples(st.just("fault_500_after_apply"), store, sku, units),
    st.tuples(st.just("cycle"), store, sku, units),
)
initial = st.lists(st.integers(min_value=0, max_value=15), min_size=9, max_size=9)


def _mid_push_sale(sku_: str, n: int) -> Callable[[SquarespaceSimulator], None]:
    def hook(sim: SquarespaceSimulator) -> None:
        sim.sell(sku_, n)
        sim.before_write.remove(hook)

    return hook


async def _scenario(quantities: list[int], events: list[tuple[str, str, str, int]]) -> None:
    clock = FakeClock()
    stock = {s: {k: quantities[i * 3 + j] for j, k in enumerate(SKUS)} for i, s in enumerate(STORES)}
    pool = SquarespacePool(stock, clock=clock)
    os.environ.update(pool.env())
    engine = make_engine("sqlite://")
    upgrade(engine)
    ledger = Ledger(engine)
    settings_ = pool.settings("sqlite://")
    retry = RetryPolicy(max_attempts=3, base=0.1, cap=1.0, rng=random.Random(1))

    async def cycle() -> None:
        await reconcile_once(settings_, clock, retry=retry, engine=engine, transports=pool.transports())
        assert_conserved(ledger)

    await cycle()
    seeds = dict(ledger.load_snapshot().available)
    assert seeds == {k: min(stock[s][k] for s in STORES) for k in SKUS}
    for sim in pool.sims.values():
        sim.merchant_changes.clear()
    for kind, s, k, n in events:
        sim = pool[s]
        if kind == "sell":
            sim.sell(k, n)
        elif kind == "restock":
            sim.restock(k, n)
        elif kind == "sell_mid_push":
            sim.before_write.append(_mid_push_sale(k, n))
        elif kind == "fault_500_after_apply":
            sim.faults.add("POST", "/1.0/commerce/inventory/adjustments", "after", status=500)
        else:
            await cycle()
    for sim in pool.sims.values():
        sim.before_write.clear()
        sim.faults.clear()
    for _ in range(3):
        await cycle()
    for sim in pool.sims.values():
        assert all(count == 1 for count in sim.applied_keys.values())
    available = ledger.load_snapshot().available
    for k in SKUS:
        happened = sum(pool[s].merchant_changes[pool[s].variant_of(k).variant_id] for s in STORES)
        assert available[k] == seeds[k] + happened, k  # no sale lost, none counted twice
        assert set(pool.quantities(k).values()) == {max(0, available[k])}
    assert ledger.unresolved() == []
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quantities=initial, events=st.lists(event, max_size=30))
def test_conservation_and_no_sale_lost(quantities, events):
    """Random sales, restocks, mid-push sales, 500-after-apply faults and cycles."""
    asyncio.run(_scenario(quantities, events))
