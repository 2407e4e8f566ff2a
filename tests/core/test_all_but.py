"""A steady pull's unchanged SKUs held as the snapshot's SKUs of the store but a few
(``AllBut``): the same set as a frozenset of them, in every way the plan reads it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.core import (
    AllBut,
    InitialPolicy,
    ItemState,
    Policy,
    Snapshot,
    StorePolicy,
    StorePull,
    held_unchanged,
    plan_cycle,
)
from syncd.core.unchanged import membership

SKUS = [f"K{i}" for i in range(12)]


@given(st.sets(st.sampled_from(SKUS)), st.data())
@settings(max_examples=300, deadline=None)
def test_all_but_is_the_set_it_stands_for(keys: set[str], data: st.DataObject) -> None:
    states = {sku: ItemState(f"r-{sku}", 1) for sku in sorted(keys)}
    but = frozenset(data.draw(st.sets(st.sampled_from(sorted(keys))))) if keys else frozenset()
    held, expected = AllBut(states, but), frozenset(keys - but)
    assert set(held) == expected and len(held) == len(expected) and list(held) == sorted(expected)
    assert held == expected and expected == held and hash(held) == hash(expected)
    assert bool(held) is bool(expected)
    for sku in [*SKUS, "other", None, 3]:
        assert (sku in held) is (sku in expected)
        inside, outside = membership(held)
        assert (sku in inside and sku not in outside) is (sku in expected)
    assert (held <= frozenset(keys)) and (frozenset(SKUS) >= held)


@given(st.sets(st.sampled_from(SKUS)), st.lists(st.sampled_from([*SKUS, "X1", "X2"])))
@settings(max_examples=300, deadline=None)
def test_held_unchanged_holds_exactly_the_skus_it_was_given(keys: set[str], skus: list[str]) -> None:
    states = {sku: ItemState(f"r-{sku}", 1) for sku in sorted(keys)}
    held = held_unchanged(skus, states)
    assert held == frozenset(skus) and len(held) == len(set(skus))
    if isinstance(held, AllBut):  # only for most of the store's SKUs, each of them the snapshot's
        assert held.keys is states and set(skus) <= keys and len(set(skus)) * 2 > len(keys)


def test_held_unchanged_keeps_no_set_of_its_own_when_most_are_unchanged() -> None:
    states = {f"K{i}": ItemState(f"r{i}", 5) for i in range(10)}
    everything = held_unchanged([f"K{i}" for i in range(10)], states)
    assert isinstance(everything, AllBut) and everything.keys is states and everything.but == frozenset()
    most = held_unchanged([f"K{i}" for i in range(2, 10)], states)
    assert isinstance(most, AllBut) and most.but == {"K0", "K1"}
    assert type(held_unchanged(["K1", "K2"], states)) is frozenset  # a few: a set of them is smaller
    assert type(held_unchanged([*states, "NEW"], states)) is frozenset  # not all the snapshot's: as given


def test_all_but_refuses_skus_its_keys_do_not_hold() -> None:
    with pytest.raises(ValueError, match="not in 'keys'"):
        AllBut({"K1": ItemState("r1", 1)}, frozenset({"K2"}))


def test_an_all_but_over_another_ledgers_states_is_refused() -> None:
    """The plan checks the SKUs it is given against its own snapshot, not against the
    states they were taken from: SKUs this snapshot holds untracked, or not at all, are
    refused as they would be in a frozenset."""
    snapshot = Snapshot({"K1": 9, "K2": 4, "K5": 2},
                        {("a", "K1"): ItemState("a-K1", 9), ("a", "K2"): ItemState("a-K2", 4),
                         ("a", "K5"): ItemState("a-K5", None)})
    policy = Policy({"a": StorePolicy()}, InitialPolicy.MIN)
    tracked_elsewhere = {"K1": ItemState("a-K1", 9), "K5": ItemState("a-K5", 2)}  # untracked here
    unseeded = {"K1": ItemState("a-K1", 9), "K3": ItemState("a-K3", 1)}  # K3 is not in this ledger
    for states in (tracked_elsewhere, unseeded):
        with pytest.raises(ValueError, match="does not hold as tracked"):
            plan_cycle(snapshot, [StorePull("a", (), (), AllBut(states, frozenset()))], policy)
    plan = plan_cycle(snapshot, [StorePull("a", (), (), AllBut(snapshot.store("a"), frozenset({"K2", "K5"})))],
                      policy)
    assert plan.removed == {("a", "K2"), ("a", "K5")}  # held: K1 only; the others were not shown: gone
