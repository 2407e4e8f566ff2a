"""plan_cycle(): DESIGN's rules as one pure function. Plain data in, a Plan out.

No I/O, no clock, no logging: conflicts are values in the plan. Each rule is tagged
with the DESIGN rule it implements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from .aliases import apply_aliases
from .model import (
    Adjustment,
    Conflict,
    ConflictKind,
    ItemState,
    JournalEntry,
    Observation,
    PairMap,
    Plan,
    Policy,
    Quantity,
    Sku,
    Snapshot,
    StoreName,
    StorePull,
)
from .seeding import seed_quantity
from .targets import StoreRules, oversold_conflict, plan_writes, store_rules
from .unchanged import check_unchanged, membership

__all__ = ["plan_cycle"]

Pair = tuple[StoreName, Sku]


@dataclass
class _Index:
    """This cycle's pulls, indexed by SKU."""

    pulled: frozenset[StoreName]
    # compacted SKUs by store (a SKU is held if in the first and not in the second, see
    # ``membership``), with the snapshot's states of that store
    held: list[tuple[StoreName, Container[Sku], AbstractSet[Sku], Mapping[Sku, ItemState]]] = field(
        default_factory=list)
    by_sku: dict[Sku, dict[StoreName, Observation]] = field(default_factory=dict)
    duplicates: dict[Sku, dict[StoreName, set[str]]] = field(default_factory=dict)
    bad: set[Pair] = field(default_factory=set)
    bad_skus: set[Sku] = field(default_factory=set)


@dataclass
class _Builder:
    journal: list[JournalEntry] = field(default_factory=list)
    available: dict[Sku, int] = field(default_factory=dict)
    items: dict[StoreName, dict[Sku, ItemState]] = field(default_factory=dict)  # a PairMap's stores
    removed: set[Pair] = field(default_factory=set)
    adjustments: list[Adjustment] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unseeded: list[Sku] = field(default_factory=list)
    skipped: set[Sku] = field(default_factory=set)
    rules: StoreRules = field(default_factory=dict)  # each store's target rule and write mode

    def put(self, store: StoreName, sku: Sku, state: ItemState) -> None:
        self.items.setdefault(store, {})[sku] = state


def plan_cycle(snapshot: Snapshot, pulls: Iterable[StorePull], policy: Policy) -> Plan:
    """Decide one cycle: absorb every delta once, seed new SKUs, plan writes to targets.

    ``pulls`` holds only the stores whose pull succeeded; a store left out keeps its
    ledger state untouched. Returns the journal, the changed state and the writes.
    """
    pull_list = list(pulls)
    unknown = {p.store for p in pull_list} - set(policy.stores)
    if unknown:
        raise ValueError(f"pulls from stores not in the policy: {sorted(unknown)}")
    out = _Builder(rules=store_rules(policy))
    if policy.aliases:
        # SKU aliases: every rule below sees canonical SKUs only.
        pull_list, alias_conflicts = apply_aliases(pull_list, policy.aliases, snapshot.available)
        out.conflicts.extend(alias_conflicts)
    index = _index(pull_list, snapshot, check_unchanged(pull_list, snapshot, policy))
    for pull in pull_list:
        _report_issues(pull, out)
    skus = set(index.by_sku) | set(snapshot.available) | index.bad_skus
    complete = index.pulled >= set(policy.stores)
    for sku in sorted(skus):
        if sku in index.duplicates:
            _report_duplicates(sku, index.duplicates[sku], out)
            out.skipped.add(sku)
        elif sku in snapshot.available:
            _known_sku(sku, snapshot, index, policy, out, complete)
        else:
            _first_sight(sku, snapshot, index, policy, complete, out)
        index.by_sku.pop(sku, None)  # decided: its index entry is not read again (a first sync's 100,000)
    return Plan(
        journal=tuple(out.journal),
        available=out.available,
        items=PairMap(out.items),
        removed=frozenset(out.removed),
        adjustments=tuple(out.adjustments),
        conflicts=tuple(out.conflicts),
        unseeded=tuple(out.unseeded),
        skipped=frozenset(out.skipped),
        evaluated=index.pulled,
        complete=complete,
    )


