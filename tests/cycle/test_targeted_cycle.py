"""Targeted cycles over every platform's simulator: a sale one store reports reaches every
other store, with requests that do not grow with the catalogue, and every guarantee of a
full cycle kept (conservation, no write applied twice, the full cycle still the net)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from syncd.http import RetryPolicy
from syncd.ledger import Ledger
from syncd.ledger.tables import CycleRow
from syncd.service import reconcile_once, reconcile_targeted
from syncd.testing import FakeClock
from syncd.testing.pool import Pool
from tests.helpers import assert_conserved

RETRY = RetryPolicy(max_attempts=3, base=0.1, cap=1.0, rng=random.Random(7))
PLATFORMS = {"sq": "squarespace", "bc": "bigcommerce", "ss": "saasignal", "sh": "shopify", "wx": "wix"}


def stock(n: int) -> dict[str, int]:
    return {f"SKU{i:05d}": 20 for i in range(n)}


def make_pool(n: int, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Pool:
    pool = Pool({name: (platform, stock(n)) for name, platform in PLATFORMS.items()}, clock=clock)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    return pool


def url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def transports(pool: Pool, counts: Counter[str]) -> dict[str, httpx.AsyncBaseTransport]:
    return pool.transports(counts)


def remote_id(engine: Engine, store: str, sku: str) -> str:
    return Ledger(engine).load_snapshot().store(store)[sku].remote_id


async def targeted(pool: Pool, engine: Engine, clock: FakeClock, ids: dict[str, list[str]],
                   counts: Counter[str] | None = None) -> Any:
    settings = pool.settings(url(engine))
    return await reconcile_targeted(settings, clock, ids, retry=RETRY, engine=engine,
                                    transports=transports(pool, counts if counts is not None else Counter()))


@pytest.mark.parametrize("seller", list(PLATFORMS))
async def test_a_sale_reported_by_one_store_reaches_every_store(seller, engine, clock, monkeypatch):
    pool = make_pool(5, monkeypatch, clock)
    settings = pool.settings(url(engine))
    assert (await reconcile_once(settings, clock, retry=RETRY, engine=engine,
                                 transports=pool.transports())).exit_code == 0
    pool[seller].sell("SKU00002", 3)
    report = await targeted(pool, engine, clock, {seller: [remote_id(engine, seller, "SKU00002")]})
    assert report.exit_code == 0 and report.kind == "targeted"
    assert set(pool.quantities("SKU00002").values()) == {17}
    assert set(pool.quantities("SKU00001").values()) == {20}
    assert [(e.sku, e.store, e.delta) for e in report.plan.journal] == [("SKU00002", seller, -3)]
    assert_conserved(Ledger(engine))
    with engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(CycleRow.__table__.c.kind))]  # type: ignore[attr-defined]
    assert kinds == ["full", "targeted"]
    # The full cycle after it finds everything in step: the targeted one missed nothing.
    after = await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    assert after.exit_code == 0 and not after.plan.journal and not after.plan.adjustments


async def test_requests_per_event_do_not_grow_with_the_catalogue(engine, clock, monkeypatch):
    """The same event over 20 and 2,000 SKUs sends the same requests to every store."""
    per_size = {}
    for n in (20, 2000):
        pool = make_pool(n, monkeypatch, clock)
        settings = pool.settings(url(engine))
        Ledger(engine).engine.dispose()
        await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
        pool["sh"].sell("SKU00003", 1)
        counts: Counter[str] = Counter()
        report = await targeted(pool, engine, clock, {"sh": [remote_id(engine, "sh", "SKU00003")]}, counts)
        assert report.exit_code == 0 and set(pool.quantities("SKU00003").values()) == {19}
        per_size[n] = dict(counts)
        from syncd.ledger.tables import metadata
        metadata.drop_all(engine)  # the next size starts from an empty ledger
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    assert per_size[20] == per_size[2000], per_size
    assert all(n <= 4 for n in per_size[2000].values()), per_size


async def test_an_echo_of_our_own_writes_changes_nothing(engine, clock, monkeypatch):
    """syncd's writes come back as events: the re-read finds every store as expected."""
    pool = make_pool(3, monkeypatch, clock)
    settings = pool.settings(url(engine))
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    pool["sq"].sell("SKU00000", 2)
    first = await targeted(pool, engine, clock, {"sq": [remote_id(engine, "sq", "SKU00000")]})
    assert first.applied == 4
    echo = {n: [remote_id(engine, n, "SKU00000")] for n in PLATFORMS if n != "sq"}
    again = await targeted(pool, engine, clock, echo)
    assert not again.plan.journal and not again.plan.adjustments and again.applied == 0
    assert set(pool.quantities("SKU00000").values()) == {18}


