"""Assertions shared by the cycle tests."""

from __future__ import annotations

from syncd.ledger import Ledger


def assert_conserved(ledger: Ledger) -> None:
    """Conservation: for every SKU, available = Σ its journal deltas (seed included)."""
    snapshot = ledger.load_snapshot()
    totals = ledger.journal_totals()
    assert set(totals) == set(snapshot.available)
    for sku, available in snapshot.available.items():
        assert available == totals[sku], f"{sku}: available {available} != journal {totals[sku]}"
