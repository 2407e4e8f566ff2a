"""Client-side pacing per store, shared by pull and push, plus a cool-down when the store
says stop (429): a smooth token bucket, or a sliding window where the platform documents
its limit as so many requests per window."""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from typing import Any, Protocol

from .clock import Clock

__all__ = ["Limiter", "RateLimiter", "WindowLimiter", "limiter_for"]

EPSILON = 1e-9
MIN_SLEEP = 1e-3


class _Paced:
    """The acquire loop both limiters share: honour a cool-down, then ask the limiter
    how long until one more request is allowed (0: now, and it is counted).

    ``state(wall)`` / ``restore(state, wall)`` carry what the limiter knows from one cycle
    (one process, one worker) to the next, in wall-clock seconds: a store's pacing then
    holds across cycles instead of starting with a full allowance each time."""

    clock: Clock
    _paused_until: float

    def _to_wall(self, t: float, wall: float) -> float:
        return wall - (self.clock.monotonic() - t)

    def _from_wall(self, t: float, wall: float) -> float:
        return self.clock.monotonic() - (wall - t)

    def pause(self, seconds: float) -> None:
        """Stop sending for ``seconds`` (the store's cool-down)."""
        self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)

    def _wait(self, now: float) -> float:
        raise NotImplementedError

    async def acquire(self) -> None:
        while True:
            now = self.clock.monotonic()
            if now < self._paused_until:
                await self.clock.sleep(self._paused_until - now)
                continue
            wait = self._wait(now)
            if wait <= 0:
                return
            # A wait shorter than the clock can represent would never make room.
            await self.clock.sleep(max(MIN_SLEEP, wait))


class RateLimiter(_Paced):
    """At most ``per_minute`` requests a minute, in bursts of at most ``burst``."""

    def __init__(self, per_minute: float, clock: Clock, burst: int | None = None) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, min(10, int(per_minute // 60) or 1)))
        self.clock = clock
        self._tokens = self.capacity
        self._stamp = clock.monotonic()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Stop sending for ``seconds`` (the store's cool-down), and empty the bucket."""
        super().pause(seconds)
        self._tokens = 0.0

    def state(self, wall: float) -> dict[str, float]:
        return {"tokens": self._tokens, "at": self._to_wall(self._stamp, wall),
                "paused_until": self._to_wall(self._paused_until, wall)}

    def restore(self, state: dict[str, Any], wall: float) -> None:
        self._tokens = min(self.capacity, max(0.0, float(state.get("tokens", self.capacity))))
        self._stamp = self._from_wall(float(state.get("at", wall)), wall)
        self._paused_until = max(self._paused_until, self._from_wall(float(state.get("paused_until", 0.0)), wall))

    def _wait(self, now: float) -> float:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0 - EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Limiter(Protocol):
    async def acquire(self) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def state(self, wall: float) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any], wall: float) -> None: ...


class WindowLimiter(_Paced):
    """At most ``quota`` requests in any ``window`` seconds: a sliding log of send times.

    Safe whichever way the store counts ``quota`` per ``window`` — fixed windows, a
    sliding window, or a token bucket of ``quota`` refilling ``quota/window`` a second —
    and, unlike a smooth bucket, it may spend a whole window's quota at once, so a short
    cycle is not paced slower than the store allows. ``margin`` stretches the window a
    little: the store counts arrivals, which trail sends by a varying latency.
    """

    def __init__(self, quota: int, window: float, clock: Clock, margin: float = 0.02) -> None:
        if quota < 1 or window <= 0:
            raise ValueError("quota must be at least 1 and window positive")
        self.quota = quota
        self.window = window * (1 + margin)
        self.clock = clock
        self._sent: deque[float] = deque()
        self._paused_until = 0.0

    def state(self, wall: float) -> dict[str, Any]:
        now = self.clock.monotonic()
        return {"sent": [self._to_wall(t, wall) for t in self._sent if t > now - self.window],
                "paused_until": self._to_wall(self._paused_until, wall)}

    def restore(self, state: dict[str, Any], wall: float) -> None:
        sent = sorted(self._from_wall(float(t), wall) for t in state.get("sent", []))
        self._sent = deque(sorted([*sent, *self._sent])[-self.quota:])
        self._paused_until = max(self._paused_until, self._from_wall(float(state.get("paused_until", 0.0)), wall))

    def _wait(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()
        if len(self._sent) < self.quota:
            self._sent.append(now)
            return 0.0
        # Never 0 here: a send allowed now would not be counted (when the oldest send is due
        # to leave the window just now, the subtraction above can round it in).
        return max(EPSILON, self._sent[0] + self.window - now)


def limiter_for(per_minute: float, clock: Clock, window: timedelta | None = None) -> Limiter:
    """The store's pacing: a sliding window of ``per_minute`` scaled to ``window`` when the
    platform counts requests per window, else a smooth token bucket."""
    if window is None:
        return RateLimiter(per_minute, clock)
    seconds = window.total_seconds()
    return WindowLimiter(max(1, int(per_minute * seconds / 60)), seconds, clock)
