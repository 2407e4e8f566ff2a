"""The re-read rule for writes whose outcome is unknown."""

from __future__ import annotations

import pytest

from syncd.core import Adjustment, ReadVerdict, WriteMode, judge_reread


def adj(before: int, target: int, mode: WriteMode = WriteMode.RELATIVE) -> Adjustment:
    return Adjustment("a", "X", "a-X", before, target, mode)


@pytest.mark.parametrize(
    ("read", "verdict"),
    [
        (7, ReadVerdict.APPLIED),
        (10, ReadVerdict.NOT_APPLIED),
        (6, ReadVerdict.UNDECIDABLE),
        (9, ReadVerdict.UNDECIDABLE),
        (None, ReadVerdict.UNDECIDABLE),
    ],
)
def test_reread_decides_only_clear_cases(read, verdict):
    """Equal to target → applied; equal to before → not applied; else undecidable."""
    assert judge_reread(adj(10, 7), read) is verdict
