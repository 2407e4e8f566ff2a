"""Table tests of every DESIGN rule, against the pure core only."""

from __future__ import annotations

import pytest

from syncd.core import (
    Adjustment,
    ConflictKind,
    InitialPolicy,
    ItemIssue,
    ItemState,
    Observation,
    Plan,
    Policy,
    Snapshot,
    StorePolicy,
    StorePull,
    WriteMode,
    plan_cycle,
)

STORES = ("a", "b", "c")


def policy(initial: str = "min", master: str | None = None, **buffers: int) -> Policy:
    return Policy(
        stores={s: StorePolicy(buffer=buffers.get(s, 0)) for s in STORES},
        initial=InitialPolicy(initial),
        master=master,
    )


def pull(store: str, *items: tuple[str, int | None], issues: tuple[ItemIssue, ...] = ()) -> StorePull:
    obs = tuple(Observation(store, sku, f"{store}-{sku}", q) for sku, q in items)
    return StorePull(store, obs, issues)


def snap(available: dict[str, int], **items: dict[str, int | None]) -> Snapshot:
    pairs = {
        (store, sku): ItemState(f"{store}-{sku}", q)
        for store, per in items.items()
        for sku, q in per.items()
    }
    return Snapshot(available=available, items=pairs)


EMPTY = Snapshot(available={}, items={})


def writes(plan: Plan) -> dict[tuple[str, str], int]:
    return {(a.store, a.sku): a.target for a in plan.adjustments}


def kinds(plan: Plan) -> list[tuple[ConflictKind, str | None, str | None]]:
    return [(c.kind, c.store, c.sku) for c in plan.conflicts]


def assert_conserved(before: Snapshot, plan: Plan) -> None:
    """Conservation: every change of available equals the sum of its journal rows."""
    for sku, value in plan.available.items():
        journaled = sum(e.delta for e in plan.journal if e.sku == sku)
        assert value == before.available.get(sku, 0) + journaled, sku
    for entry in plan.journal:
        assert entry.sku in plan.available or entry.delta == 0


# --- Delta accounting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "available_after", "journal"),
    [
        ({"a": 10, "b": 10, "c": 10}, None, []),  # nothing happened
        ({"a": 7, "b": 10, "c": 10}, 7, [("a", -3, "sale")]),
        ({"a": 7, "b": 9, "c": 10}, 6, [("a", -3, "sale"), ("b", -1, "sale")]),
        ({"a": 12, "b": 10, "c": 10}, 12, [("a", 2, "restock")]),
        ({"a": 12, "b": 9, "c": 10}, 11, [("a", 2, "restock"), ("b", -1, "sale")]),
    ],
)
def test_deltas_are_absorbed_once(observed, available_after, journal):
    """available += Σ(observed − expected); expected := observed; one row per delta."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    plan = plan_cycle(before, [pull(s, ("X", q)) for s, q in observed.items()], policy())
    assert plan.available.get("X") == available_after
    assert [(e.store, e.delta, e.reason) for e in plan.journal] == journal
    for store, q in observed.items():
        if q != 10:
            assert plan.items[(store, "X")].expected == q
    target = available_after if available_after is not None else 10
    assert writes(plan) == {(s, "X"): target for s, q in observed.items() if q != target}
    assert_conserved(before, plan)


def test_relative_write_carries_the_delta_from_what_was_pulled():
    """The adjustment records before (as pulled) and target; delta = target − before."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    plan = plan_cycle(before, [pull("a", ("X", 8)), pull("b", ("X", 10)), pull("c", ("X", 10))], policy())
    assert set(plan.adjustments) == {
        Adjustment("b", "X", "b-X", 10, 8, WriteMode.RELATIVE),
        Adjustment("c", "X", "c-X", 10, 8, WriteMode.RELATIVE),
    }
    assert {a.delta for a in plan.adjustments} == {-2}