def _index(pulls: list[StorePull], snapshot: Snapshot, held: Mapping[StoreName, AbstractSet[Sku]]) -> _Index:
    index = _Index(pulled=frozenset(p.store for p in pulls),
                   held=[(store, *membership(same), snapshot.store(store)) for store, same in sorted(held.items())])
    for pull in pulls:
        same = held.get(pull.store, frozenset())
        for obs in pull.observations:
            seen = index.by_sku.setdefault(obs.sku, {})
            if obs.store in seen:
                other = seen[obs.store].remote_id
            elif obs.sku in same:  # the variant left out as unchanged
                other = snapshot.items[(obs.store, obs.sku)].remote_id
            else:
                other = obs.remote_id
            if other != obs.remote_id:
                # Duplicates: two variants with one SKU in one store.
                ids = index.duplicates.setdefault(obs.sku, defaultdict(set))[obs.store]
                ids.update({other, obs.remote_id})
            seen[obs.store] = obs
        for issue in pull.issues:
            if issue.kind is ConflictKind.BAD_DATA and issue.sku:
                index.bad.add((pull.store, issue.sku))
                index.bad_skus.add(issue.sku)
    return index


def _report_issues(pull: StorePull, out: _Builder) -> None:
    # Missing / duplicate / unmapped + Bad data: items the pull could not use.
    for issue in pull.issues:
        out.conflicts.append(Conflict(kind=issue.kind, store=pull.store, sku=issue.sku, message=issue.message,
                                      data={"remote_id": issue.remote_id}, subject=issue.remote_id))


def _report_duplicates(sku: Sku, stores: Mapping[StoreName, set[str]], out: _Builder) -> None:
    # Duplicates: the SKU is skipped in the whole pool; nothing about it changes.
    for store, ids in sorted(stores.items()):
        out.conflicts.append(
            Conflict(
                kind=ConflictKind.DUPLICATE_SKU,
                store=store,
                sku=sku,
                message=f"{len(ids)} variants share SKU {sku!r}; skipped in every store",
                data={"remote_ids": sorted(ids)},
            )
        )


def _current_view(
    sku: Sku, snapshot: Snapshot, index: _Index, policy: Policy
) -> dict[StoreName, Observation | ItemState]:
    """What each store shows: this cycle's observation, or the ledger's last state for a
    store not pulled (or whose item was unreadable)."""
    seen = index.by_sku.get(sku, {})
    view: dict[StoreName, Observation | ItemState] = {}
    for store in policy.stores:
        if store in seen and (store, sku) not in index.bad:
            view[store] = seen[store]
        elif (store, sku) in snapshot.items:
            view[store] = snapshot.items[(store, sku)]
    return view


def _is_unlimited(entry: Observation | ItemState) -> bool:
    return (entry.quantity if isinstance(entry, Observation) else entry.expected) is None


def _mismatch(sku: Sku, view: Mapping[StoreName, Observation | ItemState]) -> Conflict | None:
    # Unlimited / untracked: unlimited in one store and tracked in another.
    unlimited = sorted(s for s, e in view.items() if _is_unlimited(e))
    tracked = sorted(s for s, e in view.items() if not _is_unlimited(e))
    if not (unlimited and tracked):
        return None
    return Conflict(
        kind=ConflictKind.TRACKING_MISMATCH,
        store=None,
        sku=sku,
        message="unlimited in some stores, tracked in others; not written anywhere",
        data={"unlimited_in": unlimited, "tracked_in": tracked},
    )


_NONE: Mapping[StoreName, Observation] = {}


