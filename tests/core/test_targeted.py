"""Targeted cycles plan exactly what a full cycle plans for their SKUs when nothing
outside them changed; an item a store did not answer for is left to the full cycle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.core import (
    ConflictKind,
    InitialPolicy,
    ItemState,
    Observation,
    PairMap,
    Policy,
    Snapshot,
    StorePolicy,
    StorePull,
    TargetedRead,
    plan_cycle,
    plan_targeted,
    remote_ids_of,
)

STORES = ("a", "b", "c")
SKUS = [f"S{i}" for i in range(8)]


def policy(master: str | None = None, buffers: dict[str, int] | None = None, cap: int | None = None) -> Policy:
    return Policy(stores={s: StorePolicy(buffer=(buffers or {}).get(s, 0)) for s in STORES},
                  initial=InitialPolicy.MIN, master=master, max_change=cap)


def restrict(snapshot: Snapshot, skus: set[str]) -> Snapshot:
    return Snapshot(available={k: v for k, v in snapshot.available.items() if k in skus},
                    items=PairMap({s: {k: v for k, v in snapshot.store(s).items() if k in skus} for s in STORES}))


quantity = st.one_of(st.integers(min_value=-3, max_value=20), st.none())


@st.composite
def worlds(draw):
    """A ledger snapshot, the stores as they are now (only some SKUs changed), the scope."""
    available, stores, now = {}, {s: {} for s in STORES}, {s: {} for s in STORES}
    for sku in SKUS:
        carried = draw(st.lists(st.sampled_from(STORES), min_size=1, max_size=3, unique=True))
        unlimited = draw(st.booleans()) and draw(st.booleans())
        available[sku] = draw(st.integers(min_value=-2, max_value=15))
        for store in carried:
            expected = None if unlimited else draw(st.integers(min_value=0, max_value=15))
            stores[store][sku] = ItemState(f"{store}-{sku}", expected)
    changed = draw(st.sets(st.sampled_from(SKUS), max_size=5))
    scope = changed | draw(st.sets(st.sampled_from(SKUS), max_size=3))
    for store in STORES:
        for sku, state in stores[store].items():
            now[store][sku] = draw(quantity) if sku in changed else state.expected
    snapshot = Snapshot(available=available, items=PairMap(stores))
    return snapshot, now, scope, draw(st.sampled_from([None, "a"])), draw(st.sampled_from([None, 5]))


def by_sku(plan, skus):
    return (
        sorted((e.sku, e.store, e.delta, e.reason) for e in plan.journal if e.sku in skus),
        {k: v for k, v in plan.available.items() if k in skus},
        sorted((a.store, a.sku, a.before, a.target) for a in plan.adjustments if a.sku in skus),
        sorted((s, k, v) for (s, k), v in plan.items.items() if k in skus),
        sorted(c.fingerprint for c in plan.conflicts if c.sku in skus),
    )


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_a_targeted_plan_is_the_full_plan_of_its_skus(world):
    snapshot, now, scope, master, cap = world
    pol = policy(master=master, cap=cap)
    full = plan_cycle(snapshot, [StorePull(s, tuple(Observation(s, k, f"{s}-{k}", q) for k, q in now[s].items()))
                                 for s in STORES], pol)
    scoped = restrict(snapshot, scope)
    reads = [TargetedRead(s, {f"{s}-{k}": now[s][k] for k in scoped.store(s)}) for s in STORES]
    targeted = plan_targeted(scoped, reads, pol)
    assert targeted.scope == frozenset(scope)
    assert by_sku(targeted, scope) == by_sku(full, scope)
    assert by_sku(targeted, set(SKUS) - scope) == ([], {}, [], [], [])


def test_a_store_that_does_not_answer_for_an_item_leaves_the_sku_to_the_full_cycle():
    snapshot = Snapshot(available={"X": 10, "Y": 10},
                        items={(s, k): ItemState(f"{s}-{k}", 10) for s in STORES for k in ("X", "Y")})
    reads = [TargetedRead("a", {"a-X": 7, "a-Y": 9}), TargetedRead("b", {"b-Y": 10}),  # b-X not answered
             TargetedRead("c", {"c-X": 10, "c-Y": 10})]
    plan = plan_targeted(snapshot, reads, policy())
    assert plan.scope == frozenset({"Y"})
    assert [(e.sku, e.store, e.delta) for e in plan.journal] == [("Y", "a", -1)]
    assert sorted((a.store, a.sku, a.target) for a in plan.adjustments) == [("b", "Y", 9), ("c", "Y", 9)]


def test_a_store_not_read_keeps_its_state_and_is_not_written():
    """As in a full cycle whose pull of that store failed."""
    snapshot = Snapshot(available={"X": 10}, items={(s, "X"): ItemState(f"{s}-X", 10) for s in STORES})
    plan = plan_targeted(snapshot, [TargetedRead("a", {"a-X": 8}), TargetedRead("b", {"b-X": 10})], policy())
    assert plan.available == {"X": 8} and not plan.complete
    assert sorted((a.store, a.target) for a in plan.adjustments) == [("b", 8)]


def test_an_echo_of_our_own_write_plans_nothing():
    """syncd's own write comes back as an event: the re-read finds every store as expected."""
    snapshot = Snapshot(available={"X": 8}, items={(s, "X"): ItemState(f"{s}-X", 8) for s in STORES})
    plan = plan_targeted(snapshot, [TargetedRead(s, {f"{s}-X": 8}) for s in STORES], policy())
    assert not plan.journal and not plan.adjustments and not plan.conflicts


def test_a_negative_count_read_by_an_event_is_a_sale():
    snapshot = Snapshot(available={"X": 2}, items={(s, "X"): ItemState(f"{s}-X", 2) for s in STORES})
    plan = plan_targeted(snapshot, [TargetedRead("a", {"a-X": -1}), TargetedRead("b", {"b-X": 2}),
                                    TargetedRead("c", {"c-X": 2})], policy())
    assert plan.available == {"X": -1}
    assert [c.kind for c in plan.conflicts] == [ConflictKind.OVERSOLD]
    assert sorted((a.store, a.target) for a in plan.adjustments) == [("a", 0), ("b", 0), ("c", 0)]


def test_remote_ids_of_a_store():
    snapshot = Snapshot(available={"X": 1, "Y": 1},
                        items={("a", "X"): ItemState("1", 1), ("a", "Y"): ItemState("2", 1)})
    assert remote_ids_of(snapshot, "a") == ["1", "2"] and remote_ids_of(snapshot, "b") == []