def test_a_failed_store_keeps_its_state_and_is_not_written():
    """A store whose pull failed is left out: no delta, no write, no state change."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    plan = plan_cycle(before, [pull("a", ("X", 9)), pull("b", ("X", 10))], policy())
    assert plan.available["X"] == 9
    assert writes(plan) == {("b", "X"): 9}
    assert ("c", "X") not in plan.items and ("c", "X") not in plan.removed
    assert not plan.complete


# --- First sight ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "master", "seed", "reason"),
    [
        ("min", None, 4, "seed:min"),
        ("max", None, 9, "seed:max"),
        ("master", "b", 6, "seed:master"),
    ],
)
def test_first_sight_seeds_by_policy(initial, master, seed, reason):
    """A new SKU gets available from the initial policy; the seed is journaled."""
    pulls = [pull("a", ("X", 4)), pull("b", ("X", 6)), pull("c", ("X", 9))]
    plan = plan_cycle(EMPTY, pulls, policy(initial, master))
    assert plan.available == {"X": seed}
    assert [(e.store, e.delta, e.reason) for e in plan.journal] == [(None, seed, reason)]
    assert writes(plan) == {(s, "X"): seed for s, q in zip(STORES, (4, 6, 9), strict=True) if q != seed}
    assert {k: v.expected for k, v in plan.items.items()} == {
        ("a", "X"): 4, ("b", "X"): 6, ("c", "X"): 9
    }
    assert_conserved(EMPTY, plan)


def test_master_policy_falls_back_to_min_when_master_lacks_the_sku():
    """initial=master on a SKU the master does not carry seeds with min, and says so."""
    plan = plan_cycle(EMPTY, [pull("a", ("X", 4)), pull("b"), pull("c", ("X", 9))], policy("master", "b"))
    assert plan.available == {"X": 4}
    assert plan.journal[0].reason == "seed:min(master lacks sku)"


def test_first_sight_waits_for_a_cycle_that_pulled_every_store():
    """A new SKU is not seeded (nor written) while any enabled store failed to pull."""
    plan = plan_cycle(EMPTY, [pull("a", ("X", 4)), pull("b", ("X", 6))], policy())
    assert plan.available == {} and plan.journal == () and plan.adjustments == ()
    assert plan.unseeded == ("X",)


def test_first_sight_waits_while_an_item_is_unreadable():
    """A new SKU with a bad quantity in one store is not seeded from the others."""
    bad = ItemIssue("c", "c-X", "X", ConflictKind.BAD_DATA, "quantity -1 is negative")
    plan = plan_cycle(EMPTY, [pull("a", ("X", 4)), pull("b", ("X", 6)), pull("c", issues=(bad,))], policy())
    assert plan.available == {} and plan.unseeded == ("X",)
    assert (ConflictKind.BAD_DATA, "c", "X") in kinds(plan)


def test_first_sight_of_a_sku_in_some_stores_reports_the_others_missing():
    """Seeding over the stores that carry it; the others get one missing conflict."""
    plan = plan_cycle(EMPTY, [pull("a", ("X", 4)), pull("b", ("X", 6)), pull("c")], policy())
    assert plan.available == {"X": 4}
    assert kinds(plan) == [(ConflictKind.MISSING, "c", "X")]


def test_a_store_new_to_a_known_sku_is_not_a_delta():
    """First sight of a pair for a known SKU: expected := observed, written to target."""
    before = snap({"X": 5}, a={"X": 5}, b={"X": 5})
    plan = plan_cycle(before, [pull("a", ("X", 5)), pull("b", ("X", 5)), pull("c", ("X", 40))], policy())
    assert plan.journal == () and "X" not in plan.available
    assert plan.items[("c", "X")] == ItemState("c-X", 40)
    assert writes(plan) == {("c", "X"): 5}


def test_a_sku_that_disappears_from_a_store_stops_being_written_there():
    """The pair is removed and reported missing; a return later is a first sight of the pair."""
    before = snap({"X": 5}, a={"X": 5}, b={"X": 5}, c={"X": 5})
    plan = plan_cycle(before, [pull("a", ("X", 4)), pull("b", ("X", 5)), pull("c")], policy())
    assert plan.removed == {("c", "X")}
    assert writes(plan) == {("b", "X"): 4}
    assert (ConflictKind.MISSING, "c", "X") in kinds(plan)
    after = snap({"X": 4}, a={"X": 4}, b={"X": 4})
    back = plan_cycle(after, [pull("a", ("X", 4)), pull("b", ("X", 4)), pull("c", ("X", 9))], policy())
    assert back.journal == () and writes(back) == {("c", "X"): 4}


def test_a_new_variant_for_a_sku_is_a_new_pair():
    """When another variant carries the SKU in a store, its quantity is not a delta."""
    before = snap({"X": 5}, a={"X": 5}, b={"X": 5}, c={"X": 5})
    moved = StorePull("c", (Observation("c", "X", "c-new", 30),))
    plan = plan_cycle(before, [pull("a", ("X", 5)), pull("b", ("X", 5)), moved], policy())
    assert plan.journal == ()
    assert plan.items[("c", "X")] == ItemState("c-new", 30)
    assert writes(plan) == {("c", "X"): 5}


# --- Master store -----------------------------------------------------------------------


def test_master_a_positive_delta_elsewhere_is_a_conflict_and_written_back():
    """unexpected_increase: not added to available; the store is written back to target."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    plan = plan_cycle(before, [pull("a", ("X", 10)), pull("b", ("X", 13)), pull("c", ("X", 10))], policy(master="a"))
    assert "X" not in plan.available and plan.journal == ()
    assert kinds(plan) == [(ConflictKind.UNEXPECTED_INCREASE, "b", "X")]
    assert plan.items[("b", "X")].expected == 13
    assert writes(plan) == {("b", "X"): 10}


