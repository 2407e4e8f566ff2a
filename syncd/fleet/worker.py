"""The fleet's scheduling and execution on Procrastinate (a PostgreSQL task queue).

Two tasks:

``syncd.schedule``  periodic (every ``[fleet] schedule_seconds``; Procrastinate defers it
                    once per tick whatever the number of workers): defers one
                    ``syncd.pool_cycle`` per due pool, with a *queueing lock* on the pool
                    (never two queued) and a *lock* on the pool (never two running), and
                    hands the jobs of workers that stopped sending heartbeats (killed
                    mid-cycle) back to the queue.
``syncd.pool_cycle`` one pool's full cycle: today's ``reconcile_once`` on the pool's
                    schema. The ledger's own cycle lock (an advisory lock per pool) and
                    fencing epoch stay the last word: a paused worker whose job was handed
                    to another can never commit; a cycle killed mid-way is settled by the
                    next one as ever.

Any number of ``syncd worker`` processes, on any number of machines, take jobs; each runs
``[fleet] concurrency`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Mapping

import httpx
import procrastinate
import structlog
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ..config import Settings
from ..errors import LockNotHeld
from ..http import Clock, SystemClock
from ..ledger import upgrade
from ..service import reconcile_once, reconcile_targeted
from .events import take_events
from .metrics import FleetMetrics
from .pools import due_pools, fleet_engine, get_pool, mark_finished, mark_started, pool_engine, pool_settings

__all__ = ["Fleet", "conninfo"]

log = structlog.get_logger("syncd.fleet")
CYCLE_TASK = "syncd.pool_cycle"
TARGETED_TASK = "syncd.pool_targeted"
SCHEMA_LOCK = 0x5359_4E45  # workers starting together install Procrastinate's schema one at a time


def conninfo(url: str) -> str:
    """A libpq connection string from the ledger's SQLAlchemy URL."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class Fleet:
    """The Procrastinate app of one fleet, with its tasks, and what runs a pool's cycle."""

    def __init__(self, main: Settings, *, clock: Clock | None = None,
                 transports: Mapping[str, Mapping[str, httpx.AsyncBaseTransport]] | None = None,
                 metrics: FleetMetrics | None = None) -> None:
        self.main = main
        self.clock = clock or SystemClock()
        self.transports = transports  # per pool, per store (tests and benchmarks)
        self.engine = fleet_engine(main)
        self.metrics = metrics or FleetMetrics()
        fleet = main.fleet
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(main.ledger.url), min_size=1, max_size=max(2, fleet.concurrency + 2)))
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # the pools' engines, the most recent kept
        self._migrated: set[str] = set()

        @self.app.task(name=CYCLE_TASK, queue="cycles")
        async def pool_cycle(pool: str) -> None:
            await self.run_cycle(pool)

        @self.app.task(name=TARGETED_TASK, queue="cycles")
        async def pool_targeted(pool: str) -> None:
            await self.run_targeted(pool)

        @self.app.periodic(cron=f"* * * * * */{fleet.schedule_seconds}", periodic_id="schedule")
        @self.app.task(name="syncd.schedule", queue="schedule", queueing_lock="syncd.schedule")
        async def schedule(timestamp: int) -> None:
            await self.schedule()

        self.pool_cycle = pool_cycle
        self.pool_targeted = pool_targeted

    # --- setting up -----------------------------------------------------------------------

    async def install(self) -> None:
        """Procrastinate's tables, once per database (workers starting together: one does it)."""
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
                await self.app.schema_manager.apply_schema_async()

    # --- the tasks --------------------------------------------------------------------------

    async def enqueue(self, pool: str) -> bool:
        """Queue the pool's cycle unless one is queued already. True if queued now."""
        try:
            await self.pool_cycle.configure(lock=f"pool:{pool}", queueing_lock=f"pool:{pool}").defer_async(pool=pool)
        except AlreadyEnqueued:
            return False
        return True

    async def enqueue_targeted(self, pool: str) -> None:
        """Queue the pool's targeted cycle (store events), unless one is queued already:
        that one takes these events too. Same lock as the pool's full cycle."""
        with contextlib.suppress(AlreadyEnqueued):
            await self.pool_targeted.configure(lock=f"pool:{pool}", queueing_lock=f"events:{pool}").defer_async(
                pool=pool)

    async def run_targeted(self, name: str) -> str:
        """Every waiting event of the pool in one targeted cycle."""
        pool = get_pool(self.engine, name)
        ids, refs, events = take_events(self.engine, name)
        if pool is None or not pool.enabled or not events:
            return "skipped"
        began = time.monotonic()
        with structlog.contextvars.bound_contextvars(pool=name):
            try:
                engine = await asyncio.to_thread(self._engine, name)
                report = await reconcile_targeted(pool_settings(self.main, pool.config), self.clock, ids, refs,
                                                  engine=engine, transports=(self.transports or {}).get(name),
                                                  lock_timeout=30)
                outcome = "ok" if report.exit_code == 0 else "failed"
            except Exception as exc:  # the pool's next full cycle is the safety net
                outcome = "error"
                log.error("fleet.targeted_error", error=f"{type(exc).__name__}: {exc}", events=events)
        self.metrics.targeted(outcome, time.monotonic() - began)
        return outcome

    async def schedule(self) -> None:
        now = self.clock.wall()
        queued = [p for p in due_pools(self.engine, now) if await self.enqueue(p)]
        stalled = await self.app.job_manager.get_stalled_jobs(
            task_name=CYCLE_TASK, seconds_since_heartbeat=self.main.fleet.stalled_seconds)
        for job in stalled:  # its worker died mid-cycle: another takes it; the ledger settles the rest
            await self.app.job_manager.retry_job(job)
            log.warning("fleet.stalled_job_retried", pool=job.task_kwargs.get("pool"), job_id=job.id)
        if queued:
            log.info("fleet.scheduled", pools=len(queued))

    def _engine(self, pool: str) -> Engine:
        engine = self._engines.pop(pool, None) or pool_engine(self.main, pool, pool_size=2, max_overflow=2)
        self._engines[pool] = engine
        while len(self._engines) > max(4, 2 * self.main.fleet.concurrency):
            self._engines.popitem(last=False)[1].dispose()
        if pool not in self._migrated:
            upgrade(engine)
            self._migrated.add(pool)
        return engine

    async def run_cycle(self, name: str) -> str:
        """One full cycle of one pool. Returns its outcome."""
        pool = get_pool(self.engine, name)
        if pool is None or not pool.enabled:
            return "skipped"
        began, now = time.monotonic(), self.clock.wall()
        mark_started(self.engine, name, now, pool.interval_seconds)
        lateness = (now - pool.next_run_at).total_seconds()
        error: str | None = None
        with structlog.contextvars.bound_contextvars(pool=name):
            try:
                engine = await asyncio.to_thread(self._engine, name)
                report = await reconcile_once(pool_settings(self.main, pool.config), self.clock, engine=engine,
                                              transports=(self.transports or {}).get(name), lock_timeout=0)
                outcome = "ok" if report.exit_code == 0 else "failed"
                if report.failed:
                    error = "; ".join(f"{s}: {e}" for s, e in sorted(report.failed.items()))
            except LockNotHeld:
                outcome = "skipped_locked"  # another worker's cycle of this pool still holds the ledger
            except Exception as exc:  # a pool's failure must not stop the worker
                outcome, error = "error", f"{type(exc).__name__}: {exc}"
                log.error("fleet.cycle_error", error=error)
        mark_finished(self.engine, name, self.clock.wall(), outcome, error)
        self.metrics.cycle(outcome, time.monotonic() - began, lateness)
        return outcome

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        self.engine.dispose()

