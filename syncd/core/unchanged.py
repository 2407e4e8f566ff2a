"""Steady pulls, compacted: what a store shows exactly as the ledger expects is kept as a
SKU, not as an observation (at 100,000 SKUs × 4 stores the observations are the bulk of
a steady cycle's memory, and all but the sold ones say nothing new)."""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from itertools import filterfalse

from .model import ItemState, Observation, Policy, Sku, Snapshot, StoreName, StorePull

__all__ = ["AllBut", "check_unchanged", "held_unchanged", "membership", "split_unchanged"]


def split_unchanged(observations: Iterable[Observation], snapshot: Snapshot) -> tuple[list[Observation], list[Sku]]:
    """Observations that differ from the ledger in any way (kept), and the SKUs of those
    the ledger already holds exactly: same remote id, tracked, quantity == expected, and
    the SKU seeded. Not for a store with SKU aliases (its SKUs are not canonical yet)."""
    kept: list[Observation] = []
    same: list[Sku] = []
    available = snapshot.available
    store: StoreName | None = None
    items: Mapping[Sku, ItemState] = {}
    for obs in observations:
        if obs.store != store:  # a page is one store's: looked up once
            store, items = obs.store, snapshot.store(obs.store)
        prev = items.get(obs.sku)
        if (prev is not None and obs.quantity is not None and prev.expected == obs.quantity
                and prev.remote_id == obs.remote_id and obs.sku in available):
            same.append(obs.sku)
        else:
            kept.append(obs)
    return kept, same


class AllBut(AbstractSet[Sku]):
    """One store's SKUs in the snapshot but a few: a steady pull's unchanged SKUs, held
    without a set of their own. The snapshot's dict of the store is the set; ``but``
    holds the SKUs the pull did not show as unchanged (sold, moved, gone). At 100,000
    SKUs a set of them is about 4 MB per store, alive from the end of the pull to the
    plan, where a steady cycle's memory peaks. Read only, like the snapshot it reads."""

    __slots__ = ("but", "keys")

    def __init__(self, keys: Mapping[Sku, ItemState], but: AbstractSet[Sku]) -> None:
        if not but <= keys.keys():
            raise ValueError("AllBut: 'but' names SKUs that are not in 'keys'")
        self.keys = keys
        self.but = but

    def __contains__(self, sku: object) -> bool:
        return sku in self.keys and sku not in self.but

    def __iter__(self) -> Iterator[Sku]:
        return filterfalse(self.but.__contains__, self.keys)

    def __len__(self) -> int:
        return len(self.keys) - len(self.but)

    def __hash__(self) -> int:  # as a frozenset of the same SKUs (a StorePull stays hashable)
        return self._hash()

    def __repr__(self) -> str:
        return f"AllBut({len(self.keys)} SKUs, but {sorted(self.but)[:5]}{'…' if len(self.but) > 5 else ''})"


def held_unchanged(skus: Iterable[Sku], states: Mapping[Sku, ItemState]) -> AbstractSet[Sku]:
    """A pull's unchanged SKUs (``split_unchanged``'s, gathered over its pages) as the
    plan reads them: when they are most of the store's SKUs in the snapshot, all of those
    but the rest (``AllBut``); otherwise a frozenset of them."""
    held = frozenset(skus)
    if len(held) * 2 <= len(states) or not states.keys() >= held:  # a few, or not all the snapshot's
        return held
    return AllBut(states, frozenset(states.keys() - held))


def membership(same: AbstractSet[Sku]) -> tuple[Container[Sku], AbstractSet[Sku]]:
    """``same`` as (in, not in): ``sku in same`` is ``sku in a and sku not in b``, two
    lookups at C speed where ``AllBut.__contains__`` is a Python call (the plan asks
    for every SKU in every store)."""
    if isinstance(same, AllBut):
        return same.keys, same.but
    return same, _NOTHING


_NOTHING: frozenset[Sku] = frozenset()


def check_unchanged(pulls: Iterable[StorePull], snapshot: Snapshot,
                    policy: Policy) -> dict[StoreName, AbstractSet[Sku]]:
    """The compacted SKUs of each pull, checked: each must name a seeded SKU whose pair
    the snapshot holds, tracked, and the store must have no aliases. A pull compacted
    against another snapshot would otherwise be planned from the wrong state."""
    held: dict[StoreName, AbstractSet[Sku]] = {}
    for pull in pulls:
        if not pull.unchanged:
            continue
        if policy.aliases.get(pull.store):
            raise ValueError(f"store {pull.store!r} has SKU aliases: its pull cannot be compacted")
        store = pull.store
        states = snapshot.store(store)
        # Containment first, at C speed and without a copy (400,000 SKUs a steady cycle at
        # 100,000 × 4), then the one attribute a set cannot check.
        if not (snapshot.available.keys() >= pull.unchanged and states.keys() >= pull.unchanged
                and not any(states[sku].expected is None for sku in pull.unchanged)):
            wrong = [sku for sku in pull.unchanged
                     if sku not in snapshot.available or sku not in states or states[sku].expected is None]
            raise ValueError(f"store {store!r}: {len(wrong)} SKU(s) marked unchanged that the snapshot "
                             f"does not hold as tracked, e.g. {sorted(wrong)[:3]}")
        held[store] = pull.unchanged
    return held