def test_master_sales_count_everywhere_and_master_restocks_count():
    """Negative deltas count on every store; a positive delta on the master counts."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    plan = plan_cycle(before, [pull("a", ("X", 15)), pull("b", ("X", 8)), pull("c", ("X", 10))], policy(master="a"))
    assert plan.available["X"] == 13
    assert [(e.store, e.delta) for e in plan.journal] == [("a", 5), ("b", -2)]
    assert kinds(plan) == []


# --- Buffers and oversold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("available", "buffer", "target"),
    [(10, 0, 10), (10, 3, 7), (3, 3, 0), (2, 5, 0), (0, 0, 0)],
)
def test_buffer_target(available, buffer, target):
    """target = max(0, available − buffer)."""
    before = snap({"X": available}, a={"X": available}, b={"X": available}, c={"X": available})
    plan = plan_cycle(before, [pull(s, ("X", available)) for s in STORES], policy(b=buffer))
    expected = {("b", "X"): target} if target != available else {}
    assert writes(plan) == expected


def test_oversold_clamps_targets_and_keeps_the_debt():
    """available < 0: targets 0, an oversold conflict with the shortfall, debt kept."""
    before = snap({"X": 1}, a={"X": 1}, b={"X": 1}, c={"X": 1})
    plan = plan_cycle(before, [pull("a", ("X", 0)), pull("b", ("X", 0)), pull("c", ("X", 0))], policy())
    assert plan.available["X"] == -2
    assert kinds(plan) == [(ConflictKind.OVERSOLD, None, "X")]
    assert plan.conflicts[0].data["oversold_by"] == 2
    assert writes(plan) == {}
    later = snap({"X": -2}, a={"X": 0}, b={"X": 0}, c={"X": 0})
    restock = plan_cycle(later, [pull("a", ("X", 5)), pull("b", ("X", 0)), pull("c", ("X", 0))], policy())
    assert restock.available["X"] == 3
    assert writes(restock) == {("a", "X"): 3, ("b", "X"): 3, ("c", "X"): 3}


# --- Unlimited --------------------------------------------------------------------------


def test_tracking_mismatch_is_a_conflict_and_nothing_is_written():
    """Unlimited in one store, tracked in another: conflict, no writes, sales still counted."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    plan = plan_cycle(before, [pull("a", ("X", 8)), pull("b", ("X", None)), pull("c", ("X", 10))], policy())
    assert kinds(plan) == [(ConflictKind.TRACKING_MISMATCH, None, "X")]
    assert writes(plan) == {}
    assert plan.available["X"] == 8
    assert plan.items[("b", "X")].expected is None


def test_tracking_mismatch_on_first_sight_is_not_seeded():
    """A new SKU unlimited somewhere and tracked elsewhere waits, reported."""
    plan = plan_cycle(EMPTY, [pull("a", ("X", 8)), pull("b", ("X", None)), pull("c", ("X", 3))], policy())
    assert plan.available == {} and plan.adjustments == ()
    assert kinds(plan) == [(ConflictKind.TRACKING_MISMATCH, None, "X")]


def test_unlimited_everywhere_is_nothing_to_do():
    """No seed, no write, no conflict."""
    plan = plan_cycle(EMPTY, [pull(s, ("X", None)) for s in STORES], policy())
    assert plan.available == {} and plan.adjustments == () and plan.conflicts == ()


def test_tracking_mismatch_sees_a_store_not_pulled_this_cycle():
    """A store that was unlimited at its last pull still counts as unlimited."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": None})
    plan = plan_cycle(before, [pull("a", ("X", 9)), pull("b", ("X", 10))], policy())
    assert kinds(plan) == [(ConflictKind.TRACKING_MISMATCH, None, "X")]
    assert writes(plan) == {}


def test_a_store_that_starts_tracking_again_is_written_to_target():
    """Unlimited → tracked is a new pair: expected := observed, no delta."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": None})
    plan = plan_cycle(before, [pull("a", ("X", 10)), pull("b", ("X", 10)), pull("c", ("X", 50))], policy())
    assert plan.journal == () and writes(plan) == {("c", "X"): 10}


