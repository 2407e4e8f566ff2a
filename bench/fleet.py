"""The fleet benchmark: many pools' cycles over 1, 2 and 4 `syncd worker` processes.

    python bench/fleet.py [--pools 1000] [--skus 200] [--workers 1,2,4] [--window 90]
                          [--interval 60] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                                                                         (make bench-fleet)

POOLS pools of three stores each (Squarespace, BigCommerce, Squarespace; SKUS SKUs), served
by two simulator processes on 127.0.0.1 (bench/fleet_sims.py), each pool's full cycle due
every INTERVAL seconds, 1 % of the SKUs of 10 random pools sold every 2 s. The ledger and
Procrastinate's queue are a database of their own (``syncd_fleet_bench``, dropped and made
again). Phases:

1. first sync: every pool's first cycle (seeding), with the largest worker count;
2. for each worker count: every pool made due, then WINDOW seconds of running; pool-cycles
   per minute, the workers' CPU per pool-cycle, lateness (how long after it was due each
   cycle started), p50/p95, and the pools not reached at all in the window;
3. a worker killed with SIGKILL while its cycles run (2 workers): how long until every
   pool whose cycle was in flight at the kill has finished one (the dead worker's jobs are
   taken over after ``stalled_seconds``); then the sales stop, a replacement worker starts,
   every pool is made due twice more, and each pool is checked: its stores agree on every
   SKU, no Squarespace key was applied twice, and its ledger balances (available = Σ journal).

Writes bench/results/fleet-<time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from syncd.config import Settings  # noqa: E402
from syncd.fleet.pools import add_pool, fleet_engine, list_pools, pool_engine  # noqa: E402
from syncd.ledger import Ledger  # noqa: E402
from syncd.testing.serve import free_port  # noqa: E402

DB = "syncd_fleet_bench"


def fresh_database(admin_url: str) -> str:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    admin.dispose()
    return make_url(admin_url).set(database=DB).render_as_string(hide_password=False)


@contextlib.contextmanager
def simulators(pools: int, skus: int, procs: int) -> Iterator[list[dict[str, Any]]]:
    started, info = [], []
    per = -(-pools // procs)
    try:
        for first in range(0, pools, per):
            port = free_port()
            started.append(subprocess.Popen([sys.executable, str(HERE / "fleet_sims.py"), str(first),
                                              str(min(per, pools - first)), str(skus), str(port)]))
            info.append({"url": f"http://127.0.0.1:{port}", "first": first, "count": min(per, pools - first)})
        for entry in info:
            for _ in range(1200):
                with contextlib.suppress(httpx.HTTPError):
                    entry.update(httpx.get(entry["url"] + "/__bench/info", timeout=2).json())
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("a simulator process did not start")
        yield info
    finally:
        for p in started:
            p.terminate()
        for p in started:
            p.wait(30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Workers:
    def __init__(self, config: Path, logs: Path) -> None:
        self.config, self.logs, self.procs = config, logs, []

    def start(self, n: int) -> None:
        for _ in range(n):
            i = len(self.procs)
            log = (self.logs / f"worker-{i}.log").open("w")
            env = {**os.environ, "BENCH_TOKEN": "bench-token", "SYNCD_DAEMON__LISTEN": f"127.0.0.1:{free_port()}"}
            self.procs.append(subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(self.config),
                                                "--log-level", "warning", "worker"], stdout=log,
                                               stderr=subprocess.STDOUT, env=env))

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs if p.poll() is None)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(120)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []


def lateness(main: Settings, names: list[str], since: datetime, until: datetime, interval: int) -> list[float]:
    """How late each full cycle that started in [since, until) began against its pool's
    schedule: every pool was made due at ``since``; after a start, the next is due one
    interval later. (The ledger's start: it includes a worker's first migration check of
    that pool.)"""
    late: list[float] = []
    for name in names:
        engine = pool_engine(main, name)
        with engine.connect() as conn:
            starts = [r[0] for r in conn.execute(text(
                "SELECT started_at FROM cycle WHERE kind = 'full' AND started_at >= :s AND started_at < :u "
                "ORDER BY id"), {"s": since, "u": until})]
        engine.dispose()
        due = since
        for start in starts:
            late.append(max(0.0, (start - due).total_seconds()))
            due = start + timedelta(seconds=interval)
    return late


def set_all_due(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE fleet_pool SET next_run_at = now()"))


def wait_all_finished_after(engine: Any, moment: datetime, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM fleet_pool WHERE enabled AND "
                                     "(last_finished_at IS NULL OR last_finished_at < :m)"), {"m": moment}).scalar()
        if not left:
            return time.monotonic() - began
        time.sleep(1)
    return None


def sell(sims: list[dict[str, Any]]) -> None:
    for s in sims:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(s["url"] + "/__bench/sell", params={"every": 100, "pools": 10}, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--window", type=int, default=90)
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--sim-procs", type=int, default=2)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    url = fresh_database(args.pg)
    main = Settings(ledger={"url": url}, fleet={"concurrency": 2, "schedule_seconds": 2, "stalled_seconds": 10,
                                                 "heartbeat_seconds": 2, "shutdown_timeout_seconds": 60})
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(), "pools": args.pools, "skus": args.skus,
                              "stores_per_pool": 3, "interval_s": args.interval, "window_s": args.window,
                              "cpus": os.cpu_count(), "concurrency_per_worker": 2, "runs": []}
    with tempfile.TemporaryDirectory() as tmp, simulators(args.pools, args.skus, args.sim_procs) as sims:
        config = Path(tmp) / "fleet.toml"
        config.write_text(f'[ledger]\nurl = "{url}"\n[fleet]\nconcurrency = 2\nschedule_seconds = 2\n'
                          "stalled_seconds = 10\nheartbeat_seconds = 2\nshutdown_timeout_seconds = 60\n")
        engine = fleet_engine(main)
        now = datetime.now(UTC)
        for s in sims:
            for i in range(s["first"], s["first"] + s["count"]):
                base = f"{s['url']}/p/p{i}"
                stores = [{"name": f"p{i}_{n}", "platform": p, "base_url": f"{base}/{n}", "token_env": "BENCH_TOKEN",
                           **({"store_hash": s["store_hash"], "apply_lag_seconds": 0} if p == "bigcommerce" else {})}
                          for n, p in (("sq", "squarespace"), ("bc", "bigcommerce"), ("sq2", "squarespace"))]
                add_pool(engine, f"p{i}", {"sync": {"interval_seconds": args.interval}, "stores": stores}, now)
        names = [p.name for p in list_pools(engine)]
        workers = Workers(config, Path(tmp))
        print(f"{len(names)} pools registered; first sync with {max(counts)} workers …", file=sys.stderr)
        workers.start(max(counts))
        first = wait_all_finished_after(engine, now, 3600)
        cpu_first = workers.cpu()
        workers.stop()
        result["first_sync"] = {"workers": max(counts), "wall_s": round(first or -1, 1),
                                "cpu_s_per_pool": round(cpu_first / len(names), 3)}
        print(f"first sync: {result['first_sync']}", file=sys.stderr)
        for n in counts:
            set_all_due(engine)
            since = datetime.now(UTC)
            before = finished_cycles_total(url)
            workers.start(n)
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.window:
                sell(sims)
                time.sleep(2)
            cpu = workers.cpu()  # since each worker started: its start-up included
            done = finished_cycles_total(url) - before
            workers.stop()
            # Not yet started at the window's end: as late as the window is long, at least.
            waiting = sum(1 for p in list_pools(engine) if p.last_started_at is None or p.last_started_at < since)
            late = lateness(main, names, since, datetime.now(UTC), args.interval)
            run = {"workers": n, "pool_cycles": done, "pool_cycles_per_min": round(done * 60 / args.window, 1),
                   "cpu_s_per_pool_cycle": round(cpu / max(1, done), 3),
                   "lateness_p50_s": round(statistics.median(late), 2) if late else None,
                   "lateness_p95_s": round(sorted(late)[int(0.95 * (len(late) - 1))], 2) if late else None,
                   "lateness_samples": len(late), "pools_not_started_in_window": waiting}
            result["runs"].append(run)
            print(json.dumps(run), file=sys.stderr)
        # a worker killed mid-cycle: the pools whose cycles were in flight resume on the other
        set_all_due(engine)
        workers.start(2)
        time.sleep(15)
        with engine.connect() as conn:
            in_flight = [r[0] for r in conn.execute(text(
                "SELECT args->>'pool' FROM procrastinate_jobs WHERE task_name = 'syncd.pool_cycle' "
                "AND status = 'doing'"))]
        killed = workers.procs[0]
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        kill_moment = datetime.now(UTC)
        began = time.monotonic()
        resumed = None
        while time.monotonic() - began < 3 * args.interval:
            with engine.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM fleet_pool WHERE name = ANY(:n) AND "
                                         "(last_finished_at IS NULL OR last_finished_at < :m)"),
                                    {"n": in_flight, "m": kill_moment}).scalar()
            if not left:
                resumed = time.monotonic() - began
                break
            time.sleep(0.5)
        result["kill"] = {"workers": 2, "interval_s": args.interval, "cycles_in_flight_at_the_kill": len(in_flight),
                          "all_of_them_finished_after_s": None if resumed is None else round(resumed, 1)}
        workers.start(1)  # the killed worker's replacement, for the quiet passes
        # quiet: no sales, two more cycles each, then every pool checked
        for _ in range(2):
            mark = datetime.now(UTC)
            set_all_due(engine)
            wait_all_finished_after(engine, mark, 1800)
        workers.stop()
        agree = applied_once = balanced = 0
        for s in sims:
            state = httpx.get(s["url"] + "/__bench/check", timeout=120).json()
            for pool in state.values():
                agree += all(len(set(c.values())) == 1 for c in pool["counts"].values())
                applied_once += pool["max_key_applied"] <= 1
        for name in names:
            eng = pool_engine(main, name)
            ledger = Ledger(eng)
            snapshot, totals = ledger.load_snapshot().available, ledger.journal_totals()
            balanced += all(snapshot[k] == totals[k] for k in snapshot) and set(snapshot) == set(totals)
            eng.dispose()
        result["checks"] = {"pools": len(names), "stores_agree": agree, "keys_applied_once": applied_once,
                            "ledgers_balance": balanced}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S%z")
    out = HERE / "results" / f"fleet-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    print("| workers | pool-cycles/min | CPU s per pool-cycle | lateness p50 | p95 |")
    print("|---:|---:|---:|---:|---:|")
    for r in result["runs"]:
        print(f"| {r['workers']} | {r['pool_cycles_per_min']} | {r['cpu_s_per_pool_cycle']} | "
              f"{r['lateness_p50_s']} s | {r['lateness_p95_s']} s |")
    print(json.dumps({k: result[k] for k in ("first_sync", "kill", "checks")}, indent=2))
    print(f"results: {out.relative_to(HERE.parent)}", file=sys.stderr)


def finished_cycles_total(url: str) -> int:
    """Every pool's full cycles so far (the pools' own ledgers), as one number."""
    engine = create_engine(url)
    with engine.connect() as conn:
        schemas = [r[0] for r in conn.execute(text(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pool\\_%'"))]
        total = 0
        for schema in schemas:
            total += int(conn.execute(text(
                f"SELECT count(*) FROM \"{schema}\".cycle WHERE kind = 'full' AND outcome IN ('ok', 'failed')"
            )).scalar() or 0)
    engine.dispose()
    return total


if __name__ == "__main__":
    main()
