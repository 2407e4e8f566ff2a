"""Assertions shared by the cycle tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syncd.core import ConflictKind
from syncd.ledger import Ledger


def assert_conserved(ledger: Ledger) -> None:
    """Conservation: for every SKU, available = Σ its journal deltas (seed included)."""
    snapshot = ledger.load_snapshot()
    totals = ledger.journal_totals()
    assert set(totals) == set(snapshot.available)
    for sku, available in snapshot.available.items():
        assert available == totals[sku], f"{sku}: available {available} != journal {totals[sku]}"


def assert_truth(ledger: Ledger, pool: Any, truth: Mapping[str, int]) -> None:
    """After quiet cycles: the pool's count of every SKU is what really happened (never
    more, where a write's outcome was undecidable: syncd never oversells), every store
    shows it, and no write is left unresolved."""
    available = ledger.load_snapshot().available
    undecided = {c.sku for c in ledger.open_conflicts() if c.kind == ConflictKind.UNKNOWN_OUTCOME}
    for sku, real in truth.items():
        if sku in undecided:
            assert available[sku] <= real, (sku, available[sku], real)  # never oversells
        else:
            assert available[sku] == real, (sku, available[sku], real)  # no sale lost or doubled
        assert set(pool.quantities(sku).values()) == {max(0, available[sku])}, pool.quantities(sku)
    assert ledger.unresolved() == []