def _fresh(sku: Sku, index: _Index, snapshot: Snapshot) -> Mapping[StoreName, Observation]:
    """This cycle's usable observations of ``sku`` (unreadable items left out), those
    left out of a pull as unchanged read back from the snapshot. Read only."""
    seen = index.by_sku.get(sku, _NONE)
    implied = [store for store, same, but, _ in index.held if sku in same and sku not in but and store not in seen]
    if not implied and sku not in index.bad_skus:
        return seen
    fresh = {s: o for s, o in seen.items() if (s, sku) not in index.bad}
    for store in implied:
        if (store, sku) not in index.bad:
            state = snapshot.items[(store, sku)]
            fresh[store] = Observation(store, sku, state.remote_id, state.expected)
    return fresh


def _shown(fresh: Mapping[StoreName, Observation]) -> list[tuple[StoreName, str, Quantity]]:
    return [(store, obs.remote_id, obs.quantity) for store, obs in sorted(fresh.items())]


def _first_sight(
    sku: Sku, snapshot: Snapshot, index: _Index, policy: Policy, complete: bool, out: _Builder
) -> None:
    # First sight: seeded only in a cycle in which every enabled store was pulled and
    # its item read; until then it is not written.
    fresh = _fresh(sku, index, snapshot)
    if not complete or sku in index.bad_skus:
        out.unseeded.append(sku)
        return
    view: dict[StoreName, Observation | ItemState] = dict(fresh)  # a copy: fresh is read only
    mismatch = _mismatch(sku, view)
    if mismatch is not None:
        out.conflicts.append(mismatch)
        return
    tracked = {s: o.quantity for s, o in fresh.items() if o.quantity is not None}
    if not tracked:
        return  # Unlimited everywhere: nothing to do.
    seed, reason = seed_quantity(tracked, policy.initial, policy.master)
    out.journal.append(JournalEntry(sku=sku, store=None, delta=seed, reason=reason))
    out.available[sku] = seed
    for store, obs in fresh.items():
        out.put(store, sku, ItemState(obs.remote_id, obs.quantity))
    _report_missing(sku, fresh, index, policy, out)
    oversold = oversold_conflict(sku, seed)  # a store already below 0 (DESIGN: negative counts)
    if oversold is not None:
        out.conflicts.append(oversold)
    plan_writes(sku, seed, _shown(fresh), out.rules, out.adjustments)


def _over_the_cap(sku: Sku, fresh: Mapping[StoreName, Observation], snapshot: Snapshot,
                  policy: Policy) -> Conflict | None:
    """Safety rail: a SKU that moved more than ``max_change`` units in one cycle (summed
    over stores) is held for a human — a store answering garbage zeros must not empty the
    pool. Nothing about it is absorbed or written until the cap is raised or it clears."""
    if policy.max_change is None:
        return None
    moves = {}
    for store, obs in fresh.items():
        prev = snapshot.items.get((store, sku))
        if prev is not None and prev.expected is not None and obs.quantity is not None \
                and prev.remote_id == obs.remote_id and obs.quantity != prev.expected:
            moves[store] = obs.quantity - prev.expected
    total = sum(abs(d) for d in moves.values())
    if total <= policy.max_change:
        return None
    return Conflict(kind=ConflictKind.CHANGE_CAP, store=None, sku=sku,
                    message=f"moved {total} units in one cycle (cap {policy.max_change}); held, nothing written",
                    data={"changes": dict(sorted(moves.items())), "cap": policy.max_change})


def _unchanged(sku: Sku, fresh: Mapping[StoreName, Observation], snapshot: Snapshot, index: _Index,
               complete: bool) -> bool:
    """The steady case, decided cheaply: every enabled store was pulled, shows the SKU
    under the same remote id, tracked, at exactly the quantity the ledger expects. Then
    the general rules below would absorb nothing, remove nothing, report nothing missing
    and find no tracking mismatch; only the targets are left to check."""
    if not complete or len(fresh) != len(index.pulled):  # an unreadable item is not in fresh
        return False
    items = snapshot.items
    for store, obs in fresh.items():
        prev = items.get((store, sku))
        if prev is None or obs.quantity is None or prev.expected != obs.quantity or prev.remote_id != obs.remote_id:
            return False
    return True


