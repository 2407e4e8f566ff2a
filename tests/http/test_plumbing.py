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


class Chunks(httpx.AsyncByteStream):
    """A body that arrives in the given pieces, optionally losing the connection after them."""

    def __init__(self, *pieces: bytes, fail: bool = False) -> None:
        self.pieces, self.fail, self.closed, self.sent = pieces, fail, False, 0

    async def __aiter__(self):
        for piece in self.pieces:
            self.sent += 1
            yield piece
        if self.fail:
            raise httpx.ReadError("connection reset mid-body")

    async def aclose(self) -> None:
        self.closed = True


async def test_lines_are_cut_where_the_body_says_not_where_the_network_did():
    """A line split across pieces is one line; CRLF and a last line without an end are
    read as lines; the body is handed over as it arrives and the stream is closed after."""
    clock = FakeClock()
    body = Chunks(b'{"a":', b'1}\r\n{"b"', b":2}\n\n", b'{"c":3}')
    c = client(lambda r: httpx.Response(200, stream=body), clock)
    lines = []
    async for line in c.lines(c.http.build_request("GET", "/file.jsonl")):
        lines.append((line, body.sent))
    assert lines == [(b'{"a":1}', 2), (b'{"b":2}', 3), (b"", 3), (b'{"c":3}', 4)]
    assert body.closed


async def test_lines_take_the_send_paths_retries_and_errors():
    """A 503 before the body is retried like any request; a 404 is the request's error;
    a connection lost mid-body is a transient error naming the redacted URL, not retried
    (lines were handed out), and the stream is closed."""
    clock = FakeClock()
    answers = [httpx.Response(503), httpx.Response(200, stream=Chunks(b"x\ny\n"))]
    c = client(lambda r: answers.pop(0), clock)
    assert [line async for line in c.lines(c.http.build_request("GET", "/f"))] == [b"x", b"y"]
    assert c.retries == 1
    c = client(lambda r: httpx.Response(404), clock)
    with pytest.raises(PermanentStoreError):
        async for _ in c.lines(c.http.build_request("GET", "/f")):
            pass
    broken = Chunks(b"x\n", b"y", fail=True)
    c = client(lambda r: httpx.Response(200, stream=broken), clock)
    got = []
    with pytest.raises(TransientStoreError) as caught:
        async for line in c.lines(c.http.build_request("GET", "/f?token=secret")):
            got.append(line)
    assert got == [b"x"] and c.retries == 0 and broken.closed
    assert "secret" not in str(caught.value) and "http://x.test/f" in str(caught.value)


async def test_a_downloads_body_is_not_read_as_an_api_answer():
    """The platform's classifier and pacer read API answers (GraphQL errors in a 200);
    a streamed 2xx download is handed over unread, so they never see it."""
    clock = FakeClock()
    seen: list[int] = []

    def classify(response: httpx.Response):
        seen.append(len(response.content))  # would raise ResponseNotRead on an unread body
        return None

    c = client(lambda r: httpx.Response(200, stream=Chunks(b'{"errors": []}\n')), clock)
    c.classify = classify
    c.pace = lambda response, now: seen.append(len(response.content)) or None
    assert [line async for line in c.lines(c.http.build_request("GET", "/f"))] == [b'{"errors": []}']
    assert seen == []


async def test_a_read_response_is_freed_as_soon_as_it_is_dropped():
    """httpx binds a response's stream back to the response (a reference cycle): without
    the unbinding every page's body would wait for the cyclic collector. With the
    collector off, a dropped response (and a finished download's stream) is gone at once."""
    import gc
    import weakref

    clock = FakeClock()
    streams: list[weakref.ref[Chunks]] = []

    def download(request: httpx.Request) -> httpx.Response:
        body = Chunks(b"a\nb\n")
        streams.append(weakref.ref(body))
        return httpx.Response(200, stream=body)

    gc.collect()
    gc.disable()
    try:
        c = client(lambda r: httpx.Response(200, content=b"x" * 100_000), clock)
        response = await c.send(c.http.build_request("GET", "/page"))
        assert len(response.content) == 100_000
        gone = weakref.ref(response)
        del response
        assert gone() is None
        c = client(download, clock)
        assert [line async for line in c.lines(c.http.build_request("GET", "/file"))] == [b"a", b"b"]
        assert streams and streams[0]() is None
    finally:
        gc.enable()