# --- Duplicates, unmapped, bad data -----------------------------------------------------


def test_duplicate_sku_in_one_store_skips_it_in_the_whole_pool():
    """Two variants, one SKU, one store: nothing about the SKU changes anywhere."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    dup = StorePull("b", (Observation("b", "X", "b-X", 7), Observation("b", "X", "b-X2", 3)))
    plan = plan_cycle(before, [pull("a", ("X", 6)), dup, pull("c", ("X", 10))], policy())
    assert kinds(plan) == [(ConflictKind.DUPLICATE_SKU, "b", "X")]
    assert plan.conflicts[0].data["remote_ids"] == ["b-X", "b-X2"]
    assert plan.journal == () and plan.adjustments == () and plan.items == {}


def test_unmapped_variant_is_reported():
    """A variant with no SKU is a conflict named by its remote id."""
    issue = ItemIssue("a", "v-99", None, ConflictKind.UNMAPPED, "variant has no SKU")
    plan = plan_cycle(EMPTY, [pull("a", issues=(issue,)), pull("b"), pull("c")], policy())
    assert kinds(plan) == [(ConflictKind.UNMAPPED, "a", None)]
    assert plan.conflicts[0].subject == "v-99"


def test_bad_quantity_leaves_the_pair_untouched():
    """Bad data: a conflict; that pair keeps its expected and is not written; others go on."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    bad = ItemIssue("c", "c-X", "X", ConflictKind.BAD_DATA, "quantity 2.5 is not an integer")
    plan = plan_cycle(before, [pull("a", ("X", 9)), pull("b", ("X", 10)), pull("c", issues=(bad,))], policy())
    assert plan.available["X"] == 9
    assert ("c", "X") not in plan.items and ("c", "X") not in plan.removed
    assert writes(plan) == {("b", "X"): 9}
    assert kinds(plan) == [(ConflictKind.BAD_DATA, "c", "X")]


def test_pulls_from_unknown_stores_are_refused():
    """A programming error, not a data problem: the caller passed a store not in the pool."""
    with pytest.raises(ValueError, match="zz"):
        plan_cycle(EMPTY, [pull("zz", ("X", 1))], policy())


def test_steady_cycle_plans_nothing():
    """Nothing changed since last time: no journal, no state, no writes."""
    before = snap({"X": 3, "Y": 0}, a={"X": 3, "Y": 0}, b={"X": 3, "Y": 0}, c={"X": 3, "Y": 0})
    plan = plan_cycle(before, [pull(s, ("X", 3), ("Y", 0)) for s in STORES], policy())
    assert plan.journal == () and plan.items == {} and plan.available == {}
    assert plan.adjustments == () and plan.removed == frozenset()


# --- Safety rail ------------------------------------------------------------------------


def test_a_sku_moving_more_than_the_cap_is_held_untouched():
    """A store answering garbage zeros: over the cap, nothing absorbed, nothing written."""
    before = snap({"X": 500}, a={"X": 500}, b={"X": 500}, c={"X": 500})
    capped = Policy(stores={s: StorePolicy() for s in STORES}, max_change=100)
    plan = plan_cycle(before, [pull("a", ("X", 0)), pull("b", ("X", 500)), pull("c", ("X", 500))], capped)
    assert kinds(plan) == [(ConflictKind.CHANGE_CAP, None, "X")]
    assert plan.conflicts[0].data["changes"] == {"a": -500}
    assert plan.journal == () and plan.items == {} and plan.adjustments == () and "X" in plan.skipped


def test_changes_within_the_cap_go_through():
    """Σ|delta| = 100 with a cap of 100 is a normal cycle."""
    before = snap({"X": 500}, a={"X": 500}, b={"X": 500}, c={"X": 500})
    capped = Policy(stores={s: StorePolicy() for s in STORES}, max_change=100)
    plan = plan_cycle(before, [pull("a", ("X", 450)), pull("b", ("X", 550)), pull("c", ("X", 500))], capped)
    assert [(e.store, e.delta) for e in plan.journal] == [("a", -50), ("b", 50)]
    assert kinds(plan) == [] and "X" not in plan.skipped


