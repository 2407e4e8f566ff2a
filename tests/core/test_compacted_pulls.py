"""Property: a pull compacted by split_unchanged (what the ledger already holds exactly is
kept as a SKU, not an observation) is planned exactly as the full pull is, over random
ledgers and pulls, duplicates (two variants, one SKU) included."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.core import (
    AllBut,
    ConflictKind,
    InitialPolicy,
    ItemIssue,
    ItemState,
    Observation,
    Policy,
    Snapshot,
    StorePolicy,
    StorePull,
    held_unchanged,
    plan_cycle,
    reconcile,
    split_unchanged,
)
from tests.core.test_steady_fast_path import SKUS, STORES, scenarios


def compacted(pulls: list[StorePull], snapshot: Snapshot, *, as_cycle: bool = True) -> list[StorePull]:
    """The pulls compacted as the cycle does (``held_unchanged``: the snapshot's SKUs but
    a few where most are unchanged), or as plain frozensets."""
    out = []
    for pull in pulls:
        kept, same = split_unchanged(pull.observations, snapshot)
        held = held_unchanged(same, snapshot.store(pull.store)) if as_cycle else frozenset(same)
        assert held == frozenset(same)
        out.append(StorePull(pull.store, tuple(kept), pull.issues, held))
    return out


@st.composite
def with_duplicates(draw: st.DrawFn) -> tuple[Snapshot, list[StorePull], Policy]:
    snapshot, pulls, policy = draw(scenarios())
    for i, pull in enumerate(pulls):
        if draw(st.integers(0, 3)) == 0:  # now and then a second variant with one of the SKUs
            sku = draw(st.sampled_from(SKUS))
            if draw(st.booleans()):  # readable
                twin = Observation(pull.store, sku, f"{pull.store}-{sku}-twin", draw(st.integers(0, 9)))
                at = draw(st.integers(0, len(pull.observations)))
                pulls[i] = StorePull(pull.store, (*pull.observations[:at], twin, *pull.observations[at:]),
                                     pull.issues)
            else:  # unreadable
                bad = ItemIssue(pull.store, f"{pull.store}-{sku}-twin", sku, ConflictKind.BAD_DATA, "bad")
                pulls[i] = StorePull(pull.store, pull.observations, (*pull.issues, bad))
    return snapshot, pulls, policy


@given(with_duplicates(), st.booleans())
@settings(max_examples=500, deadline=None)
def test_a_compacted_pull_is_planned_as_the_full_pull(scenario: tuple[Snapshot, list[StorePull], Policy],
                                                      as_cycle: bool) -> None:
    snapshot, pulls, policy = scenario
    small = compacted(pulls, snapshot, as_cycle=as_cycle)
    assert plan_cycle(snapshot, small, policy) == plan_cycle(snapshot, pulls, policy)


def test_a_steady_pull_compacts_to_nothing_and_is_planned_from_the_snapshot() -> None:
    """Guards the property above: in a steady cycle every observation is left out, and
    the plan reads no observation at all (the fully-unchanged path)."""
    snapshot = Snapshot({"K1": 9, "K2": 4}, {(s, k): ItemState(f"{s}-{k}", 9 if k == "K1" else 5)
                                             for s in STORES for k in ("K1", "K2")})
    pulls = [StorePull(s, (Observation(s, "K1", f"{s}-K1", 9), Observation(s, "K2", f"{s}-K2", 5)))
             for s in STORES]
    small = compacted(pulls, snapshot)
    assert all(p.observations == () and p.unchanged == {"K1", "K2"} for p in small)
    assert all(isinstance(p.unchanged, AllBut) and not p.unchanged.but for p in small)  # no set of their own
    policy = Policy({s: StorePolicy() for s in STORES}, InitialPolicy.MIN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reconcile, "_fresh", lambda *a: pytest.fail("an unchanged SKU was rebuilt"))
        plan = plan_cycle(snapshot, small, policy)
    assert [(a.store, a.sku, a.before, a.target) for a in plan.adjustments] == [(s, "K2", 5, 4) for s in STORES]
    assert plan == plan_cycle(snapshot, pulls, policy)


@pytest.mark.parametrize(("case", "message"), [
    ("not in the ledger", "does not hold as tracked"),
    ("unlimited in the ledger", "does not hold as tracked"),
    ("seeded, but no pair in this store", "does not hold as tracked"),
    ("a pair, but not seeded", "does not hold as tracked"),
    ("aliased store", "aliases"),
])
def test_a_pull_compacted_against_another_ledger_is_refused(case: str, message: str) -> None:
    """A SKU marked unchanged must name a tracked pair of this snapshot, in a store
    without aliases; anything else would plan from the wrong state."""
    snapshot = Snapshot({"K1": 9}, {("a", "K1"): ItemState("a-K1", 9), ("a", "K2"): ItemState("a-K2", None)})
    policy = Policy({"a": StorePolicy()}, InitialPolicy.MIN)
    unchanged = frozenset({"K1"})
    if case == "not in the ledger":
        unchanged = frozenset({"K1", "K9"})
    elif case == "unlimited in the ledger":
        snapshot = Snapshot({"K1": 9, "K2": 0}, snapshot.items)
        unchanged = frozenset({"K2"})
    elif case == "seeded, but no pair in this store":
        snapshot = Snapshot({"K1": 9, "K3": 4}, {**snapshot.items, ("b", "K3"): ItemState("b-K3", 4)})
        unchanged = frozenset({"K1", "K3"})
    elif case == "a pair, but not seeded":
        snapshot = Snapshot({"K1": 9}, {**snapshot.items, ("a", "K4"): ItemState("a-K4", 4)})
        unchanged = frozenset({"K1", "K4"})
    else:
        policy = Policy({"a": StorePolicy()}, InitialPolicy.MIN, aliases={"a": {"OLD": "K1"}})
    with pytest.raises(ValueError, match=message):
        plan_cycle(snapshot, [StorePull("a", (), (), unchanged)], policy)
