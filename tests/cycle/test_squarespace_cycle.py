"""Whole cycles against Squarespace simulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import httpx
import pytest
from sqlalchemy import Engine

from syncd.core import ConflictKind
from syncd.cycle import CycleReport
from syncd.http import RetryPolicy
from syncd.ledger import OutboxStatus
from syncd.service import reconcile_once
from syncd.testing import FakeClock, SquarespaceSimulator, Variant
from syncd.testing.pool import SquarespacePool
from tests.helpers import assert_conserved

RETRY = RetryPolicy(max_attempts=3, base=0.1, cap=1.0, rng=random.Random(7))


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> SquarespacePool:
    p = SquarespacePool(
        {
            "north": {"OIL": 10, "SALT": 5, "TEA": 20},
            "south": {"OIL": 10, "SALT": 5, "TEA": 20},
            "east": {"OIL": 10, "SALT": 5, "TEA": 20},
        },
        clock=clock,
    )
    for k, v in p.env().items():
        monkeypatch.setenv(k, v)
    return p


async def run(pool: SquarespacePool, engine: Engine, clock: FakeClock, *, dry_run: bool = False,
              transports: dict[str, httpx.AsyncBaseTransport] | None = None, **sync: object) -> CycleReport:
    settings = pool.settings(str(engine.url.render_as_string(hide_password=False)), **sync)
    return await reconcile_once(settings, clock, dry_run=dry_run, retry=RETRY, engine=engine,
                                transports=transports or pool.transports())


def converged(pool: SquarespacePool, sku: str) -> int:
    values = set(pool.quantities(sku).values())
    assert len(values) == 1, pool.quantities(sku)
    return values.pop()


def assert_no_key_applied_twice(pool: SquarespacePool) -> None:
    for sim in pool.sims.values():
        assert all(n == 1 for n in sim.applied_keys.values()), sim.applied_keys


async def test_first_cycle_seeds_with_min_and_converges(pool, engine, ledger, clock):
    """Different starting counts: available = min, every store written down to it."""
    pool["south"].variant_of("OIL").quantity = 7
    pool["east"].variant_of("OIL").quantity = 12
    report = await run(pool, engine, clock)
    assert report.exit_code == 0 and report.failed == {}
    assert converged(pool, "OIL") == 7
    assert ledger.load_snapshot().available == {"OIL": 7, "SALT": 5, "TEA": 20}
    assert_conserved(ledger)
    again = await run(pool, engine, clock)
    assert again.plan is not None and again.plan.adjustments == () and again.plan.journal == ()


async def test_a_sale_is_absorbed_and_pushed_everywhere(pool, engine, ledger, clock):
    """A sale on one store lowers every other store by the same amount."""
    await run(pool, engine, clock)
    pool["north"].sell("OIL", 3)
    report = await run(pool, engine, clock)
    assert report.exit_code == 0
    assert converged(pool, "OIL") == 7
    assert [(e.store, e.delta) for e in report.plan.journal] == [("north", -3)]
    assert_conserved(ledger)
    assert_no_key_applied_twice(pool)


async def test_a_sale_between_pull_and_push_survives(pool, engine, ledger, clock):
    """A shopper buys on a store after its pull and before its write: the sale is kept."""
    await run(pool, engine, clock)
    pool["north"].sell("OIL", 3)

    def shopper(sim: SquarespaceSimulator) -> None:
        sim.sell("OIL", 1)
        sim.before_write.clear()

    pool["south"].before_write.append(shopper)
    await run(pool, engine, clock)
    assert pool.quantities("OIL") == {"north": 7, "south": 6, "east": 7}
    report = await run(pool, engine, clock)
    assert converged(pool, "OIL") == 6  # 10 − 3 − 1: both sales counted
    assert [(e.store, e.delta) for e in report.plan.journal] == [("south", -1)]
    assert_conserved(ledger)


async def test_a_write_answered_500_after_it_was_applied_is_not_applied_twice(pool, engine, ledger, clock):
    """The retry resends the same body under the same key; Squarespace replays, applies nothing."""
    await run(pool, engine, clock)
    pool["north"].sell("TEA", 4)
    pool["south"].faults.add("POST", "/1.0/commerce/inventory/adjustments", "after", status=500)
    report = await run(pool, engine, clock)
    assert report.exit_code == 0 and report.applied == 2
    assert converged(pool, "TEA") == 16
    assert pool["south"].requests["POST /1.0/commerce/inventory/adjustments"] == 2
    assert_no_key_applied_twice(pool)
    assert_conserved(ledger)


async def test_unknown_outcome_is_settled_by_resending_the_same_key(pool, engine, ledger, clock):
    """Every attempt is applied and then the connection drops: the cycle ends 1 with the
    write unknown; the next cycle resends under the same key before pulling."""
    await run(pool, engine, clock)
    pool["north"].sell("SALT", 2)
    pool["east"].faults.add("POST", "/1.0/commerce/inventory/adjustments", "reset_after", times=3)
    report = await run(pool, engine, clock)
    assert report.exit_code == 1 and report.unknown == 1
    assert [e.status for e in ledger.unresolved("east")] == [OutboxStatus.UNKNOWN]
    key = ledger.unresolved("east")[0].key
    assert pool["east"].quantity("SALT") == 3  # applied once, though unanswered
    report = await run(pool, engine, clock)
    assert report.exit_code == 0 and report.settled == 1
    assert report.plan.journal == ()  # the applied write was not mistaken for a sale
    assert pool["east"].applied_keys[key] == 1
    assert converged(pool, "SALT") == 3
    assert_conserved(ledger)


class Crash(BaseException):
    """The process dies here."""


class CrashAfterSend(httpx.AsyncBaseTransport):
    """Delivers the request to the store, then the process dies before the answer lands."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.armed = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.armed and request.method == "POST":
            self.armed = False
            raise Crash
        return response


