"""Builders: a pool of simulated stores on any platforms, with the settings and
transports to reach them."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from ..config import Settings
from ..http.clock import Clock
from .bigcommerce_sim import BcItem, BigCommerceSimulator
from .faults import FaultInjector
from .saasignal_sim import SaaSignalSimulator, SsRecord
from .shopify_sim import ShItem, ShopifySimulator
from .squarespace_sim import SquarespaceSimulator, Variant
from .wix_sim import WixItem, WixSimulator

__all__ = ["Pool", "Simulator", "SquarespacePool", "variant_id"]

Stock = Mapping[str, int | None]  # SKU → quantity (None: unlimited / untracked)


class Simulator(Protocol):
    """What every store simulator offers tests and the demo."""

    token: str
    app: Any
    faults: FaultInjector

    def quantity(self, sku: str) -> int: ...

    def sell(self, sku: str, units: int = 1) -> int: ...

    def restock(self, sku: str, units: int) -> None: ...


def variant_id(store: str, sku: str) -> str:
    """A stable 24-hex id, shaped like Squarespace's live ids."""
    return hashlib.sha1(f"{store}/{sku}".encode()).hexdigest()[:24]


def _squarespace(name: str, stock: Stock, clock: Clock | None, **kw: Any) -> SquarespaceSimulator:
    variants = [Variant(variant_id(name, sku), sku, q or 0, unlimited=q is None) for sku, q in stock.items()]
    return SquarespaceSimulator(variants, token=f"tok-{name}-secret", clock=clock, **kw)


def _bigcommerce(name: str, stock: Stock, clock: Clock | None, **kw: Any) -> BigCommerceSimulator:
    items = [BcItem(product_id=100 + i, variant_id=1000 + i, sku=sku, onhand=q or 0, tracked=q is not None)
             for i, (sku, q) in enumerate(stock.items())]
    return BigCommerceSimulator(items, token=f"tok-{name}-secret", store_hash=f"h{abs(hash(name)) % 10**8}",
                                clock=clock, **kw)


def _saasignal(name: str, stock: Stock, clock: Clock | None, **kw: Any) -> SaaSignalSimulator:
    records = [SsRecord(id=f"inv_{i:06d}", product_id=f"prod_{i:06d}", variant_id=f"var_{i:06d}", sku=sku,
                        quantity=q or 0, track_inventory=q is not None) for i, (sku, q) in enumerate(stock.items())]
    return SaaSignalSimulator(records, token=f"sk_live_{name}_secret", clock=clock, **kw)


def _shopify(name: str, stock: Stock, clock: Clock | None, **kw: Any) -> ShopifySimulator:
    items = [ShItem(id=30_000 + i, sku=sku, available=q or 0, tracked=q is not None)
             for i, (sku, q) in enumerate(stock.items())]
    return ShopifySimulator(items, token=f"shpat_{name}_secret", clock=clock, **kw)


def _wix(name: str, stock: Stock, clock: Clock | None, **kw: Any) -> WixSimulator:
    """``catalog``: "V1_CATALOG" or "V3_CATALOG" (default). One product per SKU."""
    items = [WixItem(product_id=f"{variant_id(name, sku)[:8]}-prod-{i:06d}", sku=sku, quantity=q or 0,
                     tracked=q is not None) for i, (sku, q) in enumerate(stock.items())]
    return WixSimulator(items, token=f"wix-{name}-secret", site_id=f"site-{name}", clock=clock, **kw)


BUILDERS = {"squarespace": _squarespace, "bigcommerce": _bigcommerce, "saasignal": _saasignal, "shopify": _shopify,
            "wix": _wix}


class _Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, counts: Counter[str], name: str) -> None:
        self.inner, self.counts, self.name = inner, counts, name

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.counts[self.name] += 1
        return await self.inner.handle_async_request(request)


class Pool:
    """Simulated stores by name: ``stores`` maps name → (platform, stock)."""

    def __init__(self, stores: Mapping[str, tuple[str, Stock]], *, clock: Clock | None = None,
                 sim_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.platforms = {name: platform for name, (platform, _) in stores.items()}
        self.sims: dict[str, Any] = {
            name: BUILDERS[platform](name, stock, clock, **(sim_options or {}).get(name, {}))
            for name, (platform, stock) in stores.items()
        }

    def __getitem__(self, name: str) -> Any:
        return self.sims[name]

    @staticmethod
    def token_env(name: str) -> str:
        return "SYNCD_TEST_TOKEN_" + "".join(c if c.isalnum() else "_" for c in name).upper()

    def env(self) -> dict[str, str]:
        """The environment variables holding each store's token."""
        return {self.token_env(n): s.token for n, s in self.sims.items()}

    def store_settings(self, name: str, base_url: str | None = None, **extra: Any) -> dict[str, Any]:
        platform = self.platforms[name]
        entry: dict[str, Any] = {"name": name, "platform": platform, "token_env": self.token_env(name),
                                 "base_url": base_url or f"http://{name}.sim.invalid", **extra}
        if platform == "bigcommerce":
            entry["store_hash"] = self.sims[name].store_hash
            entry.setdefault("apply_lag_seconds", 0)
        if platform == "wix":
            entry["site_id"] = self.sims[name].site_id
        return entry

    def settings(self, ledger_url: str, base_urls: Mapping[str, str] | None = None,
                 buffers: Mapping[str, int] | None = None,
                 store_options: Mapping[str, Mapping[str, Any]] | None = None, **sync: Any) -> Settings:
        stores = [self.store_settings(n, (base_urls or {}).get(n), buffer=(buffers or {}).get(n, 0),
                                      **(store_options or {}).get(n, {}))
                  for n in self.sims]
        return Settings(ledger={"url": ledger_url}, sync=sync, stores=stores)

    def transports(self, counts: Counter[str] | None = None) -> dict[str, httpx.AsyncBaseTransport]:
        """Each store's in-process transport; ``counts``: tallies the requests per store."""
        plain = {n: httpx.ASGITransport(app=s.app) for n, s in self.sims.items()}
        if counts is None:
            return dict(plain)
        return {n: _Counting(t, counts, n) for n, t in plain.items()}

    def quantities(self, sku: str) -> dict[str, int]:
        return {n: s.quantity(sku) for n, s in self.sims.items()}


class SquarespacePool(Pool):
    """Several simulated Squarespace sites. ``stock`` maps store → {SKU: quantity or None}."""

    def __init__(self, stock: Mapping[str, Stock], *, clock: Clock | None = None,
                 rate_limit_per_minute: int | None = None) -> None:
        options = {n: {"rate_limit_per_minute": rate_limit_per_minute} for n in stock}
        super().__init__({n: ("squarespace", s) for n, s in stock.items()}, clock=clock, sim_options=options)
