"""Retry policy, Retry-After parsing, rate limiting and the ApiClient send path."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from syncd.errors import PermanentStoreError, RateLimited, TransientStoreError
from syncd.http import ApiClient, RateLimiter, RetryPolicy, WindowLimiter, limiter_for, parse_retry_after, redact_url
from syncd.testing import FakeClock


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("0", 0.0), ("1.5", 1.5), ("Sun, 01 Nov 2026 00:02:00 GMT", 120.0),
     ("", None), (None, None), ("soon", None), ("Sun, 01 Nov 2026 00:00:00 GMT", 0.0)],
)
def test_retry_after_in_both_forms(value, seconds):
    """Delay-seconds or HTTP-date; past dates mean now; garbage means no advice."""
    assert parse_retry_after(value, datetime(2026, 11, 1, 0, 0, tzinfo=UTC)) == seconds


def test_backoff_is_full_jitter_under_the_cap_and_honours_the_stores_wait():
    """uniform(0, min(cap, base·2^n)), or the store's wait plus at most 1 s."""
    policy = RetryPolicy(base=1, cap=4, rng=random.Random(3))
    assert all(0 <= policy.backoff(n, None) <= min(4, 2 ** (n - 1)) for n in range(1, 10) for _ in range(20))
    assert all(60 <= policy.backoff(1, 60) <= 61 for _ in range(20))


async def test_rate_limiter_paces_requests():
    """120/min with a burst of 1: ten requests take about 4.5 s of (fake) time."""
    clock = FakeClock()
    limiter = RateLimiter(120, clock, burst=1)
    for _ in range(10):
        await limiter.acquire()
    assert 4.4 <= clock.t <= 4.6


async def test_window_limiter_spends_a_window_at_once_and_never_more():
    """150 per 30 s: the first 150 go at once, the 151st waits one (stretched) window, and
    no 30 s span of 400 acquisitions holds more than 150 — whichever way the store counts."""
    clock = FakeClock()
    limiter = WindowLimiter(150, 30, clock, margin=0.02)
    times = []
    for _ in range(400):
        await limiter.acquire()
        times.append(clock.t)
    assert times[149] == 0 and times[150] == pytest.approx(30.6)
    assert times[-1] == pytest.approx(61.2)  # ⌈400/150⌉ − 1 windows: the floor, stretched by 2 %
    assert all(sum(1 for u in times if t <= u < t + 30) <= 150 for t in times)


async def test_window_limiter_honours_a_pause():
    clock = FakeClock()
    limiter = WindowLimiter(10, 1, clock)
    limiter.pause(60)
    await limiter.acquire()
    assert clock.t == pytest.approx(60)


def test_limiter_for_picks_the_window_the_platform_counts_over():
    from datetime import timedelta

    clock = FakeClock()
    window = limiter_for(300, clock, timedelta(seconds=30))
    assert isinstance(window, WindowLimiter) and window.quota == 150
    assert isinstance(limiter_for(300, clock), RateLimiter)


def client(handler, clock: FakeClock, attempts: int = 4) -> ApiClient:
    http = httpx.AsyncClient(base_url="http://x.test", transport=httpx.MockTransport(handler))
    return ApiClient("s", http, clock=clock, limiter=RateLimiter(6000, clock),
                     retry=RetryPolicy(max_attempts=attempts, base=0.5, rng=random.Random(0)))


async def test_429_retry_after_is_waited_then_retried():
    """A 429 with Retry-After: 7 is waited out before the next attempt."""
    clock = FakeClock()
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})]
    c = client(lambda r: answers.pop(0), clock)
    assert (await c.send(c.http.build_request("GET", "/a"))).status_code == 200
    assert clock.t >= 7 and c.throttled == 1 and c.retries == 1


async def test_only_transient_errors_are_retried():
    """A 400 is raised at once; a 503 is retried up to max_attempts then raised."""
    clock = FakeClock()
    calls = []

    def bad(request):
        calls.append(1)
        return httpx.Response(400)

    c = client(bad, clock)
    with pytest.raises(PermanentStoreError):
        await c.send(c.http.build_request("GET", "/a"))
    assert len(calls) == 1
    c = client(lambda r: httpx.Response(503), clock, attempts=3)
    with pytest.raises(TransientStoreError):
        await c.send(c.http.build_request("GET", "/a"))
    assert c.retries == 2


async def test_no_retry_when_the_caller_says_it_is_unsafe():
    """retry=False: the first transient error is the answer."""
    clock = FakeClock()
    c = client(lambda r: httpx.Response(429), clock)
    with pytest.raises(RateLimited):
        await c.send(c.http.build_request("POST", "/a"), retry=False)
    assert c.retries == 0


def test_urls_in_errors_carry_no_query_or_credentials():
    """Cursors and tokens in queries or userinfo never reach a message."""
    assert redact_url(httpx.URL("https://u:p@api.test:8443/1.0/x?cursor=abc&token=t")) == "https://api.test:8443/1.0/x"


async def test_rate_limiter_makes_progress_late_in_a_long_run():
    """Concurrent waiters far into a run (t = 10⁶ s): no wait is lost to rounding."""
    import asyncio

    clock = FakeClock()
    clock.advance(1_000_000)
    limiter = RateLimiter(600, clock)

    async def take(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()

    await asyncio.wait_for(asyncio.gather(*(take(50) for _ in range(8))), timeout=10)
    assert 1_000_000 + 38 <= clock.t <= 1_000_000 + 80