async def test_a_crash_mid_push_resumes_without_a_double_write(pool, engine, ledger, clock):
    """Crash after a write reached the store: the row stays in flight; the next cycle
    resends it under the same key, the store applies nothing, and no sale is invented."""
    await run(pool, engine, clock)
    pool["north"].sell("OIL", 5)
    transports = pool.transports()
    transports["south"] = CrashAfterSend(transports["south"])
    with pytest.raises(Crash):
        await run(pool, engine, clock, transports=transports)
    in_flight = ledger.unresolved("south")
    assert [e.status for e in in_flight] == [OutboxStatus.IN_FLIGHT]
    assert pool["south"].quantity("OIL") == 5
    report = await run(pool, engine, clock)
    assert report.exit_code == 0
    assert report.plan.journal == ()
    assert converged(pool, "OIL") == 5
    assert_no_key_applied_twice(pool)
    assert ledger.load_snapshot().available["OIL"] == 5
    assert_conserved(ledger)


async def test_an_invalid_cursor_fails_only_that_store(pool, engine, ledger, clock, monkeypatch):
    """A 400 on the second page fails east's pull; north and south are reconciled."""
    for i in range(60):
        for name, sim in pool.sims.items():
            vid = f"{name}-bulk-{i:03d}"
            sim.variants[vid] = Variant(vid, f"BULK-{i:03d}", 9)
    await run(pool, engine, clock)
    before = ledger.load_snapshot()
    pool["north"].sell("OIL", 2)
    pool["east"].sell("OIL", 1)
    pool["east"].faults.add("GET", "/1.0/commerce/inventory", "status", query="cursor=", status=400,
                            body={"type": "INVALID_REQUEST_ERROR", "subtype": "INVALID_ARGUMENT",
                                  "message": "The cursor is invalid.", "details": None, "contextId": "X"})
    report = await run(pool, engine, clock)
    assert report.exit_code == 1 and set(report.failed) == {"east"}
    assert "HTTP 400" in report.failed["east"]
    assert pool["south"].quantity("OIL") == 8 and pool["east"].quantity("OIL") == 9
    after = ledger.load_snapshot()
    assert {k: v for k, v in after.items.items() if k[0] == "east"} == \
        {k: v for k, v in before.items.items() if k[0] == "east"}
    final = await run(pool, engine, clock)
    assert final.exit_code == 0 and converged(pool, "OIL") == 7
    assert_conserved(ledger)