async def test_ids_the_ledger_does_not_know_are_left_to_the_full_cycle(engine, clock, monkeypatch):
    pool = make_pool(3, monkeypatch, clock)
    settings = pool.settings(url(engine))
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    counts: Counter[str] = Counter()
    report = await targeted(pool, engine, clock, {"sq": ["no-such-id"], "bc": ["v999999"]}, counts)
    assert report.exit_code == 0 and not report.plan.journal and not report.plan.adjustments
    assert sum(counts.values()) == 0  # nothing to read: no request at all


async def test_a_sale_while_the_targeted_cycle_writes_is_not_lost(engine, clock, monkeypatch):
    """A sale landing between the targeted read and its write survives on the store and
    is counted by the next cycle (relative, compare-and-set or fresh-read writes)."""
    pool = make_pool(3, monkeypatch, clock)
    settings = pool.settings(url(engine))
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    pool["sq"].sell("SKU00001", 1)
    ledger = Ledger(engine)
    original = ledger.record

    def record_then_sell(*args: Any, **kw: Any) -> Any:
        out = original(*args, **kw)
        for name in PLATFORMS:
            if name != "sq":
                pool[name].sell("SKU00001", 1)  # lands after the read, before the write
        return out

    ledger.record = record_then_sell  # type: ignore[method-assign]
    import syncd.cycle as cycle_module

    real = cycle_module.CycleRunner.__init__

    def init(self: Any, led: Any, *a: Any, **kw: Any) -> None:
        real(self, ledger, *a, **kw)

    monkeypatch.setattr(cycle_module.CycleRunner, "__init__", init)
    await targeted(pool, engine, clock, {"sq": [remote_id(engine, "sq", "SKU00001")]})
    monkeypatch.setattr(cycle_module.CycleRunner, "__init__", real)
    for _ in range(3):
        await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    assert set(pool.quantities("SKU00001").values()) == {20 - 1 - 4}
    assert_conserved(Ledger(engine))


async def test_the_apply_lag_is_waited_only_for_items_written_within_it(engine, clock, monkeypatch):
    """BigCommerce applies writes asynchronously: a targeted read waits out the lag for
    the items syncd wrote within it, not for every item of the store."""
    pool = make_pool(3, monkeypatch, clock)
    settings = pool.settings(url(engine), store_options={"bc": {"apply_lag_seconds": 10}})
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    clock.advance(60)
    pool["sq"].sell("SKU00000", 1)
    run = await reconcile_targeted(settings, clock, {"sq": [remote_id(engine, "sq", "SKU00000")]}, retry=RETRY,
                                   engine=engine, transports=pool.transports())
    assert run.applied == 4  # bc's SKU00000 written just now
    pool["sh"].sell("SKU00001", 1)
    began = clock.monotonic()
    await reconcile_targeted(settings, clock, {"sh": [remote_id(engine, "sh", "SKU00001")]}, retry=RETRY,
                             engine=engine, transports=pool.transports())
    assert clock.monotonic() - began < 1  # SKU00001 was not written on bc within the lag: no wait
    pool["sh"].sell("SKU00000", 1)
    began = clock.monotonic()
    await reconcile_targeted(settings, clock, {"sh": [remote_id(engine, "sh", "SKU00000")]}, retry=RETRY,
                             engine=engine, transports=pool.transports())
    assert clock.monotonic() - began >= 9  # SKU00000 was: its write is waited out
    assert set(pool.quantities("SKU00000").values()) == {18}


async def test_a_squarespace_order_event_is_resolved_into_its_line_items(engine, clock, monkeypatch):
    """Squarespace has no inventory topic: order.create names an order, whose line items'
    variants are re-read; an order it no longer knows names nothing."""
    pool = make_pool(3, monkeypatch, clock)
    settings = pool.settings(url(engine))
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
    orders: list[str] = []
    pool["sq"].on_order.append(orders.append)
    pool["sq"].sell("SKU00002", 4)
    report = await reconcile_targeted(settings, clock, {}, {"sq": [*orders, "gone-order"]}, retry=RETRY,
                                      engine=engine, transports=pool.transports())
    assert report.exit_code == 0
    assert set(pool.quantities("SKU00002").values()) == {16}
