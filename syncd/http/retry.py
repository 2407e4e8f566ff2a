"""One retry policy for every store: exponential backoff with full jitter, bounded in
attempts and total time, honouring the store's own wait (Retry-After and the like)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "parse_retry_after"]


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` tries in all, each wait ``uniform(0, min(cap, base·2^n))`` unless
    the store asked for a wait; never more than ``max_total`` seconds of waiting."""

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_total: float = 180.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int, asked: float | None) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        jitter = self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))
        if asked is not None:
            return asked + min(jitter, 1.0)  # the store's wait, spread a little
        return jitter


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in either form: delay-seconds or an HTTP-date. None if absent/invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