async def test_a_rejected_decrement_splits_the_batch_and_the_rest_goes_through(pool, engine, ledger, clock):
    """409 INSUFFICIENT_STOCK refuses the whole request; the halves with their own keys
    carry the good writes; the refused one waits for the next pull."""
    await run(pool, engine, clock)
    for sku in ("OIL", "SALT", "TEA"):
        pool["north"].sell(sku, 3)

    def empty_the_shelf(sim: SquarespaceSimulator) -> None:
        sim.sell("SALT", 5)
        sim.before_write.clear()

    pool["south"].before_write.append(empty_the_shelf)
    report = await run(pool, engine, clock)
    assert report.exit_code == 0 and report.rejected == 1
    assert pool["south"].quantity("OIL") == 7 and pool["south"].quantity("TEA") == 17
    assert pool["south"].quantity("SALT") == 0
    assert any(c.kind is ConflictKind.WRITE_REJECTED and c.sku == "SALT" for c in report.new_conflicts)
    final = await run(pool, engine, clock)
    assert final.exit_code == 0
    assert ledger.load_snapshot().available["SALT"] == -3  # 5 − 3 − 5: oversold by 3
    assert converged(pool, "SALT") == 0
    assert any(c.kind is ConflictKind.OVERSOLD for c in final.plan.conflicts)
    assert_conserved(ledger)
    assert_no_key_applied_twice(pool)


async def test_dry_run_writes_nothing_anywhere(pool, engine, ledger, clock):
    """The plan is shown; no store is written and the ledger does not change."""
    pool["south"].variant_of("OIL").quantity = 4
    report = await run(pool, engine, clock, dry_run=True)
    assert report.cycle_id is None and len(report.plan.adjustments) == 2
    assert all(s.requests["POST /1.0/commerce/inventory/adjustments"] == 0 for s in pool.sims.values())
    assert ledger.load_snapshot().available == {} and ledger.cycles() == []


async def test_standing_conflicts_are_reported_once_and_closed_when_cleared(pool, engine, ledger, clock):
    """A SKU missing from one store is one open conflict over many cycles, closed on return."""
    del pool["east"].variants[pool["east"].variant_of("TEA").variant_id]
    await run(pool, engine, clock)
    await run(pool, engine, clock)
    open_ = [(c.kind, c.store, c.sku) for c in ledger.open_conflicts()]
    assert open_ == [("missing", "east", "TEA")]
    pool["east"].variants["tea-back"] = Variant("tea-back", "TEA", 50)
    await run(pool, engine, clock)
    assert ledger.open_conflicts() == []
    assert converged(pool, "TEA") == 20


async def test_a_429_waits_out_the_one_minute_cool_down(monkeypatch, engine, ledger, clock):
    """Squarespace sends no rate headers: syncd pauses 60 s after a 429, then goes on."""
    pool = SquarespacePool({"a": {f"S{i}": 5 for i in range(120)}, "b": {f"S{i}": 4 for i in range(120)}},
                           clock=clock, rate_limit_per_minute=300)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    pool["a"].faults.add("GET", "/1.0/commerce/inventory", "status", status=429,
                         body={"type": "TOO_MANY_REQUESTS", "subtype": None, "message": "slow down",
                               "details": None, "contextId": "Z"})
    report = await run(pool, engine, clock)
    assert report.exit_code == 0
    assert clock.t >= 60
    assert all(pool[s].quantity("S7") == 4 for s in ("a", "b"))


@pytest.mark.parametrize(("event", "extra_sale", "available_after", "conflict"),
                         [("sell", 0, 3, False), ("restock", 0, 9, False),
                          ("sell", 1, 0, True), ("restock", 1, 8, True)])
async def test_an_unknown_write_past_key_retention_is_settled_by_reading(
        pool, engine, ledger, clock, event, extra_sale, available_after, conflict):
    """After 48 h the key may be recycled: never resent. A re-read that equals the target
    or the value before decides it; one that equals neither (a sale landed too) is an
    unknown_outcome conflict, settled the way that leaves less stock."""
    await run(pool, engine, clock)
    if event == "sell":
        pool["north"].sell("SALT", 2)
    else:
        pool["north"].restock("SALT", 4)
    pool["east"].faults.add("POST", "/1.0/commerce/inventory/adjustments", "reset_after", times=3)
    assert (await run(pool, engine, clock)).unknown == 1
    pool["east"].sell("SALT", extra_sale)
    key = ledger.unresolved("east")[0].key
    clock.advance(49 * 3600)
    report = await run(pool, engine, clock)
    assert pool["east"].applied_keys[key] == 1  # never resent
    kinds = [c.kind for c in report.new_conflicts]
    assert kinds == ([ConflictKind.UNKNOWN_OUTCOME] if conflict else [])
    assert ledger.load_snapshot().available["SALT"] == available_after
    assert converged(pool, "SALT") == available_after
    assert_conserved(ledger)


