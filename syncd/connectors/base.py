"""The one seam every platform implements: ``capabilities``, ``pull()`` and ``push()``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from ..core import Adjustment, CatalogEntry, ItemIssue, Observation, Quantity, WriteStrategy

__all__ = [
    "Applied",
    "Capabilities",
    "Check",
    "Checkable",
    "Connector",
    "Deferred",
    "NotApplied",
    "Page",
    "Rejected",
    "UnknownOutcome",
    "WriteResult",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform allows: its write strategy (DESIGN's table), the largest batch, its
    documented request rate (and the window it is counted over, if any), how long it
    remembers an idempotency key, and how long its reads may lag behind an accepted write
    (asynchronous platforms)."""

    platform: str
    strategy: WriteStrategy
    max_batch: int
    requests_per_minute: float
    key_retention: timedelta | None = None
    limit_window: timedelta | None = None  # the limit is counted per window: pace with a sliding window
    apply_lag: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a pull."""

    observations: tuple[Observation, ...]
    issues: tuple[ItemIssue, ...] = ()
    learned: tuple[CatalogEntry, ...] = ()  # catalog entries fetched for this page


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
class Deferred:
    """Nothing was applied because the item changed since the pull (a sale landed): a
    fresh read no longer equals what the plan was made from, or the store's
    compare-and-set refused the write (``refused`` holds its words; a ``stale_write``
    conflict is logged). The write waits for the next pull, which re-plans it."""

    observed: Quantity
    refused: str = ""


@dataclass(frozen=True, slots=True)
class NotApplied:
    """Nothing was applied, through no fault of this item: another item of an atomic
    batch was refused, or the store lost the attempt. Safe to send again at once, as a
    new request under a new key."""

    reason: str


@dataclass(frozen=True, slots=True)
class UnknownOutcome:
    """No answer came: the write may or may not have been applied."""

    message: str


WriteResult = Applied | Rejected | Deferred | NotApplied | UnknownOutcome


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``syncd check``: what was checked on one store, whether it passed,
    what was seen, and (on a failure) the fix in one line. Read-only: a check never writes."""

    name: str  # token | scopes | location | catalog | api_version | bulk_access | first_page | ...
    ok: bool
    detail: str
    fix: str = ""


class Checkable(Protocol):
    """A connector that can check, read-only, what its first cycle will need: the token
    is accepted, its scopes suffice, the configured location exists, the platform's
    version or catalog is the one syncd speaks, the first page is readable. It returns
    one ``Check`` per item and raises nothing for a failed check (a ``StoreError`` it
    cannot classify is reported by the caller as a failed check)."""

    async def check(self) -> list[Check]: ...


class Connector(Protocol):
    """A store's inventory API as syncd needs it.

    ``pull(catalog)`` yields every page of the store's inventory in order and raises a
    ``StoreError`` when the pull cannot be completed; ``catalog`` holds what earlier
    pulls learned about references that carry no SKU (most platforms ignore it).
    ``push(batch, key)`` writes one batch (``len(batch) <= capabilities.max_batch``)
    under ``key`` and returns one result per adjustment, in order; sending the same
    batch under the same key again must be safe where ``capabilities.strategy`` says so.
    ``read(remote_ids)`` returns the current quantity of those items (None: unlimited),
    leaving out ids the store does not know; it settles writes of unknown outcome.
    """

    name: str
    capabilities: Capabilities

    def pull(self, catalog: Mapping[str, CatalogEntry]) -> AsyncIterator[Page]: ...

    async def push(self, batch: Sequence[Adjustment], key: str) -> list[WriteResult]: ...

    async def read(self, remote_ids: Sequence[str]) -> dict[str, Quantity]: ...
