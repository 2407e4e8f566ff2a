"""Platform name → connector, and one ``httpx.AsyncClient`` per store for one cycle."""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import httpx

from ..config import Settings, StoreSettings, resolve_token
from ..errors import ConfigError
from ..http import ApiClient, Classifier, Clock, Limiter, Pacer, RetryPolicy, limiter_for
from . import bigcommerce, saasignal, shopify, squarespace, wix
from .base import Capabilities, Connector

__all__ = ["PLATFORMS", "Pacing", "PlatformSpec", "capabilities_of", "open_connectors", "spec_of"]


class Pacing(Protocol):
    """Where stores' limiter states live between cycles (``state``/``restore`` of a Limiter)."""

    def load(self) -> dict[str, dict[str, Any]]: ...

    def save(self, states: dict[str, dict[str, Any]]) -> None: ...

@dataclass(frozen=True)
class PlatformSpec:
    """What syncd needs to know to talk to a platform."""

    default_base_url: str
    capabilities: Callable[[StoreSettings], Capabilities]
    build: Callable[[StoreSettings, ApiClient, str, Capabilities], Connector]
    classify: Classifier | None = None
    pace: Pacer | None = None
    retry_after_429: float | None = None  # the wait when a 429 carries no header
    base_url: Callable[[StoreSettings], str | None] | None = None  # a default that depends on the store

    def url_for(self, store: StoreSettings) -> str:
        return store.base_url or (self.base_url(store) if self.base_url else None) or self.default_base_url


def _bc_caps(store: StoreSettings) -> Capabilities:
    lag = None if store.apply_lag_seconds is None else timedelta(seconds=store.apply_lag_seconds)
    return bigcommerce.capabilities(store.write_mode or "absolute", lag)


PLATFORMS: dict[str, PlatformSpec] = {
    "squarespace": PlatformSpec(
        default_base_url=squarespace.DEFAULT_BASE_URL,
        capabilities=lambda store: squarespace.CAPABILITIES,
        build=lambda store, client, token, caps: squarespace.SquarespaceConnector(store.name, client, token),
        classify=squarespace.classify,
        retry_after_429=60.0,  # a 429 is a one-minute cool-down, announced by no header
    ),
    "bigcommerce": PlatformSpec(
        default_base_url=bigcommerce.DEFAULT_BASE_URL,
        capabilities=_bc_caps,
        build=lambda store, client, token, caps: bigcommerce.BigCommerceConnector(
            store.name, client, token, store_hash=store.store_hash or "", location_id=_int(store.location_id),
            caps=caps),
        pace=bigcommerce.pace,
        retry_after_429=30.0,  # a 429 without rate headers is platform overload: back off longer
    ),
    "saasignal": PlatformSpec(
        default_base_url=saasignal.DEFAULT_BASE_URL,
        capabilities=lambda store: saasignal.capabilities(store.write_mode or "absolute"),
        build=lambda store, client, token, caps: saasignal.SaaSignalConnector(store.name, client, token, caps),
        classify=saasignal.classify,
        pace=saasignal.pace,
        retry_after_429=2.0,
    ),
    "shopify": PlatformSpec(
        default_base_url="",
        base_url=lambda store: f"https://{store.shop}" if store.shop else None,
        capabilities=lambda store: shopify.CAPABILITIES,
        build=lambda store, client, token, caps: shopify.ShopifyConnector(
            store.name, client, token, api_version=store.api_version, location_id=_int(store.location_id),
            bulk_threshold=store.bulk_threshold),
        classify=shopify.classify,
        pace=shopify.pace,
        retry_after_429=2.0,  # an HTTP 429 without Retry-After: the bucket refills in seconds
    ),
    "wix": PlatformSpec(
        default_base_url=wix.DEFAULT_BASE_URL,
        capabilities=lambda store: wix.capabilities(store.catalog, store.write_mode),
        build=lambda store, client, token, caps: wix.WixConnector(
            store.name, client, token, site_id=store.site_id or "", catalog=store.catalog,
            location_id=store.location_id if isinstance(store.location_id, str) else None, caps=caps),
        classify=wix.classify,
        retry_after_429=60.0,  # 200 a minute, no Retry-After: a 429 means the minute is spent
    ),
}


def _int(value: int | str | None) -> int | None:
    return value if isinstance(value, int) else None


def spec_of(platform: str) -> PlatformSpec:
    if platform not in PLATFORMS:
        raise ConfigError(f"platform {platform!r} is not supported yet (supported: {', '.join(PLATFORMS)})")
    return PLATFORMS[platform]


def capabilities_of(store: StoreSettings) -> Capabilities:
    """The store's capabilities (some depend on its settings, e.g. BigCommerce's write mode)."""
    return spec_of(store.platform).capabilities(store)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client the process opens: httpx's own default
    (``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi's bundle), built once.
    Loading the CA bundle costs about 50 ms of CPU, and every cycle opens a client per
    store."""
    return httpx.create_ssl_context()


@contextlib.asynccontextmanager
async def open_connectors(
    settings: Settings,
    clock: Clock,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    pacing: Pacing | None = None,
) -> AsyncIterator[dict[str, Connector]]:
    """Build every enabled store's connector, each on its own ``httpx.AsyncClient``,
    closed when the block ends. Tokens are read first: a missing one is a ConfigError
    before any request is made. ``transports`` lets tests and the demo plug in
    simulators per store name. ``pacing``: where each store's limiter state is read
    from at the start and saved to at the end (the ledger), so pacing holds across cycles."""
    stores = settings.enabled_stores
    specs = {store.name: spec_of(store.platform) for store in stores}
    tokens = {s.name: resolve_token(s) for s in stores}
    saved = pacing.load() if pacing is not None else {}
    limiters: dict[str, Limiter] = {}
    async with contextlib.AsyncExitStack() as stack:
        if pacing is not None:
            stack.callback(lambda: pacing.save({n: lim.state(clock.wall().timestamp()) for n, lim in limiters.items()}))
        connectors: dict[str, Connector] = {}
        for store in stores:
            spec = specs[store.name]
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=spec.url_for(store),
                    timeout=store.timeout_seconds,
                    verify=tls_context(),
                    transport=(transports or {}).get(store.name),
                    follow_redirects=False,
                )
            )
            caps = spec.capabilities(store)
            limiter = limiters[store.name] = limiter_for(store.requests_per_minute or caps.requests_per_minute, clock,
                                                         caps.limit_window)
            if store.name in saved:
                limiter.restore(saved[store.name], clock.wall().timestamp())
            client = ApiClient(store.name, http, clock=clock, limiter=limiter, retry=retry, classify=spec.classify,
                               pace=spec.pace, retry_after_429=spec.retry_after_429)
            connectors[store.name] = spec.build(store, client, tokens[store.name].get_secret_value(), caps)
        yield connectors
