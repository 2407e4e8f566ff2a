"""The pure reconcile core: stdlib only, no I/O, no clock, no logging.

Everything else in syncd imports from here; this package imports nothing from syncd.
"""

from __future__ import annotations

from .aliases import apply_aliases
from .model import (
    STATE_CONFLICTS,
    Adjustment,
    CatalogEntry,
    Conflict,
    ConflictKind,
    InitialPolicy,
    ItemIssue,
    ItemState,
    JournalEntry,
    Observation,
    PairMap,
    Plan,
    Policy,
    Quantity,
    Sku,
    Snapshot,
    StoreName,
    StorePolicy,
    StorePull,
    WriteMode,
    WriteStrategy,
)
from .outcomes import ReadVerdict, judge_reread
from .reconcile import plan_cycle
from .seeding import seed_quantity
from .targeted import TargetedRead, plan_targeted, remote_ids_of
from .targets import oversold_conflict, target_for
from .unchanged import AllBut, check_unchanged, held_unchanged, split_unchanged

__all__ = [
    "STATE_CONFLICTS",
    "Adjustment",
    "AllBut",
    "CatalogEntry",
    "Conflict",
    "ConflictKind",
    "InitialPolicy",
    "ItemIssue",
    "ItemState",
    "JournalEntry",
    "Observation",
    "PairMap",
    "Plan",
    "Policy",
    "Quantity",
    "ReadVerdict",
    "Sku",
    "Snapshot",
    "StoreName",
    "StorePolicy",
    "StorePull",
    "TargetedRead",
    "WriteMode",
    "WriteStrategy",
    "apply_aliases",
    "check_unchanged",
    "held_unchanged",
    "judge_reread",
    "oversold_conflict",
    "plan_cycle",
    "plan_targeted",
    "remote_ids_of",
    "seed_quantity",
    "split_unchanged",
    "target_for",
]