def _known_sku(
    sku: Sku, snapshot: Snapshot, index: _Index, policy: Policy, out: _Builder, complete: bool
) -> None:
    if complete and sku not in index.by_sku and sku not in index.bad_skus:
        # The steadiest case: every store's pull left the SKU out as unchanged.
        shown = [(store, state.remote_id, state.expected) for store, same, but, states in index.held
                 if sku in same and sku not in but for state in (states[sku],)]
        if len(shown) == len(index.pulled):
            _steady(sku, snapshot, shown, out)
            return
    fresh = _fresh(sku, index, snapshot)
    if _unchanged(sku, fresh, snapshot, index, complete):
        _steady(sku, snapshot, _shown(fresh), out)
        return
    held = _over_the_cap(sku, fresh, snapshot, policy)
    if held is not None:
        out.conflicts.append(held)
        out.skipped.add(sku)
        return
    available = snapshot.available[sku]
    for store, obs in sorted(fresh.items()):
        available = _absorb(obs, snapshot.items.get((store, sku)), available, policy, out)
    # A SKU that disappears from a store stops being written there.
    for store in sorted(index.pulled - set(fresh)):
        if (store, sku) in snapshot.items and (store, sku) not in index.bad:
            out.removed.add((store, sku))
    _report_missing(sku, fresh, index, policy, out)
    if available != snapshot.available[sku]:
        out.available[sku] = available
    mismatch = _mismatch(sku, _current_view(sku, snapshot, index, policy))
    if mismatch is not None:
        out.conflicts.append(mismatch)
        return
    oversold = oversold_conflict(sku, available)
    if oversold is not None:
        out.conflicts.append(oversold)
    plan_writes(sku, available, _shown(fresh), out.rules, out.adjustments)


def _steady(sku: Sku, snapshot: Snapshot, shown: list[tuple[StoreName, str, Quantity]], out: _Builder) -> None:
    """Nothing to absorb: only the oversold check and the targets."""
    available = snapshot.available[sku]
    oversold = oversold_conflict(sku, available)
    if oversold is not None:
        out.conflicts.append(oversold)
    plan_writes(sku, available, shown, out.rules, out.adjustments)


def _absorb(
    obs: Observation, prev: ItemState | None, available: int, policy: Policy, out: _Builder
) -> int:
    """Delta accounting for one (store, SKU) seen this cycle; returns the new available."""
    pair = (obs.store, obs.sku)
    new_state = ItemState(obs.remote_id, obs.quantity)
    if prev is None or prev.expected is None or obs.quantity is None:
        # A store new to a known SKU (or a change of tracking): not a delta.
        if prev != new_state:
            out.put(*pair, new_state)
        return available
    if prev.remote_id != obs.remote_id:
        out.put(*pair, new_state)  # another variant now carries the SKU: new pair
        return available
    delta = obs.quantity - prev.expected
    if delta == 0:
        return available
    out.put(*pair, new_state)  # expected := observed, the delta is absorbed once
    if delta > 0 and policy.master is not None and obs.store != policy.master:
        # Master store: a positive delta elsewhere does not count.
        out.conflicts.append(
            Conflict(
                kind=ConflictKind.UNEXPECTED_INCREASE,
                store=obs.store,
                sku=obs.sku,
                message=f"+{delta} outside master store {policy.master!r}; written back",
                data={"expected": prev.expected, "observed": obs.quantity, "delta": delta},
            )
        )
        return available
    # Conservation: every change to available has its journal row.
    out.journal.append(
        JournalEntry(obs.sku, obs.store, delta, "sale" if delta < 0 else "restock")
    )
    return available + delta


def _report_missing(
    sku: Sku, fresh: Mapping[StoreName, Observation], index: _Index, policy: Policy, out: _Builder
) -> None:
    # Missing: a SKU present in some stores only is synced where it exists.
    for store in sorted(index.pulled - set(fresh)):
        if (store, sku) not in index.bad:
            out.conflicts.append(
                Conflict(
                    kind=ConflictKind.MISSING,
                    store=store,
                    sku=sku,
                    message=f"SKU {sku!r} is not carried by this store",
                )
            )
