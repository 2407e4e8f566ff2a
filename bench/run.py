"""syncd benchmark: simulators served over 127.0.0.1, each in its own process.

    python bench/run.py [--sizes 1000,10000] [--repeat 5] [--pg URL] [--platforms a,b,…]   (make bench)

Measures, reporting medians of repeated runs and ratios measured side by side:
1. pull overhead: syncd's Squarespace pull vs a bare httpx loop over the same pages, and
   vs dlt's ``rest_api`` source (the ``bench`` extra) over the same pages;
2. cycle cost per catalogue size (by default one store on each platform: Squarespace,
   BigCommerce, SaaSignal, Shopify, Wix V3): first sync and steady cycle (1 % of SKUs sold
   since the last cycle) — wall time, CPU time of the syncd process (the simulators run
   elsewhere; user and system apart), SQL statements, rows written, each cycle's own
   peak RSS (Linux: the high-water mark is reset before each cycle) and the resident size
   between cycles — on SQLite, and on
   PostgreSQL with --pg. Each steady cycle is followed by the same pulls alone, so the table splits the
   cycle's CPU into the stores' pages (HTTP, JSON, parsing) and everything else; then by
   a replay of those pulls' very requests through a bare httpx client that only decodes
   each body: the client-side floor of the cycle's HTTP, whatever syncd does with it (both
   under the cyclic collector's thresholds the cycle sets).
   Several sizes make the scaling curve.
Writes bench/results/<timestamp>.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import event, text

HERE = Path(__file__).resolve().parent
PLATFORMS = ("squarespace", "bigcommerce", "saasignal", "shopify", "wix")


def free_port() -> int:
    from syncd.testing.serve import free_port as fp

    return fp()


@contextlib.contextmanager
def servers(sizes: dict[str, int]) -> Iterator[dict[str, dict[str, Any]]]:
    """Start one simulator process per store; yields name → {url, token, store_hash}."""
    procs, info = [], {}
    try:
        for name, n in sizes.items():
            port = free_port()
            platform_ = name.split("-")[0]
            procs.append(subprocess.Popen([sys.executable, str(HERE / "sim_server.py"), platform_, str(n), str(port)]))
            info[name] = {"url": f"http://127.0.0.1:{port}", "platform": platform_}
        for name, entry in info.items():
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    entry.update(httpx.get(entry["url"] + "/__bench/token", timeout=1).json())
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"simulator {name} did not start")
        yield info
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


async def bare_pull(url: str, token: str) -> int:
    """The client-side floor: walk the pages with httpx and json.loads, nothing else."""
    items, cursor = 0, None
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "bench/1"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        while True:
            body = (await http.get("/1.0/commerce/inventory", params={"cursor": cursor} if cursor else None)).json()
            items += len(body["inventory"] or [])
            if not body["pagination"]["hasNextPage"]:
                return items
            cursor = body["pagination"]["nextPageCursor"]


async def syncd_pull(url: str, token: str) -> int:
    from syncd.config import Settings
    from syncd.connectors import open_connectors
    from syncd.http import SystemClock

    os.environ["BENCH_TOKEN"] = token
    settings = Settings(stores=[{"name": "s", "platform": "squarespace", "base_url": url, "token_env": "BENCH_TOKEN",
                                 "requests_per_minute": 10**7}])
    items = 0
    async with open_connectors(settings, SystemClock()) as connectors:
        async for page in connectors["s"].pull({}):
            items += len(page.observations)
    return items


def dlt_pull(url: str, token: str) -> int:
    """The same pages through dlt's ``rest_api`` source (its RESTClient and cursor
    paginator), items extracted without a destination."""
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {"base_url": url, "auth": {"type": "bearer", "token": token}},
        "resources": [{"name": "inventory", "endpoint": {
            "path": "1.0/commerce/inventory", "data_selector": "inventory",
            "paginator": {"type": "cursor", "cursor_path": "pagination.nextPageCursor", "cursor_param": "cursor"}}}],
    })
    return sum(len(page) if isinstance(page, list) else 1 for page in source.resources["inventory"])


def pull_overhead(n: int, repeat: int) -> dict[str, Any]:
    try:
        import dlt  # noqa: F401  (the bench extra)
        have_dlt = True
    except ImportError:
        have_dlt = False
    with servers({"squarespace": n}) as info:
        url, token = info["squarespace"]["url"], info["squarespace"]["token"]
        bare, ours, theirs = [], [], []
        for _ in range(repeat):  # side by side, alternating, same server
            t = time.perf_counter()
            assert asyncio.run(bare_pull(url, token)) == n
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert asyncio.run(syncd_pull(url, token)) == n
            ours.append(time.perf_counter() - t)
            if have_dlt:
                t = time.perf_counter()
                assert dlt_pull(url, token) == n
                theirs.append(time.perf_counter() - t)
    b, o = statistics.median(bare), statistics.median(ours)
    out: dict[str, Any] = {
        "skus": n, "pages": -(-n // 50), "bare_httpx_s": round(b, 3), "syncd_s": round(o, 3),
        "bare_items_per_s": round(n / b), "syncd_items_per_s": round(n / o),
        "syncd_vs_bare_throughput": round(b / o, 3)}
    if theirs:
        d = statistics.median(theirs)
        out |= {"dlt_rest_api_s": round(d, 3), "dlt_items_per_s": round(n / d),
                "syncd_vs_dlt_throughput": round(d / o, 3), "bare_vs_dlt_throughput": round(d / b, 3)}
    else:
        out["dlt"] = "not measured: dlt is not installed (make bench installs the bench extra)"
    return out


def store_settings(info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    stores = []
    for name, entry in info.items():
        env = f"BENCH_{name.split('-')[0].upper()}"
        os.environ[env] = entry["token"]
        store = {"name": name, "platform": entry["platform"], "base_url": entry["url"], "token_env": env,
                 "requests_per_minute": 10**7}
        if entry["platform"] == "bigcommerce":
            store |= {"store_hash": entry["store_hash"], "apply_lag_seconds": 0}
        if entry["platform"] == "wix":
            store |= {"site_id": entry["site_id"], "catalog": "v3"}
        stores.append(store)
    return stores


async def pulls_only(settings: Any, ledger: Any, transports: dict[str, Any] | None = None) -> int:
    """Every store's pull, concurrently, through the connectors and nothing else: the
    part of a cycle that is HTTP and page parsing (SaaSignal with its learned catalog)."""
    from syncd.connectors import open_connectors
    from syncd.http import SystemClock

    since = datetime(1970, 1, 1, tzinfo=UTC)

    async def one(name: str, connector: Any) -> int:
        items = 0
        async for page in connector.pull(ledger.catalog(name, since)):
            items += len(page.observations)
        return items

    async with open_connectors(settings, SystemClock(), transports=transports) as connectors:
        return sum(await asyncio.gather(*(one(n, c) for n, c in connectors.items())))


class Recording(httpx.AsyncBaseTransport):
    """A transport that keeps every request it sends (a copy: method, URL, headers, body)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(verify=False)  # 127.0.0.1 over plain HTTP: no CA bundle to load
        self.requests: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, str(request.url), list(request.headers.raw), await request.aread()))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def replay(requests: dict[str, list[tuple[str, str, list[tuple[bytes, bytes]], bytes]]]) -> int:
    """The client-side floor of a cycle's pulls: the very requests the connectors sent,
    each store's in order (stores concurrently), through a bare httpx client, each body
    decoded (JSON, or JSON lines: Shopify's bulk download) and nothing else."""
    async def one(sent: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]]) -> int:
        values = 0
        async with httpx.AsyncClient(verify=False, timeout=120) as http:
            for method, url, headers, body in sent:
                response = (await http.request(method, url, headers=headers, content=body or None)).raise_for_status()
                if response.headers.get("content-type", "").startswith("application/jsonl"):
                    values += sum(1 for line in response.content.splitlines() if line and orjson.loads(line))
                else:
                    values += bool(orjson.loads(response.content))
        return values

    return sum(await asyncio.gather(*(one(sent) for sent in requests.values())))


