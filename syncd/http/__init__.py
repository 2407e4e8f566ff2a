"""Shared connector plumbing: the send path, retries, pacing, pagination, the clock."""

from __future__ import annotations

from .client import ApiClient, Classifier, Pacer, Retry, redact_url
from .clock import Clock, SystemClock
from .pagination import CursorLoop, CursorPaginator, Paginator
from .ratelimit import RateLimiter
from .retry import RetryPolicy, parse_retry_after

__all__ = [
    "ApiClient",
    "Classifier",
    "Clock",
    "CursorLoop",
    "CursorPaginator",
    "Pacer",
    "Paginator",
    "RateLimiter",
    "Retry",
    "RetryPolicy",
    "SystemClock",
    "parse_retry_after",
    "redact_url",
]
