"""The plain values the reconcile core takes and returns. Stdlib only, all frozen.

A quantity is an ``int`` or ``None``; ``None`` means *unlimited / untracked* on that store.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar, overload

__all__ = [
    "STATE_CONFLICTS",
    "Adjustment",
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
    "Sku",
    "Snapshot",
    "StoreName",
    "StorePolicy",
    "StorePull",
    "WriteMode",
    "WriteStrategy",
]

Sku = str
StoreName = str
Quantity = int | None
"""A stock count, or ``None`` for unlimited / untracked."""


class InitialPolicy(StrEnum):
    """First sight: where a new SKU's ``available`` comes from."""

    MIN = "min"
    MAX = "max"
    MASTER = "master"


class WriteMode(StrEnum):
    """How a planned write is expressed on the wire."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"


class WriteStrategy(StrEnum):
    """DESIGN's write-strategy table: what a retry after an unknown outcome may do."""

    RELATIVE_IDEMPOTENT = "relative_idempotent"  # resend under the same key: applied once
    ABSOLUTE_CAS = "absolute_cas"  # resend: a mismatch is a conflict
    ABSOLUTE_FRESH_READ = "absolute_fresh_read"  # re-read first, never resend blindly
    RELATIVE_NO_KEY = "relative_no_key"  # re-read first; unknown_outcome if undecidable

    @property
    def mode(self) -> WriteMode:
        if self in (WriteStrategy.RELATIVE_IDEMPOTENT, WriteStrategy.RELATIVE_NO_KEY):
            return WriteMode.RELATIVE
        return WriteMode.ABSOLUTE


class ConflictKind(StrEnum):
    """Everything syncd saw and could not resolve by the rules."""

    OVERSOLD = "oversold"
    DUPLICATE_SKU = "duplicate_sku"
    TRACKING_MISMATCH = "tracking_mismatch"
    UNEXPECTED_INCREASE = "unexpected_increase"
    MISSING = "missing"
    UNMAPPED = "unmapped"
    BAD_DATA = "bad_data"
    UNKNOWN_OUTCOME = "unknown_outcome"
    WRITE_REJECTED = "write_rejected"
    STALE_WRITE = "stale_write"  # a compare-and-set refused a write: the item moved since the pull
    CHANGE_CAP = "change_cap"
    ALIAS_COLLISION = "alias_collision"
    ALIAS_DANGLING = "alias_dangling"


STATE_CONFLICTS = frozenset(
    {
        ConflictKind.OVERSOLD,
        ConflictKind.DUPLICATE_SKU,
        ConflictKind.TRACKING_MISMATCH,
        ConflictKind.MISSING,
        ConflictKind.UNMAPPED,
        ConflictKind.CHANGE_CAP,
        ConflictKind.ALIAS_COLLISION,
        ConflictKind.ALIAS_DANGLING,
    }
)
"""Conflicts that describe a standing condition: reported once while it lasts, closed
when it clears. The others are events, recorded each time they happen."""


_set = object.__setattr__


@dataclass(frozen=True, slots=True, init=False)
class Observation:
    """What a pull saw for one variant: store, SKU, remote id, quantity (None = unlimited)."""

    store: StoreName
    sku: Sku
    remote_id: str
    quantity: Quantity

    def __init__(self, store: StoreName, sku: Sku, remote_id: str, quantity: Quantity) -> None:
        # Written out (a pull builds one per item: 400,000 a cycle at 100,000 SKUs × 4
        # stores, at two thirds of the generated frozen __init__ and __post_init__'s cost).
        # The SKU is interned: one string per SKU however many stores and the ledger's
        # snapshot show it, tens of megabytes at that size.
        _set(self, "store", store)
        _set(self, "sku", sys.intern(sku) if type(sku) is str else sku)
        _set(self, "remote_id", remote_id)
        _set(self, "quantity", quantity)

    @property
    def unlimited(self) -> bool:
        return self.quantity is None


@dataclass(frozen=True, slots=True)
class ItemIssue:
    """A variant a pull could not turn into an observation.

    ``kind`` is ``UNMAPPED`` (no SKU) or ``BAD_DATA`` (quantity negative, fractional, of
    the wrong type). A BAD_DATA item with a SKU leaves that (store, SKU) untouched this
    cycle: no delta, no write, nothing in the ledger changed.
    """

    store: StoreName
    remote_id: str
    sku: Sku | None
    kind: ConflictKind
    message: str


@dataclass(frozen=True, slots=True)
class StorePull:
    """One store's complete pull: every observation and every item it could not read.

    ``unchanged`` holds SKUs the store showed exactly as the ledger expects them (the
    snapshot's remote id, tracked, quantity == expected), left out of ``observations``
    so that a steady cycle does not hold the whole catalogue twice (``split_unchanged``;
    ``held_unchanged`` holds them as the snapshot's SKUs of the store but a few);
    ``plan_cycle`` reads them back from the snapshot and plans exactly what it would have
    planned from the observations themselves."""

    store: StoreName
    observations: tuple[Observation, ...]
    issues: tuple[ItemIssue, ...] = ()
    unchanged: AbstractSet[Sku] = frozenset()


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """What a store's catalog says about one of its references (for platforms whose
    inventory records carry no SKU): the SKU, and whether stock is tracked."""

    ref: str
    sku: Sku | None
    tracked: bool


@dataclass(frozen=True, slots=True)
class ItemState:
    """Ledger state of one (store, SKU): the store's id for it and the expected quantity."""

    remote_id: str
    expected: Quantity


_T = TypeVar("_T")
_NO_ITEMS: Mapping[Sku, ItemState] = {}


