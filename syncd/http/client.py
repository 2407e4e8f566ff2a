"""ApiClient: the send path every connector shares.

    send → _with_retries → _rate_limited → _send_once → transport

httpx exceptions and error statuses become syncd's StoreError tree here, each with the
store, the method and a redacted URL (no query string, no credentials).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator
from typing import TypeVar

import httpx

from ..errors import (
    AuthError,
    PermanentStoreError,
    RateLimited,
    StoreError,
    TransientStoreError,
)
from .clock import Clock
from .ratelimit import RateLimiter
from .retry import RetryPolicy, parse_retry_after

__all__ = ["ApiClient", "Classifier", "redact_url"]

E = TypeVar("E", bound=StoreError)

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
        limiter: RateLimiter,
        retry: RetryPolicy | None = None,
        classify: Classifier | None = None,
        retry_after_429: float | None = None,
    ) -> None:
        self.store = store
        self.http = http
        self.clock = clock
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.classify = classify
        self.retry_after_429 = retry_after_429
        self.retries = 0
        self.throttled = 0

    async def send(
        self, request: httpx.Request, *, retry: bool = True, expect: Collection[int] = ()
    ) -> httpx.Response:
        """Send ``request``; return a 2xx response or one whose status is in ``expect``.
        Only transient errors are retried, and only when ``retry`` is true."""
        return await self._with_retries(request, retry=retry, expect=expect)

    async def _with_retries(
        self, request: httpx.Request, *, retry: bool, expect: Collection[int]
    ) -> httpx.Response:
        attempt, waited = 1, 0.0
        while True:
            try:
                return await self._rate_limited(request, expect)
            except TransientStoreError as exc:
                if not retry or attempt >= self.retry.max_attempts:
                    raise
                wait = self.retry.backoff(attempt, exc.retry_after)
                if waited + wait > self.retry.max_total:
                    raise
                self.retries += 1
                attempt, waited = attempt + 1, waited + wait
                await self.clock.sleep(wait)

    async def _rate_limited(self, request: httpx.Request, expect: Collection[int]) -> httpx.Response:
        await self.limiter.acquire()
        try:
            return await self._send_once(request, expect)
        except RateLimited as exc:
            self.throttled += 1
            self.limiter.pause(exc.retry_after or 0.0)
            raise

    async def _send_once(self, request: httpx.Request, expect: Collection[int]) -> httpx.Response:
        with self._map_errors(request):
            response = await self.http.send(request)
            await response.aread()
        error = self._error_for(request, response, expect)
        if error is not None:
            raise error
        return response

    def _error_for(
        self, request: httpx.Request, response: httpx.Response, expect: Collection[int]
    ) -> StoreError | None:
        status = response.status_code
        if self.classify is not None:
            custom = self.classify(response)
            if custom is not None:
                return self._error(custom[0], custom[1], request, status)
        if 200 <= status < 300 or status in expect:
            return None
        reason = response.reason_phrase or "error"
        if status == 429:
            asked = parse_retry_after(response.headers.get("Retry-After"), self.clock.wall())
            error = self._error(RateLimited, "rate limited", request, status)
            error.retry_after = asked if asked is not None else self.retry_after_429
            return error
        if status >= 500 or status == 408:
            return self._error(TransientStoreError, f"server error: {reason}", request, status)
        if status in (401, 403):
            return self._error(AuthError, f"credentials refused: {reason}", request, status)
        return self._error(PermanentStoreError, f"request refused: {reason}", request, status)

    def _error(self, cls: type[E], reason: str, request: httpx.Request, status: int | None = None) -> E:
        """An error of ``cls`` naming this store, the method and the redacted URL."""
        return cls(reason, store=self.store, method=request.method, url=redact_url(request.url), status=status)

    @contextlib.contextmanager
    def _map_errors(self, request: httpx.Request) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise self._error(TransientStoreError, f"timed out ({type(exc).__name__})", request) from None
        except httpx.TransportError as exc:
            raise self._error(TransientStoreError, f"connection failed ({type(exc).__name__})", request) from None
