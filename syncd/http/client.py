"""ApiClient: the send path every connector shares.

    send → _with_retries → _rate_limited → _send_once → transport
    lines: the same path, the 2xx body then read a piece at a time (large downloads)

httpx exceptions and error statuses become syncd's StoreError tree here, each with the
store, the method and a redacted URL (no query string, no credentials).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Callable, Collection, Iterator
from typing import Any, Literal, TypeVar

import httpx
import orjson

from ..errors import (
    AuthError,
    BadStoreData,
    PermanentStoreError,
    RateLimited,
    StoreError,
    TransientStoreError,
)
from .clock import Clock
from .ratelimit import Limiter
from .retry import RetryPolicy, parse_retry_after

__all__ = ["ApiClient", "Classifier", "Pacer", "Retry", "redact_url"]

E = TypeVar("E", bound=StoreError)

Pacer = Callable[[httpx.Response, float], float | None]
"""Platform-specific reading of rate-limit headers: given a response and the wall clock
(Unix seconds), the seconds to pause this store before its next request, or None."""

Retry = Literal[True, False, "unsent"]
"""True: retry every transient error; False: none; "unsent": only errors after which
the store surely did not act on the request (429, no connection)."""

Classifier = Callable[[httpx.Response], tuple[type[StoreError], str] | None]
"""Platform-specific reading of a response: (error class, reason) to raise, or None for
the default reading of its status."""


def redact_url(url: httpx.URL) -> str:
    """Scheme, host, port and path only: queries and userinfo may hold cursors or secrets."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


