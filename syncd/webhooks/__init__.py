"""Store events in: verify, parse, deduplicate and queue them for targeted cycles."""

from __future__ import annotations

from .events import Event, Malformed, parse_event
from .inbox import EventBatch, Inbox
from .receiver import EventMetrics, WebhookReceiver, WebhookStore
from .verify import Invalid, verify

__all__ = [
    "Event",
    "EventBatch",
    "EventMetrics",
    "Inbox",
    "Invalid",
    "Malformed",
    "WebhookReceiver",
    "WebhookStore",
    "parse_event",
    "verify",
]
