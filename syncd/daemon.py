"""``syncd run``: cycles on a schedule, health and metrics over HTTP, clean shutdown.

APScheduler 3.x (``AsyncIOScheduler``, in-memory job store rebuilt from the config at
every start) runs one job: a cycle, first at start, then every ``sync.interval_seconds``
(or on ``sync.cron``), never two at once, missed runs coalesced. All state is in the
ledger. SIGTERM/SIGINT stop scheduling and let the cycle in flight finish (bounded by
``daemon.shutdown_timeout_seconds``); a second signal cancels it at once — safe, since
every step of a cycle is committed before the next (a cancelled write is settled by the
next cycle like any unknown outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx
import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .config import Settings, resolve_webhook_secret, split_listen
from .cycle import REPLICA
from .errors import ConfigError, LockNotHeld
from .http import Clock, SystemClock
from .ledger import Ledger, as_utc, make_engine, upgrade
from .ledger.tables import ConflictRow, CycleRow
from .metrics import Metrics
from .service import reconcile_once, reconcile_targeted
from .serving import start_server, stop_servers
from .statuspage import status_routes
from .systemd import SystemdNotifier
from .webhooks import EventBatch, EventMetrics, Inbox, WebhookReceiver, WebhookStore

__all__ = ["Daemon"]

log = structlog.get_logger("syncd.daemon")


class Daemon:
    """One ``syncd run`` process. ``serve()`` returns the exit code."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
                 notifier: SystemdNotifier | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.transports = transports
        self.notifier = notifier or SystemdNotifier()
        self.metrics = Metrics([s.name for s in settings.enabled_stores])
        self.engine = make_engine(settings.ledger.url)
        self.ledger = Ledger(self.engine)
        self.started = time.monotonic()
        self.stop = asyncio.Event()
        self.forced = False
        self.cycle_task: asyncio.Task[None] | None = None
        self.last_status = "starting"
        # Store events: one cycle at a time in this process (full or targeted), and across
        # replicas the ledger's lock; events arriving meanwhile wait in the inbox.
        self.guard = asyncio.Lock()
        self.webhook_stores = {
            s.name: WebhookStore(s.platform, secret.get_secret_value(), s.webhook_header)
            for s in settings.enabled_stores if (secret := resolve_webhook_secret(s)) is not None}
        self.inbox = Inbox(settings.daemon.event_queue)
        self.events = EventMetrics(self.metrics.registry, list(self.webhook_stores))

    # --- the schedule ---------------------------------------------------------------------

    def _trigger(self) -> IntervalTrigger | CronTrigger:
        sync = self.settings.sync
        jitter = sync.jitter_seconds or None
        if sync.cron:
            return CronTrigger.from_crontab(sync.cron, timezone="UTC")
        return IntervalTrigger(seconds=sync.interval_seconds, jitter=jitter)

    async def _job(self) -> None:
        async with self.guard:
            await self._full_cycle()

    async def _full_cycle(self) -> None:
        if self.stop.is_set():
            return
        leader = self._recent_leader()
        if leader is not None:  # another replica cycles on schedule: one set of store requests, not two
            self.metrics.cycles.labels("skipped_recent").inc()
            self.metrics.leader.set(0)
            log.info("cycle.skipped", reason=f"replica {leader} finished a full cycle within the interval")
            return
        self.cycle_task = asyncio.current_task()
        began = time.monotonic()
        try:
            report = await reconcile_once(self.settings, self.clock, engine=self.engine,
                                          transports=self.transports, lock_timeout=0)
        except LockNotHeld:
            self.metrics.cycles.labels("skipped_locked").inc()
            log.info("cycle.skipped", reason="another replica holds the ledger lock")
            return
        except Exception as exc:  # a cycle's failure must not stop the daemon
            self.metrics.cycles.labels("error").inc()
            log.error("cycle.error", error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.cycle_task = None
        self.metrics.observe(report, time.monotonic() - began, time.time())
        self.metrics.set_open_conflicts(self._open_conflicts())
        self.metrics.leader.set(1)
        self.last_status = (f"cycle {report.cycle_id}: exit {report.exit_code}, {len(report.pulled)} store(s) "
                            f"pulled, {report.applied} write(s) applied, {len(report.failed)} failed")
        self.notifier.notify(f"STATUS={self.last_status}")

    # --- store events -----------------------------------------------------------------------

    async def _event_loop(self) -> None:
        """Events gathered for ``event_debounce_ms`` go into one targeted cycle; events
        that arrive during a cycle wait for the next one."""
        debounce = self.settings.sync.event_debounce_ms / 1000
        while True:
            await self.inbox.wait()
            if debounce:
                await asyncio.sleep(debounce)
            async with self.guard:
                if self.stop.is_set():
                    return
                batch = self.inbox.take()
                self.events.set_depth(self.inbox.depth)
                if not len(batch):
                    continue
                task = asyncio.create_task(self._targeted(batch))
                self.cycle_task = task
                await asyncio.shield(task)  # a stop lets it finish (the drain waits for it)
                self.cycle_task = None

    async def _targeted(self, batch: EventBatch) -> None:
        began = time.monotonic()
        try:
            report = await reconcile_targeted(self.settings, self.clock, batch.ids, batch.refs, engine=self.engine,
                                              transports=self.transports, lock_timeout=5.0)
        except LockNotHeld:  # another replica is cycling: these events wait for the next try
            self.inbox.give_back(batch)
            self.metrics.targeted.labels("skipped_locked").inc()
            await asyncio.sleep(1.0)
            return
        except Exception as exc:  # the full cycle is the safety net for what this missed
            self.metrics.targeted.labels("error").inc()
            log.error("cycle.error", kind="targeted", error=f"{type(exc).__name__}: {exc}")
            return
        done = time.monotonic()
        self.metrics.observe(report, done - began, time.time())
        if report.exit_code == 0:  # every store written or found in step
            for _, arrived in batch.received:
                self.events.synced(done - arrived)
        if report.plan is not None and not report.plan.journal:  # nothing had changed: our own writes' echo
            for store, _ in batch.received:
                self.events.count(store, "echo")

    def _recent_leader(self) -> str | None:
        """Another replica whose full cycle finished within this interval (then this one
        skips its run; it takes over once that replica stops cycling). Not with cron: its
        runs fire at the same moment on every replica and the ledger's lock picks one."""
        if self.settings.sync.cron:
            return None
        table = CycleRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            last = conn.execute(select(table.c.runner, table.c.finished_at).where(
                table.c.kind == "full", table.c.outcome.in_(("ok", "failed"))).order_by(table.c.id.desc())
                .limit(1)).first()
        if last is None or last.runner in (None, REPLICA) or last.finished_at is None:
            return None
        now = self.clock.wall()
        window = timedelta(seconds=0.9 * self.settings.sync.interval_seconds)
        return str(last.runner) if now - as_utc(last.finished_at, now) < window else None

    def _open_conflicts(self) -> dict[str, int]:
        table = ConflictRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            rows = conn.execute(select(table.c.kind, func.count()).where(table.c.status == "open")
                                .group_by(table.c.kind))
            return {kind: int(n) for kind, n in rows}

    def _on_scheduler_event(self, event: JobEvent) -> None:
        name = {EVENT_JOB_MISSED: "missed", EVENT_JOB_MAX_INSTANCES: "skipped_running",
                EVENT_JOB_ERROR: "error"}.get(event.code, "other")
        self.metrics.scheduler.labels(name).inc()

    # --- HTTP -----------------------------------------------------------------------------

    def app(self) -> Starlette:
        token_env = self.settings.daemon.status_token_env
        token = os.environ.get(token_env, "").strip() if token_env else None
        if token_env and not token:
            raise ConfigError(f"daemon.status_token_env names {token_env}, which is not set")
        page = status_routes(self.engine, [s.name for s in self.settings.stores], self.clock, token,
                             events=self.events.summary if self.webhook_stores else None,
                             interval_seconds=self.settings.sync.interval_seconds)
        hooks = [] if self._separate_webhooks() else self.webhook_app().routes
        return Starlette(routes=[
            Route("/healthz", self._healthz), Route("/readyz", self._readyz), Route("/metrics", self._metrics),
            *page, *hooks,
        ])

    def webhook_app(self) -> Starlette:
        """``POST /webhooks/{store}`` alone (served on ``webhook_listen`` when it is set)."""
        return Starlette(routes=WebhookReceiver(self.webhook_stores, self.inbox, self.events).routes())

    def _separate_webhooks(self) -> bool:
        d = self.settings.daemon
        return d.webhook_listen is not None and split_listen(d.webhook_listen) != split_listen(d.listen)

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def _readyz(self, request: Request) -> Response:
        """Ready: the ledger answers, and a cycle finished within ``readiness_multiple``
        intervals (by this replica or another), or the daemon is younger than that."""
        window = self.settings.daemon.readiness_multiple * self.settings.sync.interval_seconds
        try:
            last = self._last_finished()
        except Exception as exc:
            return JSONResponse({"ready": False, "reason": f"ledger unreachable: {type(exc).__name__}"}, 503)
        now = self.clock.wall()
        if last is not None and (now - as_utc(last, now)) <= timedelta(seconds=window):
            return JSONResponse({"ready": True, "last_cycle": as_utc(last, now).isoformat()})
        if time.monotonic() - self.started <= window:
            return JSONResponse({"ready": True, "last_cycle": None, "reason": "starting"})
        return JSONResponse({"ready": False, "reason": f"no cycle finished in the last {window:g}s"}, 503)

    def _last_finished(self) -> datetime | None:
        table = CycleRow.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            return conn.execute(select(func.max(table.c.finished_at))).scalar()

    async def _metrics(self, request: Request) -> Response:
        with contextlib.suppress(Exception):  # the ledger down: the other series still answer
            self.metrics.set_circuits(self.ledger.health(), [s.name for s in self.settings.enabled_stores],
                                      self.clock.wall())
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    # --- life cycle -----------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        if self.stop.is_set():
            self.forced = True
            log.warning("daemon.forced_stop", signal=signal.Signals(signum).name)
            if self.cycle_task is not None:
                self.cycle_task.cancel()
            return
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self.stop.set()

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT (or ``stop`` is set). Returns the process exit code."""
        upgrade(self.engine)
        loop = asyncio.get_running_loop()
        daemon = self.settings.daemon
        servers = [await start_server(self.app(), daemon.listen)]
        if self._separate_webhooks():
            assert daemon.webhook_listen is not None
            try:
                servers.append(await start_server(self.webhook_app(), daemon.webhook_listen))
            except BaseException:
                await stop_servers(servers)
                raise
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_listener(self._on_scheduler_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        scheduler.add_job(self._job, self._trigger(), id="cycle", max_instances=1, coalesce=True,
                          misfire_grace_time=max(1, self.settings.sync.interval_seconds),
                          next_run_time=datetime.now().astimezone())
        scheduler.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        watchdog = asyncio.create_task(self._watchdog())
        events = asyncio.create_task(self._event_loop())
        self.notifier.notify("READY=1", f"STATUS=serving on {daemon.listen}")
        log.info("daemon.ready", listen=daemon.listen, interval=self.settings.sync.interval_seconds,
                 cron=self.settings.sync.cron)
        try:
            await self.stop.wait()
            self.notifier.notify("STOPPING=1", "STATUS=stopping: finishing the cycle in flight")
            scheduler.pause()  # no new runs; shutdown() would cancel the one in flight, so drain first
            await self._drain()
            scheduler.shutdown(wait=False)
        finally:
            watchdog.cancel()
            events.cancel()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await stop_servers(servers)
            self.engine.dispose()
        log.info("daemon.stopped", forced=self.forced)
        return 1 if self.forced else 0

    async def _drain(self) -> None:
        task = self.cycle_task
        if task is None or task.done():
            return
        log.info("daemon.draining", timeout=self.settings.daemon.shutdown_timeout_seconds)
        done, _ = await asyncio.wait({task}, timeout=self.settings.daemon.shutdown_timeout_seconds)
        if not done:
            log.warning("daemon.drain_timeout")
            self.forced = True
            task.cancel()
            await asyncio.wait({task}, timeout=5)

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        while True:
            self.notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval)
