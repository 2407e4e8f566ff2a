"""Buffers and the oversold clamp: what a store should show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import Adjustment, Conflict, ConflictKind, Policy, Quantity, Sku, StoreName, WriteMode

Rule = tuple[int, int, int | None]  # buffer, buffer_percent, max_listed
StoreRules = Mapping[StoreName, tuple[Rule, WriteMode]]

__all__ = ["StoreRules", "oversold_conflict", "plan_writes", "store_rules", "target_for"]


def target_for(available: int, buffer: int, percent: int = 0, max_listed: int | None = None) -> int:
    """Buffer + Oversold: what a store shows. The fixed ``buffer`` is held back first, then
    ``percent`` % of what remains, the result rounded down (never shows more than the
    rule allows), never below 0, and never above ``max_listed``:

        min(max_listed, max(0, floor((available - buffer) * (100 - percent) / 100)))
    """
    shown = max(0, ((available - buffer) * (100 - percent)) // 100)
    return shown if max_listed is None else min(shown, max_listed)


def oversold_conflict(sku: Sku, available: int) -> Conflict | None:
    """Oversold: ``available < 0`` is reported with the shortfall; targets clamp to 0 and
    ``available`` stays negative so a later restock pays the debt first."""
    if available >= 0:
        return None
    return Conflict(
        kind=ConflictKind.OVERSOLD,
        store=None,
        sku=sku,
        message=f"{-available} unit(s) sold beyond the pool's stock",
        data={"available": available, "oversold_by": -available},
    )


def store_rules(policy: Policy) -> dict[StoreName, tuple[Rule, WriteMode]]:
    """Each store's target rule and write mode, read once for a whole plan."""
    return {store: ((p.buffer, p.buffer_percent, p.max_listed), p.mode) for store, p in policy.stores.items()}


def plan_writes(sku: Sku, available: int, shown: Iterable[tuple[StoreName, str, Quantity]], rules: StoreRules,
                adjustments: list[Adjustment]) -> None:
    """A write wherever a store (in store order: remote id, quantity shown) is off target."""
    targets: dict[Rule, int] = {}  # stores sharing a rule share its target
    for store, remote_id, quantity in shown:
        if quantity is None:
            continue
        rule, mode = rules[store]
        target = targets.get(rule)
        if target is None:
            target = targets[rule] = target_for(available, *rule)
        if target != quantity:
            adjustments.append(Adjustment(store, sku, remote_id, quantity, target, mode))
