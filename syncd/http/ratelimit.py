"""Client-side pacing per store: a token bucket shared by pull and push, plus a
cool-down when the store says stop (429)."""

from __future__ import annotations

from .clock import Clock

__all__ = ["RateLimiter"]

EPSILON = 1e-9
MIN_SLEEP = 1e-3


class RateLimiter:
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
        self._paused_until = max(self._paused_until, self.clock.monotonic() + seconds)
        self._tokens = 0.0

    async def acquire(self) -> None:
        while True:
            now = self.clock.monotonic()
            if now < self._paused_until:
                await self.clock.sleep(self._paused_until - now)
                continue
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0 - EPSILON:
                self._tokens = max(0.0, self._tokens - 1.0)
                return
            # A wait shorter than the clock can represent would never add a token.
            await self.clock.sleep(max(MIN_SLEEP, (1.0 - self._tokens) / self.rate))