def fresh_ledger(db_url: str) -> Any:
    """An engine on an empty, migrated ledger: an SQLite file (and its WAL) is removed
    first, a PostgreSQL database's syncd tables are dropped."""
    from sqlalchemy.engine import make_url

    from syncd.ledger import make_engine, upgrade
    from syncd.ledger.tables import metadata

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    engine = make_engine(db_url)
    if engine.dialect.name == "postgresql":
        metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(engine)
    return engine


def cycle_cost(n: int, repeat: int, db_url: str, platforms: tuple[str, ...]) -> dict[str, Any]:
    """Runs in a child process (fresh RSS): first sync, then `repeat` steady cycles, each
    followed by the same pulls alone (side by side: what of the cycle is the stores' pages)."""
    from syncd.config import Settings
    from syncd.cycle import collector_relaxed
    from syncd.http import SystemClock
    from syncd.ledger import Ledger, bulk
    from syncd.service import reconcile_once

    names = {f"{p}-store": n for p in platforms}
    with servers(names) as info:
        settings = Settings(ledger={"url": db_url}, stores=store_settings(info))
        engine = fresh_ledger(db_url)
        counts = {"statements": 0, "rows": 0}

        @event.listens_for(engine, "before_cursor_execute")
        def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            counts["statements"] += 1
            if statement.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
                counts["rows"] += len(params) if executemany else 1

        def copied(statement: str, rows: int) -> None:  # COPY (PostgreSQL) bypasses the cursor events
            counts["statements"] += 1
            counts["rows"] += rows

        bulk.observers.append(copied)

        def one() -> dict[str, Any]:
            counts.update(statements=0, rows=0)
            reset_peak_rss()
            wall, before = time.perf_counter(), os.times()
            report = asyncio.run(reconcile_once(settings, SystemClock(), engine=engine))
            assert report.exit_code == 0, report.failed
            after = os.times()
            user, system = after.user - before.user, after.system - before.system
            return {"wall_s": time.perf_counter() - wall, "cpu_s": user + system, "user_s": user, "sys_s": system,
                    "statements": counts["statements"], "rows_written": counts["rows"],
                    "journal": len(report.plan.journal) if report.plan else 0, "writes": report.applied,
                    "peak_rss_mb": peak_rss_mb()}

        first = one()
        first_rss = first.pop("peak_rss_mb")
        steady, pulls, floor, between = [], [], [], []
        seller = info[f"{platforms[0]}-store"]["url"]
        for i in range(repeat):
            httpx.post(seller + "/__bench/sell", params={"every": 100, "offset": i})
            steady.append(one())
            between.append(rss_mb())
            recording = {name: Recording() for name in names}
            with collector_relaxed():  # what a cycle runs under, for a fair split; it ends handing memory back
                cpu = time.process_time()
                assert asyncio.run(pulls_only(settings, Ledger(engine), recording)) == n * len(platforms)
                pulls.append(time.process_time() - cpu)
                sent = {name: r.requests for name, r in recording.items()}
                cpu = time.process_time()
                asyncio.run(replay(sent))
                floor.append(time.process_time() - cpu)
                requests = sum(len(r) for r in sent.values())
                del recording, sent  # so the next cycle starts from where a daemon's would
    med = {k: statistics.median(s[k] for s in steady) for k in steady[0] if k != "peak_rss_mb"}
    pull_cpu = statistics.median(pulls)
    local = statistics.median(s["cpu_s"] - p for s, p in zip(steady, pulls, strict=True))
    beyond_floor = statistics.median(s["cpu_s"] - f for s, f in zip(steady, floor, strict=True))
    return {"skus": n, "stores": len(platforms), "platforms": list(platforms), "db": engine.dialect.name,
            "first_sync": {k: round(v, 3) if isinstance(v, float) else v for k, v in first.items()},
            "steady_median": {k: round(v, 3) if isinstance(v, float) else v for k, v in med.items()},
            "steady_pulls_only_cpu_s": round(pull_cpu, 3), "steady_cpu_beyond_pulls_s": round(local, 3),
            "steady_pull_requests": requests,
            "steady_http_floor_cpu_s": round(statistics.median(floor), 3),
            "steady_cpu_beyond_http_floor_s": round(beyond_floor, 3),
            "first_sync_peak_rss_mb": round(first_rss, 1),
            "steady_peak_rss_mb": round(max(s["peak_rss_mb"] for s in steady), 1),
            "rss_between_cycles_mb": round(max(between), 1)}