class PairMap(Mapping[tuple[StoreName, Sku], ItemState]):
    """(store, SKU) → ItemState, held as one dict per store. A flat dict keyed by pairs
    holds a tuple per pair: at 100,000 SKUs × 4 stores about 25 MB of keys alone, in the
    snapshot and again in a first sync's plan. Read only; ``store`` gives one store's
    SKU → state without building a key per lookup."""

    __slots__ = ("_stores",)

    def __init__(self, stores: Mapping[StoreName, Mapping[Sku, ItemState]] | None = None) -> None:
        self._stores = {store: items for store, items in (stores or {}).items() if items}

    @classmethod
    def of(cls, pairs: Mapping[tuple[StoreName, Sku], ItemState]) -> PairMap:
        if isinstance(pairs, PairMap):
            return pairs
        stores: dict[StoreName, dict[Sku, ItemState]] = {}
        for (store, sku), state in pairs.items():
            stores.setdefault(store, {})[sku] = state
        return cls(stores)

    def store(self, name: StoreName) -> Mapping[Sku, ItemState]:
        return self._stores.get(name, _NO_ITEMS)

    def __getitem__(self, key: tuple[StoreName, Sku]) -> ItemState:
        try:
            return self._stores[key[0]][key[1]]
        except (KeyError, TypeError, IndexError):
            raise KeyError(key) from None

    @overload
    def get(self, key: tuple[StoreName, Sku], /) -> ItemState | None: ...
    @overload
    def get(self, key: tuple[StoreName, Sku], /, default: ItemState | _T) -> ItemState | _T: ...
    def get(self, key: tuple[StoreName, Sku], /, default: Any = None) -> Any:
        items = self._stores.get(key[0])
        return default if items is None else items.get(key[1], default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        items = self._stores.get(key[0])
        return items is not None and key[1] in items

    def __iter__(self) -> Iterator[tuple[StoreName, Sku]]:
        for store, items in self._stores.items():
            for sku in items:
                yield store, sku

    def __len__(self) -> int:
        return sum(len(items) for items in self._stores.values())

    def triples(self) -> Iterator[tuple[StoreName, Sku, ItemState]]:
        """Every (store, SKU, state), without a lookup per pair as ``items()`` makes."""
        for store, items in self._stores.items():
            for sku, state in items.items():
                yield store, sku, state

    def __repr__(self) -> str:
        return f"PairMap({dict(self.items())!r})" if len(self) <= 20 else f"PairMap(<{len(self)} pairs>)"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The ledger as the core needs it: ``available`` per seeded SKU, state per pair
    (any mapping given is held as a ``PairMap``)."""

    available: Mapping[Sku, int]
    items: Mapping[tuple[StoreName, Sku], ItemState]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", PairMap.of(self.items))

    def store(self, name: StoreName) -> Mapping[Sku, ItemState]:
        """One store's SKU → state."""
        assert isinstance(self.items, PairMap)
        return self.items.store(name)


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """Per-store rules: units held back (a fixed ``buffer`` and a ``buffer_percent`` of the
    rest), an optional cap on what is listed, and how writes are expressed."""

    buffer: int = 0
    mode: WriteMode = WriteMode.RELATIVE
    buffer_percent: int = 0
    max_listed: int | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """The pool: every enabled store, the first-sight policy and the optional master."""

    stores: Mapping[StoreName, StorePolicy]
    initial: InitialPolicy = InitialPolicy.MIN
    master: StoreName | None = None
    max_change: int | None = None  # safety rail: Σ|delta| of one SKU in one cycle
    aliases: Mapping[StoreName, Mapping[Sku, Sku]] = field(default_factory=dict)  # store SKU → canonical


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One change to a SKU's ``available``. ``store`` is None for a first-sight seed."""

    sku: Sku
    store: StoreName | None
    delta: int
    reason: str


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One planned write: bring ``store``'s ``sku`` from ``before`` (as pulled) to ``target``."""

    store: StoreName
    sku: Sku
    remote_id: str
    before: int
    target: int
    mode: WriteMode

    @property
    def delta(self) -> int:
        return self.target - self.before


@dataclass(frozen=True, slots=True)
class Conflict:
    """Something the rules could not resolve. ``subject`` tells apart two conflicts of
    one kind on the same store and SKU (e.g. the remote id of an unmapped variant)."""

    kind: ConflictKind
    store: StoreName | None
    sku: Sku | None
    message: str
    data: Mapping[str, object] = field(default_factory=dict)
    subject: str = ""

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}|{self.store or ''}|{self.sku or ''}|{self.subject}"

    @property
    def is_state(self) -> bool:
        return self.kind in STATE_CONFLICTS


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one cycle decided, as values; the shell records and carries it out.

    ``available`` holds only SKUs whose value changed or that were seeded;
    ``items`` only pairs whose state changed; ``removed`` pairs a pulled store no
    longer carries. ``unseeded`` SKUs were seen but wait for a cycle that pulls every
    store; ``skipped`` SKUs (duplicates) were not evaluated at all. ``evaluated`` are
    the stores whose standing conditions this plan re-checked; ``complete`` says every
    enabled store was pulled. ``scope``: the SKUs a targeted cycle looked at (None: the
    whole pool); conditions of other SKUs were not re-checked.
    """

    journal: tuple[JournalEntry, ...]
    available: Mapping[Sku, int]
    items: Mapping[tuple[StoreName, Sku], ItemState]
    removed: frozenset[tuple[StoreName, Sku]]
    adjustments: tuple[Adjustment, ...]
    conflicts: tuple[Conflict, ...]
    unseeded: tuple[Sku, ...] = ()
    skipped: frozenset[Sku] = frozenset()
    evaluated: frozenset[StoreName] = frozenset()
    complete: bool = False
    scope: frozenset[Sku] | None = None
