"""Builders: a pool of simulated stores with the settings and transports to reach them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import httpx

from ..config import Settings
from ..http.clock import Clock
from .squarespace_sim import SquarespaceSimulator, Variant

__all__ = ["SquarespacePool", "variant_id"]


def variant_id(store: str, sku: str) -> str:
    """A stable 24-hex id, shaped like Squarespace's live ids."""
    return hashlib.sha1(f"{store}/{sku}".encode()).hexdigest()[:24]


class SquarespacePool:
    """Several simulated Squarespace sites. ``stock`` maps store → {SKU: quantity or None}."""

    def __init__(
        self,
        stock: Mapping[str, Mapping[str, int | None]],
        *,
        clock: Clock | None = None,
        rate_limit_per_minute: int | None = None,
    ) -> None:
        self.sims: dict[str, SquarespaceSimulator] = {}
        for name, items in stock.items():
            variants = [
                Variant(variant_id(name, sku), sku, q or 0, unlimited=q is None)
                for sku, q in items.items()
            ]
            self.sims[name] = SquarespaceSimulator(
                variants, token=f"tok-{name}-secret", clock=clock,
                rate_limit_per_minute=rate_limit_per_minute,
            )

    def __getitem__(self, name: str) -> SquarespaceSimulator:
        return self.sims[name]

    @staticmethod
    def token_env(name: str) -> str:
        return "SYNCD_TEST_TOKEN_" + "".join(c if c.isalnum() else "_" for c in name).upper()

    def env(self) -> dict[str, str]:
        """The environment variables holding each store's token."""
        return {self.token_env(n): s.token for n, s in self.sims.items()}

    def settings(self, ledger_url: str, base_urls: Mapping[str, str] | None = None,
                 buffers: Mapping[str, int] | None = None, **sync: Any) -> Settings:
        stores = [
            {"name": n, "platform": "squarespace", "token_env": self.token_env(n),
             "base_url": (base_urls or {}).get(n, f"http://{n}.sim.invalid"),
             "buffer": (buffers or {}).get(n, 0)}
            for n in self.sims
        ]
        return Settings(ledger={"url": ledger_url}, sync=sync, stores=stores)

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {n: httpx.ASGITransport(app=s.app) for n, s in self.sims.items()}

    def quantities(self, sku: str) -> dict[str, int]:
        return {n: s.quantity(sku) for n, s in self.sims.items()}
