"""Buffers: fixed units, a percentage, a maximum listed quantity (table tests)."""

from __future__ import annotations

import pytest

from syncd.core import ItemState, Observation, Policy, Snapshot, StorePolicy, StorePull, plan_cycle, target_for


@pytest.mark.parametrize(
    ("available", "buffer", "percent", "max_listed", "shown"),
    [
        (10, 0, 0, None, 10),
        (10, 3, 0, None, 7),
        (10, 0, 20, None, 8),  # 20 % of 10 held back
        (7, 0, 20, None, 5),  # 7 × 0.8 = 5.6 → 5: the shown count rounds down
        (10, 2, 25, None, 6),  # fixed first: (10 − 2) × 0.75 = 6
        (10, 0, 100, None, 0),  # everything held back
        (10, 0, 0, 4, 4),  # never list more than 4
        (3, 0, 0, 4, 3),
        (10, 2, 50, 3, 3),  # (10 − 2) × 0.5 = 4, capped at 3
        (1, 3, 50, None, 0),  # never below zero
        (-5, 0, 20, 10, 0),  # oversold: 0
        (0, 0, 0, 0, 0),
    ],
)
def test_target_for(available, buffer, percent, max_listed, shown):
    """min(max_listed, max(0, floor((available − buffer) × (100 − percent) / 100)))."""
    assert target_for(available, buffer, percent, max_listed) == shown


def test_each_store_gets_its_own_target():
    """The pool's count is one; each store shows it through its own buffers."""
    stores = {"full": StorePolicy(), "pct": StorePolicy(buffer_percent=50), "cap": StorePolicy(max_listed=2)}
    snap = Snapshot({"X": 9}, {(s, "X"): ItemState(f"{s}-X", 9) for s in stores})
    plan = plan_cycle(snap, [StorePull(s, (Observation(s, "X", f"{s}-X", 9),)) for s in stores], Policy(stores))
    assert {a.store: a.target for a in plan.adjustments} == {"pct": 4, "cap": 2}
