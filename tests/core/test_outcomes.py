"""The outcome rules: how a confirmed write moves expected, how a re-read decides."""

from __future__ import annotations

import pytest

from syncd.core import Adjustment, ReadVerdict, WriteMode, expected_after_apply, judge_reread


def adj(before: int, target: int, mode: WriteMode = WriteMode.RELATIVE) -> Adjustment:
    return Adjustment("a", "X", "a-X", before, target, mode)


@pytest.mark.parametrize(
    ("mode", "expected", "result"),
    [(WriteMode.RELATIVE, 10, 7), (WriteMode.RELATIVE, 9, 6), (WriteMode.ABSOLUTE, 9, 7)],
)
def test_expected_moves_by_what_the_write_applied(mode, expected, result):
    """Relative: expected + delta; absolute: target."""
    assert expected_after_apply(expected, adj(10, 7, mode)) == result


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
