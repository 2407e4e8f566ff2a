"""Steady pulls, compacted: what a store shows exactly as the ledger expects is kept as a
SKU, not as an observation (at 100,000 SKUs × 4 stores the observations are the bulk of
a steady cycle's memory, and all but the sold ones say nothing new)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import ItemState, Observation, Policy, Sku, Snapshot, StoreName, StorePull

__all__ = ["check_unchanged", "split_unchanged"]


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


def check_unchanged(pulls: Iterable[StorePull], snapshot: Snapshot, policy: Policy) -> dict[StoreName, frozenset[Sku]]:
    """The compacted SKUs of each pull, checked: each must name a seeded SKU whose pair
    the snapshot holds, tracked, and the store must have no aliases. A pull compacted
    against another snapshot would otherwise be planned from the wrong state."""
    held: dict[StoreName, frozenset[Sku]] = {}
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

