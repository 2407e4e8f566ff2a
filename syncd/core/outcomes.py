"""What a write's outcome does to ``expected``, and how a re-read settles an unknown one."""

from __future__ import annotations

from enum import StrEnum

from .model import Adjustment, WriteMode

__all__ = ["ReadVerdict", "expected_after_apply", "judge_reread"]


def expected_after_apply(expected: int, adjustment: Adjustment) -> int:
    """A confirmed write moves ``expected`` by exactly what it applied: relative
    ``expected + delta``, absolute ``target``. Nothing else changes ``expected`` between
    two pulls, so the next delta is what really happened on the store."""
    if adjustment.mode is WriteMode.RELATIVE:
        return expected + adjustment.delta
    return adjustment.target


class ReadVerdict(StrEnum):
    """What a fresh read says about a write whose answer never came."""

    APPLIED = "applied"
    NOT_APPLIED = "not_applied"
    UNDECIDABLE = "undecidable"


def judge_reread(adjustment: Adjustment, read: int | None) -> ReadVerdict:
    """Unknown outcomes: equal to the target → applied; equal to the value before the
    write → not applied; anything else (a sale happened too) cannot be decided."""
    if read is None:
        return ReadVerdict.UNDECIDABLE
    if adjustment.delta != 0 and read == adjustment.target:
        return ReadVerdict.APPLIED
    if read == adjustment.before:
        return ReadVerdict.NOT_APPLIED
    return ReadVerdict.UNDECIDABLE
