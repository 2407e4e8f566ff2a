"""`syncd run`: scheduled cycles, the HTTP endpoints, sd_notify, clean shutdown, replicas.

Everything talks to 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import ProgrammingError

from syncd.config import Settings
from syncd.daemon import Daemon
from syncd.ledger import make_engine
from syncd.ledger.tables import CycleRow, OutboxRow
from syncd.systemd import SystemdNotifier
from syncd.testing.pool import SquarespacePool
from syncd.testing.serve import free_port, serve

STOCK = {"north": {"OIL": 10, "TEA": 5}, "south": {"OIL": 10, "TEA": 5}}


def blocking_write(timeout: float) -> tuple[threading.Event, threading.Event, Callable[[object], None]]:
    """A simulator hook that holds a write until released (or ``timeout``): the events
    say it started, and release it."""
    in_write, release = threading.Event(), threading.Event()

    def slow_write(sim: object) -> None:
        in_write.set()
        release.wait(timeout)

    return in_write, release, slow_write


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settings_for(pool: SquarespacePool, ledger_url: str, port: int, urls: dict[str, str] | None = None) -> Settings:
    base = pool.settings(ledger_url, base_urls=urls)
    return Settings(ledger=base.ledger, sync={"interval_seconds": 1}, stores=base.stores,
                    daemon={"listen": f"127.0.0.1:{port}", "shutdown_timeout_seconds": 20})


def metric(body: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(name))


async def test_the_daemon_runs_cycles_on_schedule_and_serves_its_endpoints(tmp_path, monkeypatch):
    """First cycle at start, then every interval; /healthz, /readyz, /metrics; stop → 0."""
    pool = SquarespacePool(STOCK)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    pool["south"].sell("OIL", 3)
    port = free_port()
    daemon = Daemon(settings_for(pool, f"sqlite:///{tmp_path}/l.db", port), transports=pool.transports(),
                    notifier=SystemdNotifier({}))
    task = asyncio.create_task(daemon.serve())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
        body = ""
        for _ in range(300):
            try:
                body = (await http.get("/metrics")).text
            except httpx.ConnectError:
                body = ""  # not listening yet
            if metric(body, 'syncd_cycles_total{outcome="ok"}') >= 2:
                break
            await asyncio.sleep(0.05)
        assert metric(body, 'syncd_cycles_total{outcome="ok"}') >= 2
        assert metric(body, 'syncd_items_pulled_total{store="north"}') >= 4
        assert metric(body, 'syncd_writes_total{outcome="applied",store="north"}') == 1
        assert (await http.get("/healthz")).text == "ok\n"
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
    assert pool.quantities("OIL") == {"north": 7, "south": 7}
    daemon.stop.set()
    assert await asyncio.wait_for(task, 20) == 0


class NotifySocket:
    """A stand-in for systemd's notification socket."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.path = str(Path(self.dir.name) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.running:
            try:
                self.messages.extend(self.sock.recv(4096).decode().splitlines())
            except TimeoutError:
                continue
            except OSError:
                return

    def seen(self, prefix: str) -> bool:
        return any(m.startswith(prefix) for m in self.messages)

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()
        self.dir.cleanup()


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


def write_config(path: Path, settings: Settings) -> None:
    stores = "".join(
        f'\n[[stores]]\nname = "{s.name}"\nplatform = "{s.platform}"\nbase_url = "{s.base_url}"\n'
        f'token_env = "{s.token_env}"\n' for s in settings.stores)
    path.write_text(f'[ledger]\nurl = "{settings.ledger.url}"\nlock_timeout_seconds = 0\n'
                    f'[sync]\ninterval_seconds = {settings.sync.interval_seconds}\n'
                    f'[daemon]\nlisten = "{settings.daemon.listen}"\nshutdown_timeout_seconds = 20\n{stores}')


def start(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_TEST_TOKEN")} | env
    return subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(config), "run"], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_syncd_run_notifies_systemd_and_stops_cleanly_mid_write(tmp_path, notify):
    """A real `syncd run`: READY=1, WATCHDOG=1, STATUS=; SIGTERM while a write is in
    flight lets it finish and be recorded, sends STOPPING=1 and exits 0."""
    pool = SquarespacePool(STOCK)
    in_write, release, slow_write = blocking_write(5)

    with serve(pool["north"].app) as north, serve(pool["south"].app) as south:
        port = free_port()
        settings = settings_for(pool, f"sqlite:///{tmp_path}/l.db", port, {"north": north, "south": south})
        write_config(tmp_path / "syncd.toml", settings)
        proc = start(tmp_path / "syncd.toml", {**pool.env(), "NOTIFY_SOCKET": notify.path,
                                               "WATCHDOG_USEC": "400000"})
        try:
            wait_for(lambda: notify.seen("READY=1"), 20, "READY=1")
            wait_for(lambda: notify.seen("STATUS=cycle"), 20, "a cycle's STATUS=")
            wait_for(lambda: notify.seen("WATCHDOG=1"), 5, "WATCHDOG=1")
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["ready"] is True
            assert "syncd_cycles_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
            pool["south"].before_write.append(slow_write)
            pool["north"].sell("OIL", 2)
            assert in_write.wait(10), "the daemon never wrote"
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            release.set()
            assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert notify.seen("STOPPING=1")
    assert pool.quantities("OIL") == {"north": 8, "south": 8}
    engine = make_engine(settings.ledger.url)
    with engine.connect() as conn:
        statuses = [r[0] for r in conn.execute(select(OutboxRow.__table__.c.status))]  # type: ignore[attr-defined]
    assert statuses and set(statuses) == {"applied"}


