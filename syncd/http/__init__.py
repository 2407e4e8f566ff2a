"""Shared connector plumbing: the send path, retries, pacing, pagination, the clock."""

from __future__ import annotations

from .client import ApiClient, Classifier, Pacer, Retry, redact_url
from .clock import Clock, SystemClock
from .pagination import CursorLoop, CursorPaginator, Paginator
from .ratelimit import Limiter, RateLimiter, WindowLimiter, limiter_for
from .retry import RetryPolicy, parse_retry_after

__all__ = [
    "ApiClient",
    "Classifier",
    "Clock",
    "CursorLoop",
    "CursorPaginator",
    "Limiter",
    "Pacer",
    "Paginator",
    "RateLimiter",
    "Retry",
    "RetryPolicy",
    "SystemClock",
    "WindowLimiter",
    "limiter_for",
    "parse_retry_after",
    "redact_url",
]
