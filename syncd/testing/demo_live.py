"""The simulated stores sending their own signed events to ``syncd run``: the last act of
``make demo`` (one sale crossing every store in well under a second) and ``make
demo-live`` (the stores, the daemon with its status page, and a shopper making a sale
every few seconds, until Ctrl-C).

    python -m syncd.testing.demo_live [--pool squarespace|mixed|all] [--port 8787]   (make demo-live)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from ..config import Settings
from ..daemon import Daemon
from ..observability import configure_logging
from ..systemd import SystemdNotifier
from .emitter import attach_events
from .pool import Pool
from .serve import free_port, serve
from .webhooks import EventSender, rsa_keys

__all__ = ["EventPool", "main"]

console = Console()
SECRETS = {"shopify": "shpss_demo_app_secret", "bigcommerce": "demo-hook-secret", "squarespace": "5e" * 32}


class EventPool:
    """A pool whose event-capable simulators post signed events to ``hook_port``; build it
    before serving the simulators (Shopify, BigCommerce and Wix wrap their apps)."""

    def __init__(self, pool: Pool, workdir: Path, hook_port: int) -> None:
        self.pool, self.hook_port = pool, hook_port
        private, public = rsa_keys()
        (workdir / "wix-public.pem").write_text(public)
        self.options: dict[str, dict[str, Any]] = {}
        for name, platform in pool.platforms.items():
            if platform == "saasignal":
                continue  # no event topics: polled only
            if platform == "wix":
                self.options[name] = {"webhook_public_key_file": str(workdir / "wix-public.pem")}
                secret = private
            else:
                os.environ[f"DEMO_HOOK_{name.upper().replace('-', '_')}"] = SECRETS[platform]
                self.options[name] = {"webhook_secret_env": f"DEMO_HOOK_{name.upper().replace('-', '_')}"}
                secret = SECRETS[platform]
            attach_events(pool[name], platform, EventSender(f"http://127.0.0.1:{hook_port}/webhooks/{name}",
                                                            platform, secret))

    def settings(self, ledger_url: str, urls: dict[str, str], port: int, interval: int = 3600) -> Settings:
        base = self.pool.settings(ledger_url, base_urls=urls, store_options=self.options)
        return Settings(ledger=base.ledger, stores=base.stores,
                        sync={"interval_seconds": interval, "event_debounce_ms": 100},
                        daemon={"listen": f"127.0.0.1:{port}", "webhook_listen": f"127.0.0.1:{self.hook_port}"})


async def until_ready(daemon: Daemon, timeout: float = 60) -> None:
    """Until the daemon's first full cycle has finished."""
    deadline = time.monotonic() + timeout
    while daemon.last_status == "starting":
        if time.monotonic() > deadline:
            raise RuntimeError("the first full cycle did not finish")
        await asyncio.sleep(0.05)


async def time_a_sale(pool: Pool, store: str, sku: str, timeout: float = 30,
                      stop: asyncio.Event | None = None) -> float | None:
    """Sell one unit on ``store``; seconds until every tracked store shows it (None if
    ``stop`` is set first)."""
    want = pool[store].quantity(sku) - 1
    pool[store].sell(sku, 1)
    began = time.monotonic()
    while any(pool[n].quantity(sku) != want for n in pool.sims):
        if stop is not None and stop.is_set():
            return None
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"the sale did not reach every store: {pool.quantities(sku)}")
        await asyncio.sleep(0.01)
    return time.monotonic() - began


async def _live(kind: str, port: int, workdir: Path) -> None:
    from .demo import CATALOGUE, POOLS

    stock = {name: {sku: q if q is not None else 30 for sku, q in CATALOGUE[name].items()} for name in POOLS[kind]}
    pool = Pool({name: (platform, stock[name]) for name, platform in POOLS[kind].items()})
    os.environ.update(pool.env())
    events = EventPool(pool, workdir, free_port())
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(serve(sim.app)) for name, sim in pool.sims.items()}
        daemon = Daemon(events.settings(f"sqlite:///{workdir / 'ledger.db'}", urls, port, interval=60),
                        notifier=SystemdNotifier({}))
        task = asyncio.create_task(daemon.serve())
        await until_ready(daemon)
        console.print(f"[bold]syncd run[/] is serving; open [bold]http://127.0.0.1:{port}/status[/] "
                      "(Ctrl-C stops everything)")
        rng = random.Random()
        skus = sorted(next(iter(stock.values())))
        try:
            while not daemon.stop.is_set():
                with contextlib.suppress(TimeoutError):  # Ctrl-C (the daemon's own handler) ends the wait
                    await asyncio.wait_for(daemon.stop.wait(), rng.uniform(3, 8))
                if daemon.stop.is_set():
                    break
                store, sku = rng.choice(sorted(pool.sims)), rng.choice(skus)
                if pool[store].quantity(sku) < 2:  # the warehouse restocks the shelf instead
                    pool[store].restock(sku, 10)
                    console.print(f"restock: 10 {sku} at {store}")
                    continue
                try:
                    seconds = await time_a_sale(pool, store, sku, stop=daemon.stop)
                except RuntimeError as exc:  # a slow machine: say so and go on; the full cycle catches up
                    console.print(f"[yellow]{exc}[/]", highlight=False)
                    continue
                if seconds is not None:
                    console.print(f"a shopper buys 1 {sku} at {store}: every store shows it {seconds:.2f} s later")
        finally:
            daemon.stop.set()
            await asyncio.wait_for(task, 30)


def main() -> None:
    kind = sys.argv[sys.argv.index("--pool") + 1] if "--pool" in sys.argv else "all"
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8787
    configure_logging(level="warning", json=False)
    with tempfile.TemporaryDirectory(prefix="syncd-live-") as tmp, contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_live(kind, port, Path(tmp)))
    console.print("stopped")


if __name__ == "__main__":
    main()
