"""A hypothesis state machine over targeted cycles (store events) and full cycles on a pool
of the platforms that send events (Squarespace, BigCommerce, Shopify): sales and
restocks, sales landing mid-write, events naming any items (duplicated, stale, reordered,
for items that did not change, for ids nobody knows), crashes right after a targeted
cycle's write reached a store, and full cycles, in any order.

After every step: conservation, and no Squarespace key applied twice. At the end, after
quiet full cycles: every store shows the pool's count, and the pool's count is what
really happened (never more, where a write's outcome was undecidable).

The boundary is DESIGN's, as in ``test_stateful``: a crash on a keyless store
(BigCommerce) is followed by its settling cycle before the next merchant event there.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from syncd.http import RetryPolicy
from syncd.ledger import Ledger, make_engine, upgrade
from syncd.service import reconcile_once, reconcile_targeted
from syncd.testing import FakeClock
from syncd.testing.pool import Pool
from tests.conftest import PG_URL
from tests.cycle.test_stateful import Crash, CrashAfterSend
from tests.helpers import assert_conserved, assert_truth

STORES = {"sq": "squarespace", "bc": "bigcommerce", "sh": "shopify"}
SKUS = ("A", "B", "C")
WRITES = {"sq": "POST", "bc": "PUT", "sh": "POST"}


class EventMachine(RuleBasedStateMachine):
    @initialize(stock=st.lists(st.integers(0, 12), min_size=9, max_size=9))
    def start(self, stock: list[int]) -> None:
        self.clock = FakeClock()
        quantities = {n: {sku: stock[i * 3 + j] for j, sku in enumerate(SKUS)} for i, n in enumerate(STORES)}
        self.pool = Pool({n: (p, quantities[n]) for n, p in STORES.items()}, clock=self.clock)
        os.environ.update(self.pool.env())
        url = os.environ.get("SYNCD_EVENTS_MACHINE_URL", "sqlite://")
        self.engine = make_engine(url)
        if self.engine.dialect.name == "postgresql":
            from tests.conftest import _clean_pg

            _clean_pg(self.engine)
        upgrade(self.engine)
        self.ledger = Ledger(self.engine)
        self.settings = self.pool.settings(url, store_options={"bc": {"apply_lag_seconds": 0}})
        self.retry = RetryPolicy(max_attempts=3, base=0.1, cap=1.0, rng=random.Random(3))
        assert self._run(None)
        snapshot = self.ledger.load_snapshot()
        self.truth = dict(snapshot.available)
        self.ids = {n: [snapshot.store(n)[sku].remote_id for sku in SKUS] for n in STORES}

    def _run(self, events: dict[str, list[str]] | None, crash: str | None = None) -> bool:
        transports = self.pool.transports()
        if crash is not None:
            transports[crash] = CrashAfterSend(transports[crash], WRITES[crash])
        try:
            if events is None:
                asyncio.run(reconcile_once(self.settings, self.clock, retry=self.retry, engine=self.engine,
                                           transports=transports))
            else:
                asyncio.run(reconcile_targeted(self.settings, self.clock, events, retry=self.retry,
                                               engine=self.engine, transports=transports))
        except Crash:
            return False
        return True

    @rule(store=st.sampled_from(sorted(STORES)), sku=st.sampled_from(SKUS), n=st.integers(1, 5))
    def sell(self, store: str, sku: str, n: int) -> None:
        self.truth[sku] -= self.pool[store].sell(sku, n)

    @rule(store=st.sampled_from(sorted(STORES)), sku=st.sampled_from(SKUS), n=st.integers(1, 5))
    def restock(self, store: str, sku: str, n: int) -> None:
        self.pool[store].restock(sku, n)
        self.truth[sku] += n

    @rule(store=st.sampled_from(["sh", "sq"]), sku=st.sampled_from(SKUS))
    def sale_lands_mid_write(self, store: str, sku: str) -> None:
        """The next write to ``store`` finds one more unit sold, just before it applies
        (Squarespace's relative write keeps it; Shopify's compare-and-set refuses the write;
        an absolute write after a fresh read cannot see a sale inside its own request:
        DESIGN's documented boundary, left out here as in ``test_stateful``)."""
        sim = self.pool[store]

        def hook(s: object) -> None:
            self.truth[sku] -= sim.sell(sku, 1)
            sim.before_write.remove(hook)

        sim.before_write.append(hook)

    @rule(picks=st.lists(st.tuples(st.sampled_from(sorted(STORES)), st.integers(0, len(SKUS))), min_size=1,
                         max_size=6))
    def events(self, picks: list[tuple[str, int]]) -> None:
        """Events for any items, in any order, with duplicates; index len(SKUS) names an
        id nobody knows."""
        named: dict[str, list[str]] = {}
        for store, i in picks:
            named.setdefault(store, []).append(self.ids[store][i] if i < len(SKUS) else "unknown-id")
        assert self._run(named)

    @rule(store=st.sampled_from(sorted(STORES)), sku=st.sampled_from(SKUS), seller=st.sampled_from(sorted(STORES)))
    def crash_in_a_targeted_write(self, store: str, sku: str, seller: str) -> None:
        """A sale's event starts a targeted cycle that dies right after its write to
        ``store`` reached it; the next cycle settles that write."""
        self.truth[sku] -= self.pool[seller].sell(sku, 1)
        self._run({seller: [self.ids[seller][SKUS.index(sku)]]}, crash=store)
        if STORES[store] != "squarespace":
            assert self._run(None)  # the keyless store's settling cycle

    @rule()
    def full_cycle(self) -> None:
        assert self._run(None)

    @invariant()
    def conserved(self) -> None:
        if hasattr(self, "ledger"):
            assert_conserved(self.ledger)
            assert all(n == 1 for n in self.pool["sq"].applied_keys.values())

    def teardown(self) -> None:
        if not hasattr(self, "ledger"):
            return
        for sim in self.pool.sims.values():
            sim.before_write.clear()
        for _ in range(3):
            assert self._run(None)
        assert_truth(self.ledger, self.pool, self.truth)
        self.engine.dispose()


EventMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=25, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestEventMachine = EventMachine.TestCase


@pytest.mark.pg
def test_the_event_machine_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same machine with the ledger on PostgreSQL (fewer examples: each starts from
    empty tables)."""
    if not PG_URL:
        if os.environ.get("SYNCD_REQUIRE_PG") == "1":
            pytest.fail("SYNCD_REQUIRE_PG=1 but SYNCD_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL tests need SYNCD_TEST_PG_URL (set by .ci/run)")
    monkeypatch.setenv("SYNCD_EVENTS_MACHINE_URL", PG_URL)
    run_state_machine_as_test(EventMachine, settings=settings(
        max_examples=6, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]))
