"""From settings to a finished cycle: ledger, lock, connectors, runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from .config import Settings
from .connectors import capabilities_of, open_connectors
from .core import Policy, StoreName, StorePolicy
from .cycle import CycleReport, CycleRunner, Progress
from .http import ApiClient, Clock, RetryPolicy
from .ledger import Breaker, Ledger, cycle_lock, make_engine, schema_exists, sqlite_path, upgrade
from .ledger.aliases import load_aliases
from .ledger.pacing import load_pacing, save_pacing

__all__ = ["LedgerPacing", "build_policy", "open_ledger", "reconcile_once", "reconcile_targeted"]


def build_policy(settings: Settings, imported_aliases: Mapping[str, Mapping[str, str]] | None = None) -> Policy:
    """The pool's rules from the configuration (enabled stores only). SKU aliases: the
    imported table, with the configuration's own entries taking precedence."""
    aliases = {s.name: {**(imported_aliases or {}).get(s.name, {}), **s.aliases} for s in settings.enabled_stores}
    return Policy(
        stores={
            s.name: StorePolicy(buffer=s.buffer, mode=capabilities_of(s).strategy.mode,
                                buffer_percent=s.buffer_percent, max_listed=s.max_listed)
            for s in settings.enabled_stores
        },
        initial=settings.sync.initial,
        master=settings.sync.master,
        max_change=settings.sync.max_change_per_cycle,
        aliases={store: table for store, table in aliases.items() if table},
    )


def open_ledger(settings: Settings, *, migrate: bool = True) -> tuple[Engine, Ledger]:
    """The ledger's engine and repository; ``migrate`` creates or upgrades the schema."""
    engine = make_engine(settings.ledger.url)
    if migrate:
        upgrade(engine)
    return engine, Ledger(engine)


async def reconcile_once(
    settings: Settings,
    clock: Clock,
    *,
    dry_run: bool = False,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    engine: Engine | None = None,
    lock_timeout: float | None = None,
    progress: Progress | None = None,
    force: Collection[StoreName] = (),
) -> CycleReport:
    """Run one cycle. A dry run creates and changes nothing, not even the ledger file.
    ``force``: stores tried even while their circuit is open (``reconcile --store``)."""
    if dry_run:
        async with open_connectors(settings, clock, transports=transports, retry=retry) as connectors:
            ledger = _read_only_ledger(settings, engine)
            policy = build_policy(settings, load_aliases(ledger.engine))
            return await CycleRunner(ledger, policy, connectors, clock, progress=progress).run(dry_run=True)
    return await _locked(settings, clock, lambda runner: runner.run(), transports=transports, retry=retry,
                         engine=engine, lock_timeout=lock_timeout, progress=progress, force=force)


async def reconcile_targeted(
    settings: Settings,
    clock: Clock,
    ids: Mapping[StoreName, Collection[str]],
    refs: Mapping[StoreName, Collection[str]] | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    engine: Engine | None = None,
    lock_timeout: float | None = None,
) -> CycleReport:
    """Run one targeted cycle over the SKUs behind these stores' own ids (store events),
    under the same lock as full cycles."""
    return await _locked(settings, clock, lambda runner: runner.run_targeted(ids, refs), transports=transports,
                         retry=retry, engine=engine, lock_timeout=lock_timeout)


async def _locked(
    settings: Settings,
    clock: Clock,
    run: Callable[[CycleRunner], Awaitable[CycleReport]],
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None,
    retry: RetryPolicy | None,
    engine: Engine | None,
    lock_timeout: float | None,
    progress: Progress | None = None,
    force: Collection[StoreName] = (),
) -> CycleReport:
    """The ledger migrated, connectors open (each store's pacing read back from the ledger),
    the ledger locked and the epoch claimed: then ``run``."""
    engine = engine or make_engine(settings.ledger.url)
    upgrade(engine)
    async with open_connectors(settings, clock, transports=transports, retry=retry,
                               pacing=LedgerPacing(engine, clock)) as connectors:
        policy = build_policy(settings, load_aliases(engine))
        timeout = settings.ledger.lock_timeout_seconds if lock_timeout is None else lock_timeout
        async with cycle_lock(engine, settings.ledger.url, timeout):
            ledger = Ledger(engine)
            ledger.claim_epoch()
            sync = settings.sync
            breaker = Breaker(sync.circuit_failures, timedelta(seconds=sync.circuit_cooldown_seconds),
                              timedelta(seconds=sync.circuit_probe_seconds))
            report = await run(CycleRunner(ledger, policy, connectors, clock, breaker=breaker, progress=progress,
                                           force=force))
        for name, conn in connectors.items():
            client = getattr(conn, "client", None)
            if isinstance(client, ApiClient):
                report.http[name] = {"retries": client.retries, "throttled": client.throttled}
        return report


@dataclass(frozen=True)
class LedgerPacing:
    """Stores' limiter states kept in the ledger between cycles (``open_connectors``)."""

    engine: Engine
    clock: Clock

    def load(self) -> dict[str, dict[str, Any]]:
        return load_pacing(self.engine)

    def save(self, states: dict[str, dict[str, Any]]) -> None:
        save_pacing(self.engine, states, self.clock.wall())


def _read_only_ledger(settings: Settings, engine: Engine | None) -> Ledger:
    """The ledger as it is, for a dry run. One that does not exist yet is read as empty
    (a private in-memory one), so a dry run never creates a file or a table."""
    path = sqlite_path(settings.ledger.url)
    if engine is None and path is not None and not path.exists():
        return _empty_ledger()
    engine = engine or make_engine(settings.ledger.url)
    return Ledger(engine) if schema_exists(engine) else _empty_ledger()


def _empty_ledger() -> Ledger:
    engine = make_engine("sqlite://")
    upgrade(engine)
    return Ledger(engine)