@pytest.mark.pg
@pytest.mark.parametrize("replicas", [2, 3])
def test_replicas_on_postgresql_never_overlap_and_take_over(ledger_url, tmp_path, replicas):
    """Two or three `syncd run` replicas on one PostgreSQL ledger: cycles never overlap;
    when one is killed, the others keep cycling within an interval or two."""
    if not ledger_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL ledger")
    pool = SquarespacePool(STOCK)
    with serve(pool["north"].app) as north, serve(pool["south"].app) as south:
        procs = []
        for i in range(replicas):
            settings = settings_for(pool, ledger_url, free_port(), {"north": north, "south": south})
            write_config(tmp_path / f"r{i}.toml", settings)
            procs.append(start(tmp_path / f"r{i}.toml", pool.env()))
        engine = make_engine(ledger_url)
        table = CycleRow.__table__  # type: ignore[attr-defined]

        def finished() -> list[tuple]:
            try:
                with engine.connect() as conn:
                    return list(conn.execute(select(table.c.started_at, table.c.finished_at)
                                             .where(table.c.finished_at.is_not(None)).order_by(table.c.started_at)))
            except ProgrammingError:
                return []  # the replicas have not created the schema yet

        try:
            wait_for(lambda: len(finished()) >= 4, 30, "four cycles")
            for a, b in zip(finished(), finished()[1:], strict=False):
                assert a[1] <= b[0], f"cycles overlap: {a} and {b}"
            procs[0].kill()
            procs[0].wait(5)
            seen = len(finished())
            wait_for(lambda: len(finished()) >= seen + 2, 15, "the other replica to go on")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        rows = finished()
        for a, b in itertools.pairwise(rows):
            assert a[1] <= b[0], f"cycles overlap: {a} and {b}"


def test_a_second_signal_exits_at_once_and_the_next_run_settles_the_write(tmp_path, notify):
    """SIGTERM twice during a write: exit 1 without waiting; the interrupted write stays in
    flight in the ledger, and the next `syncd reconcile` resends it under its key — the
    store applies it once."""
    pool = SquarespacePool(STOCK)
    in_write, release, slow_write = blocking_write(10)

    with serve(pool["north"].app) as north, serve(pool["south"].app) as south:
        settings = settings_for(pool, f"sqlite:///{tmp_path}/l.db", free_port(), {"north": north, "south": south})
        write_config(tmp_path / "syncd.toml", settings)
        pool["south"].before_write.append(slow_write)
        pool["north"].sell("TEA", 1)
        proc = start(tmp_path / "syncd.toml", {**pool.env(), "NOTIFY_SOCKET": notify.path})
        try:
            assert in_write.wait(20), "the daemon never wrote"
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 1
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        time.sleep(0.3)  # the store finishes applying the write nobody waits for any more
        engine = make_engine(settings.ledger.url)
        with engine.connect() as conn:
            rows = list(conn.execute(select(OutboxRow.__table__.c.status)))  # type: ignore[attr-defined]
        assert [r[0] for r in rows] == ["in_flight"]
        pool["south"].before_write.clear()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_TEST_TOKEN")} | pool.env()
        again = subprocess.run([sys.executable, "-m", "syncd", "--config", str(tmp_path / "syncd.toml"),
                                "reconcile", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
    assert pool.quantities("TEA") == {"north": 4, "south": 4}
    assert all(n == 1 for n in pool["south"].applied_keys.values())


def test_a_cron_schedule_replaces_the_interval():
    """sync.cron builds a crontab trigger."""
    from apscheduler.triggers.cron import CronTrigger

    pool = SquarespacePool(STOCK)
    base = pool.settings("sqlite://")
    settings = Settings(ledger=base.ledger, sync={"cron": "*/5 * * * *"}, stores=base.stores)
    assert isinstance(Daemon(settings, notifier=SystemdNotifier({}))._trigger(), CronTrigger)
