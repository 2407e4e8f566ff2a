"""The one seam every platform implements: ``capabilities``, ``pull()`` and ``push()``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from ..core import Adjustment, ItemIssue, Observation, WriteStrategy

__all__ = [
    "Applied",
    "Capabilities",
    "Connector",
    "Page",
    "Rejected",
    "UnknownOutcome",
    "WriteResult",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform allows: its write strategy (DESIGN's table), the largest batch, its
    documented request rate, and how long it remembers an idempotency key."""

    platform: str
    strategy: WriteStrategy
    max_batch: int
    requests_per_minute: float
    key_retention: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a pull."""

    observations: tuple[Observation, ...]
    issues: tuple[ItemIssue, ...] = ()


@dataclass(frozen=True, slots=True)
class Applied:
    """The store confirmed the write."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """The store refused the write and applied nothing. ``whole_batch``: the refusal
    names no item (an atomic batch failed because of one of its items), so splitting
    the batch lets the good items through."""

    code: str
    message: str
    whole_batch: bool = False


@dataclass(frozen=True, slots=True)
class UnknownOutcome:
    """No answer came: the write may or may not have been applied."""

    message: str


WriteResult = Applied | Rejected | UnknownOutcome


class Connector(Protocol):
    """A store's inventory API as syncd needs it.

    ``pull()`` yields every page of the store's inventory in cursor order and raises a
    ``StoreError`` when the pull cannot be completed. ``push(batch, key)`` sends one
    request (``len(batch) <= capabilities.max_batch``) under ``key`` and returns one
    result per adjustment, in order. Sending the same batch under the same key again
    must be safe where ``capabilities.strategy`` says so.
    """

    name: str
    capabilities: Capabilities

    def pull(self) -> AsyncIterator[Page]: ...

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]: ...
