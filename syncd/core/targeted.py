"""Targeted cycles: the same rules as a full cycle, for the SKUs a store event named.

An event only says *which* items to look at; its payload never decides a quantity. The
shell reads those items on every store (by the stores' own ids, from the ledger) and
hands the answers here with the ledger's state of just those SKUs. The plan is the one
a full cycle would make for them when nothing else changed: ``plan_cycle`` over a
snapshot and pulls restricted to the scope.

A SKU is left out of the scope (for the next full cycle to decide) when a store that was
read did not answer for its item: the item may be gone, or the read may have missed it,
and only a full pull can tell. SKU aliases are already resolved (the snapshot holds
canonical SKUs), so the policy's alias table is not applied again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .model import Observation, PairMap, Plan, Policy, Quantity, Snapshot, StoreName, StorePull
from .reconcile import plan_cycle

__all__ = ["TargetedRead", "plan_targeted", "remote_ids_of"]


@dataclass(frozen=True, slots=True)
class TargetedRead:
    """One store's answer for the items asked: remote id → quantity (None: unlimited).
    Ids it did not answer for are absent."""

    store: StoreName
    quantities: Mapping[str, Quantity]


def remote_ids_of(snapshot: Snapshot, store: StoreName) -> list[str]:
    """The store's ids of the snapshot's SKUs: what a targeted read asks for."""
    return sorted(state.remote_id for state in snapshot.store(store).values())


def plan_targeted(snapshot: Snapshot, reads: Iterable[TargetedRead], policy: Policy) -> Plan:
    """Plan the snapshot's SKUs from the stores' targeted reads (stores not read keep
    their ledger state, as a store whose pull failed does in a full cycle)."""
    read = {r.store: r.quantities for r in reads}
    unknown = set(read) - set(policy.stores)
    if unknown:
        raise ValueError(f"reads from stores not in the policy: {sorted(unknown)}")
    unsure = {sku for store, answered in read.items()
              for sku, state in snapshot.store(store).items() if state.remote_id not in answered}
    scope = frozenset(snapshot.available) - unsure
    stores = {store: {sku: state for sku, state in snapshot.store(store).items() if sku in scope}
              for store in {s for s, _ in snapshot.items}}
    scoped = Snapshot(available={sku: snapshot.available[sku] for sku in scope}, items=PairMap(stores))
    pulls = [StorePull(store, tuple(Observation(store, sku, state.remote_id, answered[state.remote_id])
                                    for sku, state in sorted(scoped.store(store).items())))
             for store, answered in sorted(read.items())]
    plan = plan_cycle(scoped, pulls, dataclasses.replace(policy, aliases={}))
    return dataclasses.replace(plan, scope=scope)
