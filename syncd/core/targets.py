"""Buffers and the oversold clamp: what a store should show."""

from __future__ import annotations

from .model import Conflict, ConflictKind, Sku

__all__ = ["oversold_conflict", "target_for"]


def target_for(available: int, buffer: int) -> int:
    """Buffer + Oversold: ``max(0, available - buffer)``; a store never shows a negative."""
    return max(0, available - buffer)


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