# --- SKU aliases ------------------------------------------------------------------------


def aliased(**tables: dict[str, str]) -> Policy:
    return Policy(stores={s: StorePolicy() for s in STORES}, aliases=tables)


def test_an_alias_joins_a_store_sku_to_the_canonical_one():
    """Store c calls it 'x-500'; the pool calls it X: one SKU, one delta, written by c's id."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    c = StorePull("c", (Observation("c", "x-500", "c-X", 8),))
    plan = plan_cycle(before, [pull("a", ("X", 10)), pull("b", ("X", 10)), c], aliased(c={"x-500": "X"}))
    assert [(e.store, e.delta) for e in plan.journal] == [("c", -2)]
    assert writes(plan) == {("a", "X"): 8, ("b", "X"): 8}
    assert kinds(plan) == []


def test_two_aliases_onto_one_sku_in_a_store_collide():
    """Both of c's variants would be X: a collision, and X is skipped as a duplicate."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    c = StorePull("c", (Observation("c", "x-500", "c-1", 8), Observation("c", "X", "c-X", 10)))
    plan = plan_cycle(before, [pull("a", ("X", 10)), pull("b", ("X", 10)), c], aliased(c={"x-500": "X"}))
    assert (ConflictKind.ALIAS_COLLISION, "c", "X") in kinds(plan)
    assert (ConflictKind.DUPLICATE_SKU, "c", "X") in kinds(plan)
    assert plan.journal == () and plan.adjustments == ()


def test_an_alias_that_points_at_nothing_is_reported():
    """c maps 'y' to 'Y', which no other store and no ledger entry has."""
    before = snap({"X": 10}, a={"X": 10}, b={"X": 10}, c={"X": 10})
    c = StorePull("c", (Observation("c", "X", "c-X", 10), Observation("c", "y", "c-y", 3)))
    plan = plan_cycle(before, [pull("a", ("X", 10)), pull("b", ("X", 10)), c], aliased(c={"y": "Y"}))
    assert (ConflictKind.ALIAS_DANGLING, "c", "Y") in kinds(plan)


# --- Negative counts where the platform allows them -------------------------------------


@pytest.mark.parametrize(
    ("before", "observed", "available_after", "targets", "oversold_by"),
    [
        # Shopify / Wix V3: paid orders drove store a from 10 to −2: a sale of 12, not bad data
        (10, {"a": -2, "b": 10, "c": 10}, -2, {("a", "SKU"): 0, ("b", "SKU"): 0, ("c", "SKU"): 0}, 2),
        # store a already written to 0 and oversold again: −3 is a sale of 3 more
        (0, {"a": -3, "b": 0, "c": 0}, -5, {("a", "SKU"): 0}, 5),
        # a restock of 7 on store a pays the debt of 2 first
        (0, {"a": 7, "b": 0, "c": 0}, 5, {("a", "SKU"): 5, ("b", "SKU"): 5, ("c", "SKU"): 5}, None),
    ],
)
def test_a_negative_count_is_a_sale_and_the_store_is_written_to_a_target_never_below_0(
        before, observed, available_after, targets, oversold_by):
    start = snap({"SKU": before if before else -2}, **{s: {"SKU": before} for s in STORES})
    plan = plan_cycle(start, [pull(s, ("SKU", q)) for s, q in observed.items()], policy())
    assert plan.available["SKU"] == available_after
    assert writes(plan) == targets
    assert_conserved(start, plan)
    assert [e.reason for e in plan.journal if e.store == "a"] == ["sale" if observed["a"] < before else "restock"]
    oversold = [c.data["oversold_by"] for c in plan.conflicts if c.kind == ConflictKind.OVERSOLD]
    assert oversold == ([oversold_by] if oversold_by else [])
    assert kinds(plan) == [(ConflictKind.OVERSOLD, None, "SKU")] * len(oversold)  # nothing else: no bad_data


def test_first_sight_of_a_negative_count_seeds_an_oversold_sku():
    """min over (−2, 10, 18) = −2: the pool is oversold by 2, nothing is listed anywhere."""
    plan = plan_cycle(EMPTY, [pull("a", ("SKU", -2)), pull("b", ("SKU", 10)), pull("c", ("SKU", 18))], policy())
    assert plan.available["SKU"] == -2
    assert writes(plan) == {("b", "SKU"): 0, ("c", "SKU"): 0, ("a", "SKU"): 0}
    assert ConflictKind.OVERSOLD in [k[0] for k in kinds(plan)]