class ApiClient:
    """One store's HTTP client: pacing, retries and error translation around one
    ``httpx.AsyncClient``. ``retry_after_429`` is the wait used when a 429 carries no
    header (Squarespace: 60 s cool-down)."""

    def __init__(
        self,
        store: str,
        http: httpx.AsyncClient,
        *,
        clock: Clock,
        limiter: Limiter,
        retry: RetryPolicy | None = None,
        classify: Classifier | None = None,
        retry_after_429: float | None = None,
        pace: Pacer | None = None,
    ) -> None:
        self.store = store
        self.http = http
        self.clock = clock
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.classify = classify
        self.retry_after_429 = retry_after_429
        self.pace = pace
        self.retries = 0
        self.throttled = 0

    async def send(
        self, request: httpx.Request, *, retry: Retry = True, expect: Collection[int] = ()
    ) -> httpx.Response:
        """Send ``request``; return a 2xx response or one whose status is in ``expect``.
        Only transient errors are retried, and only as far as ``retry`` allows."""
        return await self._with_retries(request, retry=retry, expect=expect)

    async def lines(self, request: httpx.Request, *, retry: Retry = True) -> AsyncGenerator[bytes, None]:
        """Send ``request`` as ``send`` does (pacing, retries, errors), then yield its 2xx
        body line by line without ever holding all of it: a download of tens of megabytes
        costs one network chunk at a time. A connection lost mid-body is a transient error
        (nothing is retried once lines have been handed out); line ends are not included."""
        response = await self._with_retries(request, retry=retry, expect=(), stream=True)
        rest = b""
        try:
            with self._map_errors(request):
                async for chunk in response.aiter_bytes():
                    *whole, rest = (rest + chunk).split(b"\n")
                    for line in whole:
                        yield line.rstrip(b"\r")
            if rest:
                yield rest.rstrip(b"\r")
        finally:
            await response.aclose()
            _unbind(response, b"")  # handed out as lines, not kept

    async def _with_retries(
        self, request: httpx.Request, *, retry: Retry, expect: Collection[int], stream: bool = False
    ) -> httpx.Response:
        attempt, waited = 1, 0.0
        while True:
            try:
                return await self._rate_limited(request, expect, stream)
            except TransientStoreError as exc:
                allowed = retry is True or (retry == "unsent" and not exc.maybe_applied)
                if not allowed or attempt >= self.retry.max_attempts:
                    raise
                wait = self.retry.backoff(attempt, exc.retry_after)
                if waited + wait > self.retry.max_total:
                    raise
                self.retries += 1
                attempt, waited = attempt + 1, waited + wait
                await self.clock.sleep(wait)

    async def _rate_limited(self, request: httpx.Request, expect: Collection[int], stream: bool) -> httpx.Response:
        await self.limiter.acquire()
        try:
            return await self._send_once(request, expect, stream)
        except RateLimited as exc:
            self.throttled += 1
            self.limiter.pause(exc.retry_after or 0.0)
            raise

    async def _send_once(self, request: httpx.Request, expect: Collection[int], stream: bool) -> httpx.Response:
        with self._map_errors(request):
            response = await self.http.send(request, stream=stream)
            if stream and 200 <= response.status_code < 300:
                return response  # a download's body: the caller reads it (not an API answer to classify)
            await response.aread()
        _unbind(response, response.content)
        if self.pace is not None:
            pause = self.pace(response, self.clock.wall().timestamp())
            if pause and response.status_code != 429:
                self.limiter.pause(pause)
        error = self._error_for(request, response, expect)
        if error is not None:
            raise error
        return response

    def json(self, response: httpx.Response) -> Any:
        """The response's JSON body; a body that is not JSON is ``BadStoreData`` (the
        store's pull or write fails cleanly), naming the store and the redacted URL."""
        try:
            return orjson.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):  # orjson's error is a JSONDecodeError
            raise self._error(BadStoreData, "answer is not valid JSON", response.request,
                              response.status_code) from None

    def _error_for(
        self, request: httpx.Request, response: httpx.Response, expect: Collection[int]
    ) -> StoreError | None:
        status = response.status_code
        if self.classify is not None:
            custom = self.classify(response)
            if custom is not None:
                error = self._error(custom[0], custom[1], request, status)
                if isinstance(error, RateLimited):  # throttling announced in a body (GraphQL's 200)
                    asked = self.pace(response, self.clock.wall().timestamp()) if self.pace else None
                    error.retry_after = asked if asked is not None else self.retry_after_429
                return error
        if 200 <= status < 300 or status in expect:
            return None
        reason = response.reason_phrase or "error"
        if status == 429:
            asked = self.pace(response, self.clock.wall().timestamp()) if self.pace else None
            if asked is None:
                asked = parse_retry_after(response.headers.get("Retry-After"), self.clock.wall())
            error = self._error(RateLimited, "rate limited", request, status)
            error.retry_after = asked if asked is not None else self.retry_after_429
            return error
        if status >= 500 or status == 408:
            return self._error(TransientStoreError, f"server error: {reason}", request, status)
        if status in (401, 403):
            return self._error(AuthError, f"credentials refused: {reason}", request, status)
        return self._error(PermanentStoreError, f"request refused: {reason}{_detail(response)}", request, status)

    def _error(self, cls: type[E], reason: str, request: httpx.Request, status: int | None = None) -> E:
        """An error of ``cls`` naming this store, the method and the redacted URL."""
        return cls(reason, store=self.store, method=request.method, url=redact_url(request.url), status=status)

    @contextlib.contextmanager
    def _map_errors(self, request: httpx.Request) -> Iterator[None]:
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            error = self._error(TransientStoreError, f"could not connect ({type(exc).__name__})", request)
            error.maybe_applied = False
            raise error from None
        except httpx.TimeoutException as exc:
            raise self._error(TransientStoreError, f"timed out ({type(exc).__name__})", request) from None
        except httpx.TransportError as exc:
            raise self._error(TransientStoreError, f"connection failed ({type(exc).__name__})", request) from None


def _unbind(response: httpx.Response, body: bytes) -> None:
    """httpx 0.28 binds a response's stream back to the response, to set ``elapsed`` when
    it closes (encode/httpx#3733): a reference cycle, so every body stays in memory until
    the cyclic collector runs, and one that is still being parsed when it runs waits for
    an older generation's much rarer pass (at 100,000 SKUs × 4, dozens of pages' bodies at
    a cycle's peak). Once the response is closed the binding has done its work:
    the body alone is left, and the response is freed as soon as its reader drops it."""
    response.stream = httpx.ByteStream(body)


def _detail(response: httpx.Response) -> str:
    """The store's own words about a refusal (problem+json ``title``, ``message``, …)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for key in ("title", "message", "error", "subtype"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return f" — {value[:300]}"
    return ""
