"""``POST /webhooks/{store}``: authenticate, parse, deduplicate, queue. Nothing else.

Order of checks: an unknown store (or one that is polled only) is 404; a body over the
size limit is 413; the signature is checked on the raw body before anything is parsed
(401, counted, logged without the signature or the body); a body that is not the
platform's event is 400; a full queue is 503 with ``Retry-After`` (the store retries);
anything else is 200, duplicates included (the store must stop retrying them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .events import Malformed, parse_event
from .inbox import Inbox
from .verify import Invalid, verify

__all__ = ["EventMetrics", "WebhookReceiver", "WebhookStore"]

log = structlog.get_logger("syncd.webhooks")
MAX_BODY = 1 << 20  # 1 MiB: the platforms' events are a few kB
OUTCOMES = ("received", "duplicate", "ignored", "invalid", "malformed", "rejected_full", "echo")


@dataclass(frozen=True, slots=True)
class WebhookStore:
    """A store that sends events: its platform, its secret (or public key), the header a
    BigCommerce hook sends its secret in."""

    platform: str
    secret: str
    header: str = "X-Webhook-Secret"

    def __repr__(self) -> str:  # never the secret
        return f"WebhookStore(platform={self.platform!r})"


class EventMetrics:
    """Events by store and outcome, the queue's depth, and the time from an event's
    arrival to every store written or found in step."""

    def __init__(self, registry: CollectorRegistry, stores: list[str]) -> None:
        self.events = Counter("syncd_events_total", "Store events by store and outcome.", ["store", "outcome"],
                              registry=registry)
        self.depth = Gauge("syncd_event_queue_depth", "Events waiting for a targeted cycle.", registry=registry)
        self.queue = 0
        self.lag = Histogram("syncd_event_to_sync_seconds",
                             "From an event's arrival to every store written or found in step.", registry=registry,
                             buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300))
        self.counts = {store: dict.fromkeys(OUTCOMES, 0) for store in stores}  # the status page's copy
        self.recent: deque[float] = deque(maxlen=1000)  # the last event-to-sync times, likewise
        for store in stores:
            for outcome in OUTCOMES:
                self.events.labels(store, outcome)

    def count(self, store: str, outcome: str, n: int = 1) -> None:
        self.events.labels(store, outcome).inc(n)
        self.counts[store][outcome] += n

    def set_depth(self, depth: int) -> None:
        self.depth.set(depth)
        self.queue = depth

    def synced(self, seconds: float) -> None:
        self.lag.observe(seconds)
        self.recent.append(seconds)

    def summary(self) -> dict[str, Any]:
        """For the status page: events by store and outcome, queue depth, recent lags."""
        lags = sorted(self.recent)

        def pct(q: float) -> float | None:
            return round(lags[min(len(lags) - 1, int(q * len(lags)))], 3) if lags else None

        return {"stores": {store: dict(c) for store, c in self.counts.items()}, "queue": self.queue,
                "lag_p50": pct(0.5), "lag_p95": pct(0.95), "lag_samples": len(lags)}


class WebhookReceiver:
    def __init__(self, stores: Mapping[str, WebhookStore], inbox: Inbox, metrics: EventMetrics,
                 retry_after: int = 5) -> None:
        self.stores = stores
        self.inbox = inbox
        self.metrics = metrics
        self.retry_after = retry_after

    def routes(self) -> list[Route]:
        return [Route("/webhooks/{store}", self.handle, methods=["POST"])]

    async def handle(self, request: Request) -> Response:
        name = request.path_params["store"]
        store = self.stores.get(name)
        if store is None:
            return JSONResponse({"error": "no such store, or it is polled only"}, 404)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, 413)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, 413)
        count = self.metrics.count
        try:
            claims = verify(store.platform, body, request.headers, store.secret, header=store.header)
        except Invalid as exc:
            count(name, "invalid")
            log.warning("event.invalid", store=name, reason=str(exc), bytes=len(body))
            return JSONResponse({"error": "signature does not verify"}, 401)
        try:
            event = parse_event(store.platform, name, body, request.headers, claims)
        except Malformed as exc:
            count(name, "malformed")
            log.warning("event.malformed", store=name, reason=str(exc), bytes=len(body))
            return JSONResponse({"error": str(exc)}, 400)
        outcome = self.inbox.offer(event)
        self.metrics.set_depth(self.inbox.depth)
        if outcome == "full":
            count(name, "rejected_full")
            log.warning("event.queue_full", store=name, depth=self.inbox.depth)
            return JSONResponse({"error": "busy"}, 503, headers={"Retry-After": str(self.retry_after)})
        if outcome == "duplicate":
            count(name, "duplicate")
        elif not (event.ids or event.refs):
            count(name, "ignored")
            log.info("event.ignored", store=name, topic=event.topic)
        else:
            count(name, "received")
            log.info("event.queued", store=name, topic=event.topic, items=len(event.ids), refs=len(event.refs))
        return JSONResponse({"ok": True, "outcome": outcome})
