"""First sight: the ``available`` a SKU starts with, from the ``initial`` policy."""

from __future__ import annotations

from collections.abc import Mapping

from .model import InitialPolicy, StoreName

__all__ = ["seed_quantity"]


def seed_quantity(
    tracked: Mapping[StoreName, int], policy: InitialPolicy, master: StoreName | None
) -> tuple[int, str]:
    """First sight: return ``(available, reason)`` for a SKU seen for the first time.

    ``tracked`` holds the quantity in every store that carries the SKU (all tracked).
    ``min`` (default) never oversells; ``max`` trusts the fullest store; ``master`` takes
    the master store's count, and falls back to ``min`` when the master does not carry
    the SKU (the reason says so, so the journal explains the seed).
    """
    if not tracked:
        raise ValueError("seed_quantity needs at least one tracked quantity")
    if policy is InitialPolicy.MAX:
        return max(tracked.values()), "seed:max"
    if policy is InitialPolicy.MASTER:
        if master is not None and master in tracked:
            return tracked[master], "seed:master"
        return min(tracked.values()), "seed:min(master lacks sku)"
    return min(tracked.values()), "seed:min"
