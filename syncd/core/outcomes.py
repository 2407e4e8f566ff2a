"""How a re-read settles a write whose outcome is unknown. (What a confirmed write does
to ``expected`` — relative: ``+ delta``, absolute: ``= target`` — is applied by the ledger
in the same transaction that marks the write applied: ``Ledger.mark_applied``.)"""

from __future__ import annotations

from enum import StrEnum

from .model import Adjustment

__all__ = ["ReadVerdict", "judge_reread"]


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
