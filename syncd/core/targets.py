"""Buffers and the oversold clamp: what a store should show."""

from __future__ import annotations

from .model import Conflict, ConflictKind, Sku

__all__ = ["oversold_conflict", "target_for"]


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