async def test_a_failing_store_is_skipped_for_a_cooling_period_and_comes_back(pool, engine, ledger, clock):
    """Circuit breaker: after 3 failed cycles in a row the store is not even asked for a
    cooling period (reported, exit 1); the others keep syncing; then it is tried again."""
    await run(pool, engine, clock)
    breaker = {"circuit_failures": 3, "circuit_cooldown_seconds": 600}
    pool["east"].faults.add("GET", "/1.0/commerce/inventory", "status", status=503, times=1000)
    for _ in range(3):
        assert (await run(pool, engine, clock, **breaker)).failed.keys() == {"east"}
    asked = pool["east"].requests["GET /1.0/commerce/inventory"]
    pool["north"].sell("OIL", 1)
    report = await run(pool, engine, clock, **breaker)
    assert "circuit open" in report.failed["east"] and report.exit_code == 1
    assert pool["east"].requests["GET /1.0/commerce/inventory"] == asked  # not asked at all
    assert pool["south"].quantity("OIL") == 9  # the others go on
    pool["east"].faults.clear()
    clock.advance(601)
    report = await run(pool, engine, clock, **breaker)
    assert report.exit_code == 0 and converged(pool, "OIL") == 9
    assert ledger.health()["east"].consecutive_failures == 0


async def test_progress_is_reported_per_store(pool, engine, clock):
    """The progress callback hears every page's items and every write, per store."""
    events: list[tuple[str, str, int]] = []
    pool["north"].sell("OIL", 1)
    settings = pool.settings(engine.url.render_as_string(hide_password=False))
    await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports(),
                         progress=lambda store, what, n: events.append((store, what, n)))
    items = {s: sum(n for st, w, n in events if st == s and w == "items") for s in ("north", "south", "east")}
    assert items == {"north": 3, "south": 3, "east": 3}
    writes = {s: n for s, w, n in events if w == "writes"}
    assert writes == {"south": 1, "east": 1}  # first sight seeds 9 and writes the two stores at 10


async def a_cycle_that_breaks_mid_push(pool, engine, clock) -> None:
    def boom(sim: SquarespaceSimulator) -> None:
        raise RuntimeError("the simulator broke mid-cycle")

    pool["east"].variant_of("TEA").quantity = 1
    pool["north"].before_write.append(boom)
    with pytest.raises(RuntimeError):
        await run(pool, engine, clock)


async def test_the_cyclic_collector_is_relaxed_for_a_cycle_and_restored_after(pool, engine, clock):
    """Collections every 100,000 allocations while the cycle builds its objects, the
    thresholds as they were afterwards, even when the cycle fails with an exception."""
    import gc

    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    pool["north"].before_write.append(lambda sim: seen.append(gc.get_threshold()))
    pool["south"].variant_of("OIL").quantity = 7
    await run(pool, engine, clock)
    assert seen and all(t[0] >= 100_000 for t in seen) and gc.isenabled()
    assert gc.get_threshold() == before

    await a_cycle_that_breaks_mid_push(pool, engine, clock)
    assert gc.get_threshold() == before


async def test_a_cycle_hands_its_memory_back_when_it_ends_even_when_it_fails(pool, engine, clock, monkeypatch):
    """release_memory runs once at the end of every cycle, after the collector's
    thresholds are restored, whether the cycle finished or raised."""
    import gc

    import syncd.memory as memory_module

    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(memory_module, "release_memory", lambda: calls.append(gc.get_threshold()) or True)
    pool["south"].variant_of("OIL").quantity = 7
    await run(pool, engine, clock)
    assert calls == [gc.get_threshold()]

    await a_cycle_that_breaks_mid_push(pool, engine, clock)
    assert len(calls) == 2


def test_a_cycle_report_has_a_short_repr_however_big_its_plan():
    """asyncio.run() may repr its main task with its result: a first sync's report must
    not render its whole plan (at 100,000 SKUs × 4 that cost 80 MB and seconds)."""
    from syncd.core import InitialPolicy, Observation, Policy, Snapshot, StorePolicy, StorePull, plan_cycle

    pull = StorePull("a", tuple(Observation("a", f"SKU{i}", f"a{i}", 5) for i in range(5000)))
    plan = plan_cycle(Snapshot({}, {}), [pull], Policy(stores={"a": StorePolicy()}, initial=InitialPolicy.MIN))
    report = CycleReport(cycle_id=1, dry_run=False, pulled={"a": 5000}, plan=plan)
    text = repr(report)
    assert len(text) < 300, text
    assert "5000 journal, 0 writes, 0 conflicts" in text and "cycle_id=1" in text
    assert "plan=<none>" in repr(CycleReport(cycle_id=None, dry_run=True))
