"""Platform name → connector, and one ``httpx.AsyncClient`` per store for one cycle."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

import httpx

from ..config import Settings, StoreSettings, resolve_token
from ..errors import ConfigError
from ..http import ApiClient, Clock, RateLimiter, RetryPolicy
from . import squarespace
from .base import Capabilities, Connector

__all__ = ["PLATFORMS", "capabilities_of", "open_connectors"]

Factory = Callable[[StoreSettings, ApiClient, str], Connector]


def _squarespace(store: StoreSettings, client: ApiClient, token: str) -> Connector:
    return squarespace.SquarespaceConnector(store.name, client, token)


# platform → (default base URL, capabilities, classifier, 429 wait without header, factory)
PLATFORMS: dict[str, tuple[str, Capabilities, object, float | None, Factory]] = {
    "squarespace": (
        squarespace.DEFAULT_BASE_URL,
        squarespace.CAPABILITIES,
        squarespace.classify,
        60.0,  # a 429 is a one-minute cool-down, announced by no header
        _squarespace,
    ),
}


def capabilities_of(platform: str) -> Capabilities:
    if platform not in PLATFORMS:
        raise ConfigError(f"platform {platform!r} is not supported yet (supported: {', '.join(PLATFORMS)})")
    return PLATFORMS[platform][1]


@contextlib.asynccontextmanager
async def open_connectors(
    settings: Settings,
    clock: Clock,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[dict[str, Connector]]:
    """Build every enabled store's connector, each on its own ``httpx.AsyncClient``,
    closed when the block ends. Tokens are read first: a missing one is a ConfigError
    before any request is made. ``transports`` lets tests and the demo plug in
    simulators per store name."""
    stores = settings.enabled_stores
    for store in stores:
        capabilities_of(store.platform)
    tokens = {s.name: resolve_token(s) for s in stores}
    async with contextlib.AsyncExitStack() as stack:
        connectors: dict[str, Connector] = {}
        for store in stores:
            base_url, caps, classify, wait_429, factory = PLATFORMS[store.platform]
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=store.base_url or base_url,
                    timeout=store.timeout_seconds,
                    transport=(transports or {}).get(store.name),
                    follow_redirects=False,
                )
            )
            limiter = RateLimiter(store.requests_per_minute or caps.requests_per_minute, clock)
            client = ApiClient(
                store.name, http, clock=clock, limiter=limiter, retry=retry,
                classify=classify,  # type: ignore[arg-type]
                retry_after_429=wait_429,
            )
            connectors[store.name] = factory(store, client, tokens[store.name].get_secret_value())
        yield connectors
