"""`make demo`: simulated stores on 127.0.0.1 (three Squarespace sites by default; with
``--pool mixed``, one Squarespace, one BigCommerce and one SaaSignal store; with
``--pool all``, those plus a Shopify shop and a Wix site), an SQLite
ledger, and cycles with sales between them — one of them landing between a pull and its
push.

Everything goes through the real code path (config → connectors over HTTP → ledger →
push); the closing check is computed from the stores and the ledger, not assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ..daemon import Daemon
from ..http import SystemClock
from ..ledger import Ledger
from ..ledger.tables import OutboxRow
from ..observability import configure_logging
from ..service import open_ledger, reconcile_once
from ..systemd import SystemdNotifier
from .demo_live import EventPool, time_a_sale, until_ready
from .pool import Pool
from .serve import free_port, serve

__all__ = ["main"]

console = Console()
POOLS = {
    "squarespace": {"harbour-shop": "squarespace", "market-stall": "squarespace", "wholesale": "squarespace"},
    "mixed": {"harbour-shop": "squarespace", "market-stall": "bigcommerce", "wholesale": "saasignal"},
    "all": {"harbour-shop": "squarespace", "market-stall": "bigcommerce", "wholesale": "saasignal",
            "flagship": "shopify", "pop-up": "wix"},
}
CATALOGUE: dict[str, dict[str, int | None]] = {
    "harbour-shop": {"OLIVE-OIL-500": 24, "SEA-SALT-250": 40, "HONEY-JAR": 12, "TEA-EARLGREY": 30},
    "market-stall": {"OLIVE-OIL-500": 20, "SEA-SALT-250": 38, "HONEY-JAR": 15, "TEA-EARLGREY": 30},
    "wholesale": {"OLIVE-OIL-500": 26, "SEA-SALT-250": 40, "HONEY-JAR": 12, "TEA-EARLGREY": None},
    "flagship": {"OLIVE-OIL-500": 25, "SEA-SALT-250": 41, "HONEY-JAR": 14, "TEA-EARLGREY": 30},
    "pop-up": {"OLIVE-OIL-500": 22, "SEA-SALT-250": 40, "HONEY-JAR": 13, "TEA-EARLGREY": 30},
}
SKUS = sorted(CATALOGUE["harbour-shop"])


@contextlib.contextmanager
def _serve_all(pool: Pool) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serve(sim.app)) for name, sim in pool.sims.items()}


def _shows(pool: Pool, store: str, sku: str) -> str:
    return "unlimited" if CATALOGUE[store][sku] is None else str(pool[store].quantity(sku))


def _table(title: str, pool: Pool, ledger: Ledger) -> Table:
    available = ledger.load_snapshot().available
    table = Table(title=title)
    table.add_column("SKU")
    for name in pool.sims:
        table.add_column(f"{name} ({pool.platforms[name]})", justify="right")
    table.add_column("ledger: available", justify="right")
    for sku in SKUS:
        table.add_row(sku, *(_shows(pool, n, sku) for n in pool.sims), str(available.get(sku, "—")))
    return table


async def _cycle(n: int, note: str, settings, pool, ledger) -> None:  # type: ignore[no-untyped-def]
    report = await reconcile_once(settings, SystemClock())
    console.print(f"\n[bold]Cycle {n}[/] — {note}")
    for entry in report.plan.journal if report.plan else ():
        where = entry.store or "first sight"
        console.print(f"  recorded {entry.sku}: {entry.delta:+d} ({entry.reason}, {where})")
    console.print(f"  {report.applied} adjustment(s) applied, exit status {report.exit_code}")
    for c in report.new_conflicts:
        console.print(f"  [yellow]conflict[/] {c.kind}: {c.sku or ''} — {c.message}", highlight=False)
    console.print(_table(f"after cycle {n}", pool, ledger))


async def _demo(workdir: Path, kind: str) -> int:
    pool = Pool({name: (platform, CATALOGUE[name]) for name, platform in POOLS[kind].items()})
    os.environ.update(pool.env())
    events = EventPool(pool, workdir, free_port())  # the stores send their events (heard in the last act)
    ledger_url = f"sqlite:///{workdir / 'ledger.db'}"
    with _serve_all(pool) as urls:
        for name, url in urls.items():
            console.print(f"simulated {pool.platforms[name]} store [bold]{name}[/] at {url}")
        settings = pool.settings(ledger_url, base_urls=urls)
        _, ledger = open_ledger(settings)
        console.print(_table("Before syncd: each storefront has its own count", pool, ledger))
        await _cycle(1, "first sight: every SKU starts at the lowest count (never oversells)", settings, pool, ledger)
        sold = {sku: 0 for sku in SKUS}
        seeds = dict(ledger.load_snapshot().available)

        # The late sale lands on a store syncd writes to with a relative, keyed write
        # (Squarespace); the olive-oil sale is elsewhere so that store gets a write.
        oil_store, late = ("harbour-shop", "market-stall")
        if kind != "squarespace":
            oil_store, late = late, oil_store
        for store, sku, n in [(oil_store, "OLIVE-OIL-500", 3), ("market-stall", "HONEY-JAR", 2),
                              ("wholesale", "SEA-SALT-250", 10)]:
            sold[sku] += pool[store].sell(sku, n)
        console.print(f"\nShoppers buy: 3 olive oil at {oil_store}, 2 honey at market-stall, 10 salt at wholesale")

        def sale_during_push(sim: Any) -> None:
            sold["OLIVE-OIL-500"] += sim.sell("OLIVE-OIL-500", 1)
            sim.before_write.clear()
            console.print(f"  [magenta]a shopper buys 1 olive oil at {late} after syncd read it, "
                          "before syncd's write lands[/]")

        pool[late].before_write.append(sale_during_push)
        await _cycle(2, "the sales are recorded once and pushed to the other stores", settings, pool, ledger)
        sold["TEA-EARLGREY"] += pool["harbour-shop"].sell("TEA-EARLGREY", 4)
        console.print("\nA shopper buys 4 tea at harbour-shop")
        await _cycle(3, "the sale that landed mid-push is seen as a sale, not erased", settings, pool, ledger)
        sold["HONEY-JAR"] += 1
        seconds = await _by_events(events, ledger_url, urls)
        console.print(f"\n[bold]syncd run[/] with store events: a shopper buys 1 honey at harbour-shop; every "
                      f"store shows it [bold]{seconds:.2f} s[/] later (a targeted cycle; the next full cycle "
                      "was an hour away)")
        console.print(_table("after the event", pool, ledger))
        verdict = _verdict(pool, ledger, seeds, sold)
        if "--keep" in sys.argv:
            _keep(workdir, pool)
        return verdict


async def _by_events(events: EventPool, ledger_url: str, urls: dict[str, str]) -> float:
    daemon = Daemon(events.settings(ledger_url, urls, free_port()), notifier=SystemdNotifier({}))
    task = asyncio.create_task(daemon.serve())
    try:
        await until_ready(daemon)
        seconds = await time_a_sale(events.pool, "harbour-shop", "HONEY-JAR")
        assert seconds is not None
        return seconds
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 30)


def _verdict(pool: Pool, ledger: Ledger, seeds: dict[str, int], sold: dict[str, int]) -> int:
    available = ledger.load_snapshot().available
    ok = True
    console.print()
    held = {c.sku for c in ledger.open_conflicts() if c.kind == "tracking_mismatch"}
    for sku in SKUS:
        if sku in held:
            untouched = sku not in _applied_skus(ledger)
            ok &= untouched
            console.print(f"{'[green]✓[/]' if untouched else '[red]✗[/]'} {sku}: unlimited in one store and "
                          "tracked in others — held as a tracking_mismatch conflict and written nowhere")
            continue
        tracked = {n: s.quantity(sku) for n, s in pool.sims.items() if CATALOGUE[n][sku] is not None}
        converged = set(tracked.values()) == {available[sku]}
        kept = available[sku] == seeds[sku] - sold[sku]
        ok &= converged and kept
        mark = "[green]✓[/]" if converged and kept else "[red]✗[/]"
        console.print(f"{mark} {sku}: started at {seeds[sku]}, {sold[sku]} sold, "
                      f"{available[sku]} left in every tracked store")
    totals = ledger.journal_totals()
    conserved = all(available[s] == totals[s] for s in available)
    ok &= conserved
    console.print("[bold green]Every store converged and no sale was lost.[/]" if ok
                   else "[bold red]Something is wrong: see above.[/]")
    console.print(f"(ledger {'balances' if conserved else 'DOES NOT balance'}: "
                  "available = first-sight seed + every recorded sale and restock, for every SKU)")
    return 0 if ok else 1


def _applied_skus(ledger: Ledger) -> set[str]:
    """SKUs syncd wrote to in any store (the outbox's applied rows)."""
    with ledger.engine.connect() as conn:
        outbox = OutboxRow.__table__  # type: ignore[attr-defined]
        rows = conn.execute(select(outbox.c.sku).where(outbox.c.status == "applied"))
        return {r[0] for r in rows}


def _keep(workdir: Path, pool: Pool) -> None:
    """Leave a config beside the ledger, so the operator commands can be tried on it."""
    stores = "".join(f'\n[[stores]]\nname = "{n}"\nplatform = "{pool.platforms[n]}"\n'
                     f'token_env = "{pool.token_env(n)}"\n'
                     + (f'store_hash = "{pool[n].store_hash}"\n' if pool.platforms[n] == "bigcommerce" else "")
                     for n in pool.sims)
    (workdir / "syncd.toml").write_text(f'[ledger]\nurl = "sqlite:///{workdir.resolve()}/ledger.db"\n{stores}')
    console.print(f"\nThe ledger and a config are in {workdir}/. Try:\n"
                  f"  .venv/bin/syncd --config {workdir}/syncd.toml status\n"
                  f"  .venv/bin/syncd --config {workdir}/syncd.toml conflicts\n"
                  f"  .venv/bin/syncd --config {workdir}/syncd.toml history OLIVE-OIL-500\n"
                  f"  .venv/bin/syncd --config {workdir}/syncd.toml export")


def main() -> None:
    kind = sys.argv[sys.argv.index("--pool") + 1] if "--pool" in sys.argv else "squarespace"
    keep = Path(sys.argv[sys.argv.index("--keep") + 1]) if "--keep" in sys.argv else None
    if kind not in POOLS:
        sys.exit(f"--pool must be one of: {', '.join(POOLS)}")
    configure_logging(level="warning", json=False)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "ledger.db").unlink(missing_ok=True)
        sys.exit(asyncio.run(_demo(keep, kind)))
    with tempfile.TemporaryDirectory(prefix="syncd-demo-") as tmp:
        sys.exit(asyncio.run(_demo(Path(tmp), kind)))


if __name__ == "__main__":
    main()
