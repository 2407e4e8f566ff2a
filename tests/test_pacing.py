"""A store's pacing holds across cycles: the limiter's state is saved in the ledger when a
cycle's connectors close and read back by the next cycle's — on this process, another
replica or another fleet worker — so a new cycle does not start with a full allowance and
burst past the store's window. FakeClock: sleeping is virtual time, as in bench/floor.py."""

from __future__ import annotations

import random

import pytest

from syncd.http import RetryPolicy, WindowLimiter
from syncd.http.ratelimit import RateLimiter
from syncd.service import LedgerPacing, reconcile_once
from syncd.testing import FakeClock
from syncd.testing.pool import SquarespacePool

RETRY = RetryPolicy(max_attempts=3, base=0.1, cap=1.0, rng=random.Random(4))


def test_a_window_limiter_goes_on_from_its_saved_sends():
    clock = FakeClock()
    first = WindowLimiter(10, 60, clock, margin=0)
    for _ in range(8):
        assert first._wait(clock.monotonic()) == 0
        clock.advance(1)
    state = first.state(clock.wall().timestamp())
    second = WindowLimiter(10, 60, FakeClock(clock.wall()), margin=0)  # another process: its own monotonic clock
    second.restore(state, clock.wall().timestamp())
    assert [second._wait(0.0) for _ in range(3)][:2] == [0, 0]  # two left of ten in the window
    assert second._wait(0.0) > 50  # then it waits for the first saved send to leave the window


def test_a_bucket_goes_on_from_its_saved_tokens():
    clock = FakeClock()
    first = RateLimiter(60, clock, burst=10)
    for _ in range(10):
        first._wait(clock.monotonic())
    second = RateLimiter(60, FakeClock(clock.wall()), burst=10)
    second.restore(first.state(clock.wall().timestamp()), clock.wall().timestamp())
    assert second._wait(0.0) > 0.9  # empty: about a second for the next token


@pytest.mark.parametrize("carry", [True, False])
async def test_consecutive_cycles_stay_under_the_stores_limit(engine, clock, monkeypatch, carry):
    """Two cycles back to back at a limit of 30 a minute, each needing 21 requests: with the
    pacing carried over, the store never answers 429; without it (what a fresh worker did),
    the second cycle bursts, is refused, and sits out Squarespace's one-minute lockout."""
    stock = {f"SKU{i:04d}": 5 for i in range(1000)}  # 20 pages of 50
    pool = SquarespacePool({"a": stock, "b": stock}, clock=clock, rate_limit_per_minute=30)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    if not carry:
        monkeypatch.setattr(LedgerPacing, "load", lambda self: {})
    url = engine.url.render_as_string(hide_password=False)
    settings = pool.settings(url, store_options={n: {"requests_per_minute": 30} for n in ("a", "b")})
    throttled = 0
    for _ in range(2):
        pool["a"].sell("SKU0001", 1)
        report = await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports())
        throttled += sum(stats["throttled"] for stats in report.http.values())
    assert (throttled == 0) is carry, throttled
