"""Events waiting for their targeted cycle: bounded, deduplicated, coalesced.

Events that arrive while a cycle runs gather here and are taken together by the next
targeted cycle (after a short debounce). A duplicate (same store and event id, within
the last ``remember`` events) is dropped; one older than that, or replayed, is harmless
anyway: an event only says which items to re-read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .events import Event

__all__ = ["EventBatch", "Inbox"]

Offer = Literal["queued", "duplicate", "full"]


@dataclass
class EventBatch:
    """What one targeted cycle takes: per store the item ids and references to re-read,
    and each event's store and arrival (monotonic seconds)."""

    ids: dict[str, set[str]] = field(default_factory=dict)
    refs: dict[str, set[str]] = field(default_factory=dict)
    received: list[tuple[str, float]] = field(default_factory=list)

    def add(self, event: Event, at: float) -> None:
        if event.ids:
            self.ids.setdefault(event.store, set()).update(event.ids)
        if event.refs:
            self.refs.setdefault(event.store, set()).update(event.refs)
        self.received.append((event.store, at))

    def merge(self, other: EventBatch) -> None:
        for store, ids in other.ids.items():
            self.ids.setdefault(store, set()).update(ids)
        for store, refs in other.refs.items():
            self.refs.setdefault(store, set()).update(refs)
        self.received.extend(other.received)

    def __len__(self) -> int:
        return len(self.received)


class Inbox:
    """At most ``capacity`` events waiting; ``offer`` says whether one was queued."""

    def __init__(self, capacity: int, *, remember: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.remember = remember
        self.clock = clock
        self._pending = EventBatch()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._ready = asyncio.Event()

    @property
    def depth(self) -> int:
        return len(self._pending)

    def offer(self, event: Event) -> Offer:
        key = (event.store, event.event_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return "duplicate"
        if len(self._pending) >= self.capacity:
            return "full"  # not remembered: the store's retry must get in once there is room
        self._seen[key] = None
        while len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        if event.ids or event.refs:
            self._pending.add(event, self.clock())
            self._ready.set()
        return "queued"

    async def wait(self) -> None:
        """Until at least one event waits."""
        await self._ready.wait()

    def take(self) -> EventBatch:
        """Everything waiting, as one batch (empty if nothing waits)."""
        batch, self._pending = self._pending, EventBatch()
        self._ready.clear()
        return batch

    def give_back(self, batch: EventBatch) -> None:
        """A batch whose cycle could not run (the ledger was locked): wait again, first."""
        if len(batch):
            batch.merge(self._pending)
            self._pending = batch
            self._ready.set()
