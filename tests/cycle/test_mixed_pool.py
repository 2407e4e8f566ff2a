"""Whole cycles over a mixed pool: Squarespace + BigCommerce + SaaSignal."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from syncd.connectors import open_connectors
from syncd.cycle import CycleReport, CycleRunner
from syncd.http import RetryPolicy
from syncd.ledger import Ledger
from syncd.service import build_policy, reconcile_once
from syncd.testing import FakeClock
from syncd.testing.pool import Pool
from tests.helpers import assert_conserved

RETRY = RetryPolicy(max_attempts=3, base=0.1, cap=1.0, rng=random.Random(5))
STOCK = {"A": 10, "B": 10, "C": 10}


class HookedLedger(Ledger):
    """Runs ``after_record`` hooks once the plan is recorded: after every pull, before any push."""

    after_record: list[Callable[[], None]]

    def record(self, *args: Any, **kw: Any) -> Any:
        out = super().record(*args, **kw)
        hooks, self.after_record = self.after_record, []
        for hook in hooks:
            hook()
        return out


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Pool:
    p = Pool({"sq": ("squarespace", STOCK), "bc": ("bigcommerce", STOCK), "ss": ("saasignal", STOCK)}, clock=clock)
    for k, v in p.env().items():
        monkeypatch.setenv(k, v)
    return p


def url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


async def cycle(pool: Pool, engine: Engine, clock: FakeClock, ledger: HookedLedger | None = None,
                **store_options: Any) -> CycleReport:
    settings = pool.settings(url(engine), store_options=store_options)
    if ledger is None:
        return await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    async with open_connectors(settings, clock, transports=pool.transports(), retry=RETRY) as connectors:
        return await CycleRunner(ledger, build_policy(settings), connectors, clock).run()


def converged(pool: Pool, sku: str) -> int:
    values = set(pool.quantities(sku).values())
    assert len(values) == 1, pool.quantities(sku)
    return values.pop()


async def test_a_mixed_pool_converges_and_keeps_every_sale(pool, engine, clock):
    """Sales on each platform, and sales landing between pull and push on each platform,
    are all counted exactly once; every store ends at the same count."""
    ledger = HookedLedger(engine)
    ledger.after_record = []
    assert (await cycle(pool, engine, clock, ledger)).exit_code == 0
    sold = {"A": pool["sq"].sell("A", 3), "B": pool["bc"].sell("B", 2), "C": pool["ss"].sell("C", 1)}
    ledger.after_record = [lambda: pool["bc"].sell("A", 1), lambda: pool["ss"].sell("A", 1),
                           lambda: pool["sq"].sell("B", 1)]
    report = await cycle(pool, engine, clock, ledger)
    assert report.exit_code == 0 and report.deferred == 2  # bc and ss saw the sale in their fresh read
    sold["A"] += 2
    sold["B"] += 1
    assert_conserved(ledger)
    report = await cycle(pool, engine, clock, ledger)
    assert report.exit_code == 0
    for sku in STOCK:
        assert converged(pool, sku) == 10 - sold[sku]
        assert ledger.load_snapshot().available[sku] == 10 - sold[sku]
    assert_conserved(ledger)
    quiet = await cycle(pool, engine, clock, ledger)
    assert quiet.plan is not None and quiet.plan.adjustments == () and quiet.plan.journal == ()


async def test_relative_modes_keep_a_sale_that_lands_during_the_write(pool, engine, clock):
    """With write_mode = "relative", a sale inside the write's own window survives too."""
    options = {"bc": {"write_mode": "relative"}, "ss": {"write_mode": "relative"}}
    await cycle(pool, engine, clock, **options)
    pool["sq"].sell("A", 4)
    for name in ("bc", "ss"):
        pool[name].before_write.append(lambda sim: (sim.sell("A", 1), sim.before_write.clear()))
    await cycle(pool, engine, clock, **options)
    assert pool.quantities("A") == {"sq": 6, "bc": 5, "ss": 5}
    await cycle(pool, engine, clock, **options)
    assert converged(pool, "A") == 4  # 10 − 4 − 1 − 1
    assert_conserved(Ledger(engine))


async def test_bigcommerce_is_not_read_again_until_its_writes_are_visible(monkeypatch, engine, clock):
    """Writes apply 5 s late; with apply_lag_seconds = 6 the next pull waits, so the old
    count is not mistaken for a sale."""
    pool = Pool({"sq": ("squarespace", STOCK), "bc": ("bigcommerce", STOCK)}, clock=clock,
                sim_options={"bc": {"apply_delay": 5.0}})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    options = {"bc": {"apply_lag_seconds": 6}}
    await cycle(pool, engine, clock, **options)
    pool["sq"].sell("A", 2)
    await cycle(pool, engine, clock, **options)
    start = clock.t
    report = await cycle(pool, engine, clock, **options)
    assert clock.t - start >= 6 - 1e-6
    assert report.plan.journal == () and converged(pool, "A") == 8
    assert_conserved(Ledger(engine))


async def test_saasignal_asks_for_skus_only_once(pool, engine, clock):
    """The catalog is remembered in the ledger: a steady cycle makes no product lookups."""
    await cycle(pool, engine, clock)
    lookups = pool["ss"].requests["GET products"]
    assert lookups == 3
    await cycle(pool, engine, clock)
    assert pool["ss"].requests["GET products"] == lookups


async def test_saasignal_402_fails_that_store_only_and_says_what_to_do(pool, engine, clock):
    """An empty token balance is not retried; the other stores are reconciled."""
    await cycle(pool, engine, clock)
    pool["sq"].sell("A", 1)
    pool["ss"].balance = 0
    before = pool["ss"].requests["GET inventory"]
    report = await cycle(pool, engine, clock)
    assert report.exit_code == 1 and set(report.failed) == {"ss"}
    assert "top up" in report.failed["ss"] and pool["ss"].requests["GET inventory"] == before + 1
    assert pool["bc"].quantity("A") == 9