def reset_peak_rss() -> None:
    """Linux: start the process's high-water mark (VmHWM) again from its current RSS,
    so each cycle's own peak is measured (ru_maxrss only ever grows)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_mb() -> float:
    """The resident size now (Linux), e.g. between two cycles."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """The peak RSS since the last reset_peak_rss() (since the start where it cannot be reset)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu_model": model, "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=None, help="also measure on this PostgreSQL URL")
    parser.add_argument("--platforms", default=",".join(PLATFORMS),
                        help="one store per platform, comma-separated (the first one is where sales happen)")
    parser.add_argument("--child", nargs=2, metavar=("SKUS", "DB_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        platforms = tuple(args.platforms.split(","))
        print(json.dumps(cycle_cost(int(args.child[0]), args.repeat, args.child[1], platforms)))
        return
    from syncd.observability import configure_logging

    configure_logging(level="error", json=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                               "pull_overhead": pull_overhead(max(sizes[:2]), args.repeat), "cycles": []}
    dbs = ["sqlite"] + (["pg"] if args.pg else [])
    for n in sizes:
        for db in dbs:
            url = args.pg if db == "pg" else f"sqlite:///{HERE}/results/.bench-{n}.db"  # emptied by the child
            env = os.environ | {"PYTHONPATH": str(HERE.parent)}
            out = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat), "--platforms",
                                  args.platforms, "--child", str(n), url],
                                 capture_output=True, text=True, check=False, env=env)
            if out.returncode != 0:  # say why: the child's own traceback, not only its exit status
                sys.exit(f"the {n:,}-SKU run on {db} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
            results["cycles"].append(json.loads(out.stdout.strip().splitlines()[-1]))
    path = HERE / "results" / f"{results['when'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2))
    report(results, path)


def report(results: dict[str, Any], path: Path) -> None:
    p = results["pull_overhead"]
    print(f"pull of {p['skus']} SKUs ({p['pages']} pages), median of runs: bare httpx {p['bare_httpx_s']} s, "
          f"syncd {p['syncd_s']} s → syncd at {p['syncd_vs_bare_throughput']}× the bare loop's throughput")
    if "dlt_rest_api_s" in p:
        print(f"  dlt rest_api {p['dlt_rest_api_s']} s → syncd at {p['syncd_vs_dlt_throughput']}× dlt's throughput "
              f"(bare loop at {p['bare_vs_dlt_throughput']}× dlt)")
    print(f"{'SKUs':>7} {'stores':>6} {'db':>10} | {'first wall':>10} {'cpu':>7} {'rows':>8} | {'steady wall':>11} "
          f"{'cpu':>6} {'user':>6} {'sys':>6} {'pulls':>6} {'rest':>6} {'floor':>6} {'stmts':>6} {'rows':>6} | "
          f"{'RSS first':>9} {'steady':>7} {'between':>7}")
    for c in results["cycles"]:
        f, s = c["first_sync"], c["steady_median"]
        print(f"{c['skus']:>7} {c['stores']:>6} {c['db']:>10} | {f['wall_s']:>10} {f['cpu_s']:>7} "
              f"{f['rows_written']:>8} | {s['wall_s']:>11} {s['cpu_s']:>6} {s['user_s']:>6} {s['sys_s']:>6} "
              f"{c['steady_pulls_only_cpu_s']:>6} {c['steady_cpu_beyond_pulls_s']:>6} "
              f"{c.get('steady_http_floor_cpu_s', '-'):>6} {s['statements']:>6} "
              f"{s['rows_written']:>6} | {c['first_sync_peak_rss_mb']:>9} {c['steady_peak_rss_mb']:>7} "
              f"{c.get('rss_between_cycles_mb', '-'):>7}")
    print(f"written to {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
