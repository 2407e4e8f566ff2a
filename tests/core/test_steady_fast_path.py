"""Property: the steady-cycle fast path in plan_cycle decides exactly what the general
rules decide, over random ledgers and pulls (unchanged, sold, restocked, unlimited,
missing, re-keyed, unreadable items; stores left out of the cycle; buffers and caps)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.core import (
    ConflictKind,
    InitialPolicy,
    ItemIssue,
    ItemState,
    Observation,
    Policy,
    Snapshot,
    StorePolicy,
    StorePull,
    plan_cycle,
    reconcile,
)

STORES = ("a", "b", "c")
SKUS = ("K1", "K2", "K3", "K4")

quantity = st.integers(min_value=-1, max_value=12).map(lambda q: None if q < 0 else q)  # None: unlimited
# What a store shows for a SKU relative to the ledger: mostly the same (the steady case
# the fast path is for), else a change, another variant, not carried, unreadable.
shown = st.sampled_from(["same"] * 12 + ["changed", "rekeyed", "absent", "bad"])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Snapshot, list[StorePull], Policy]:
    available: dict[str, int] = {}
    items: dict[tuple[str, str], ItemState] = {}
    for sku in SKUS:
        if draw(st.booleans()) or sku == "K1":
            available[sku] = draw(st.integers(min_value=-3, max_value=20))
            for store in STORES:
                if draw(st.integers(0, 5)):
                    items[(store, sku)] = ItemState(f"{store}-{sku}", draw(quantity))
    pulled = [s for s in STORES if draw(st.integers(0, 6))]  # mostly every store
    pulls = []
    for store in pulled:
        obs, issues = [], []
        for sku in SKUS:
            prev = items.get((store, sku))
            how = draw(shown)
            if how == "absent":
                continue
            if how == "bad":
                issues.append(ItemIssue(store, f"{store}-{sku}", sku, ConflictKind.BAD_DATA, "bad"))
                continue
            rid = f"{store}-{sku}" if how != "rekeyed" else f"{store}-{sku}-2"
            # a re-keyed item keeps the quantity: only its remote id tells it apart
            qty = prev.expected if (prev is not None and how in ("same", "rekeyed")) else draw(quantity)
            obs.append(Observation(store, sku, rid, qty))
        pulls.append(StorePull(store, tuple(obs), tuple(issues)))
    stores = {s: StorePolicy(buffer=draw(st.integers(0, 2)), buffer_percent=draw(st.sampled_from([0, 0, 10])),
                             max_listed=draw(st.sampled_from([None, None, 5]))) for s in STORES}
    policy = Policy(stores, InitialPolicy.MIN, master=draw(st.sampled_from([None, "a"])),
                    max_change=draw(st.sampled_from([None, 4])))
    return Snapshot(available, items), pulls, policy


@given(scenarios())
@settings(max_examples=400, deadline=None)
def test_fast_path_plans_what_the_general_rules_plan(scenario: tuple[Snapshot, list[StorePull], Policy]) -> None:
    snapshot, pulls, policy = scenario
    fast = plan_cycle(snapshot, pulls, policy)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reconcile, "_unchanged", lambda *a: False)
        general = plan_cycle(snapshot, pulls, policy)
    assert fast == general


def test_the_fast_path_is_taken_in_a_steady_cycle() -> None:
    """Guards the property above against a fast path that is never used."""
    snapshot = Snapshot({"K1": 9}, {(s, "K1"): ItemState(f"{s}-K1", 9) for s in STORES})
    pulls = [StorePull(s, (Observation(s, "K1", f"{s}-K1", 9),)) for s in STORES]
    policy = Policy({s: StorePolicy() for s in STORES}, InitialPolicy.MIN)
    calls: list[bool] = []
    original = reconcile._unchanged
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reconcile, "_unchanged", lambda *a: calls.append(original(*a)) or calls[-1])
        plan = plan_cycle(snapshot, pulls, policy)
    assert calls == [True]
    assert plan.adjustments == () and plan.journal == ()


def test_a_store_left_out_of_the_cycle_still_counts_for_the_tracking_rule() -> None:
    """A and B steady; C (not pulled this cycle) was last seen unlimited: the tracking
    mismatch holds the SKU, on the fast path as on the general one."""
    items = {(s, "K1"): ItemState(f"{s}-K1", 9) for s in ("a", "b")} | {("c", "K1"): ItemState("c-K1", None)}
    snapshot = Snapshot({"K1": 9}, items)
    pulls = [StorePull(s, (Observation(s, "K1", f"{s}-K1", 9),)) for s in ("a", "b")]
    policy = Policy({s: StorePolicy(buffer=1) for s in STORES}, InitialPolicy.MIN)
    plan = plan_cycle(snapshot, pulls, policy)
    assert [c.kind for c in plan.conflicts] == [ConflictKind.TRACKING_MISMATCH]
    assert plan.adjustments == ()
