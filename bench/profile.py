"""Where a steady cycle's CPU and memory go, phase by phase (not part of make test).

    python bench/profile.py [--skus 100000] [--cycles 3] [--db URL] [--platforms a,b,…]   (make bench-profile)

The same set-up as ``bench/run.py`` (one simulator process per store on 127.0.0.1, a
first sync, then steady cycles with 1 % of the SKUs sold on the first platform since the
last one), with the cycle's phases timed from outside: each of ``Ledger.load_snapshot``,
``split_unchanged`` (the pulls checked against the snapshot, page by page),
``plan_cycle`` and ``Ledger.record`` is wrapped to add up its CPU time (user + system,
this process) and, for the ones that do not run inside the pulls, the peak RSS from the
phase before to its end (Linux: the high-water mark is reset at each boundary). What is
left of the cycle's CPU is the pulls (HTTP, JSON, page parsing, observations), the
settling before them and the pushes after. Medians over the steady cycles; written to
``bench/results/profile-<time>.json``. The wrappers cost a few function calls per page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run import fresh_ledger, machine, peak_rss_mb, reset_peak_rss, servers, store_settings  # noqa: E402

TIMED = ("load_snapshot", "split_unchanged", "plan_cycle", "record")


class Phases:
    """CPU per phase, and the peak RSS of each stretch between phase boundaries."""

    def __init__(self) -> None:
        self.cpu: Counter[str] = Counter()
        self.peak: dict[str, float] = {}

    def boundary(self, label: str) -> None:
        self.peak[label] = max(self.peak.get(label, 0.0), peak_rss_mb())
        reset_peak_rss()

    def wrap(self, owner: Any, name: str, *, rss: bool) -> None:
        inner: Callable[..., Any] = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if rss:
                self.boundary(f"before {name}")
            start = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.cpu[name] += time.process_time() - start
                if rss:
                    self.boundary(name)

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.cpu.clear()
        self.peak.clear()
        reset_peak_rss()

    def take(self) -> tuple[dict[str, float], dict[str, float]]:
        self.boundary("after record (pushes)")
        cpu, peak = dict(self.cpu), dict(self.peak)
        self.reset()
        return cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--db", default=None,
                        help="ledger URL, emptied first (default: an SQLite file in bench/results/)")
    parser.add_argument("--platforms", default="squarespace,bigcommerce,shopify,wix")
    args = parser.parse_args()
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")


    import syncd.cycle as cycle_module
    from syncd.config import Settings
    from syncd.http import SystemClock
    from syncd.ledger import Ledger
    from syncd.observability import configure_logging
    from syncd.service import reconcile_once

    configure_logging(level="error", json=True)
    db = args.db or f"sqlite:///{HERE}/results/.profile-{args.skus}.db"
    platforms = tuple(args.platforms.split(","))
    phases = Phases()
    for name in TIMED:
        owner = Ledger if name in ("load_snapshot", "record") else cycle_module
        phases.wrap(owner, name, rss=name != "split_unchanged")  # split runs inside the pulls

    with servers({f"{p}-store": args.skus for p in platforms}) as info:
        settings = Settings(ledger={"url": db}, stores=store_settings(info))
        engine = fresh_ledger(db)

        def one() -> dict[str, Any]:
            phases.reset()
            before = os.times()
            report = asyncio.run(reconcile_once(settings, SystemClock(), engine=engine))
            after = os.times()
            assert report.exit_code == 0, report.failed
            cpu, peak = phases.take()
            total = (after.user - before.user) + (after.system - before.system)
            cpu["rest: settle, pulls, pushes"] = total - sum(cpu.values())
            return {"cpu_s": total, "phase_cpu_s": cpu, "phase_peak_rss_mb": peak,
                    "journal": len(report.plan.journal) if report.plan else 0, "writes": report.applied}

        first = one()
        steady = []
        seller = info[f"{platforms[0]}-store"]["url"]
        for i in range(args.cycles):
            httpx.post(seller + "/__bench/sell", params={"every": 100, "offset": i})
            steady.append(one())

    def median(key: str, inner: str) -> float:
        return round(statistics.median(s[key].get(inner, 0.0) for s in steady), 3)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "skus": args.skus, "platforms": list(platforms), "db": engine.dialect.name, "cycles": args.cycles,
        "first_sync": first,
        "steady_cpu_s": round(statistics.median(s["cpu_s"] for s in steady), 3),
        "steady_phase_cpu_s": {k: median("phase_cpu_s", k) for k in steady[0]["phase_cpu_s"]},
        "steady_phase_peak_rss_mb": {k: round(max(s["phase_peak_rss_mb"].get(k, 0.0) for s in steady), 1)
                                     for k in steady[0]["phase_peak_rss_mb"]},
        "steady": steady,
    }
    path = HERE / "results" / f"profile-{result['when'].replace(':', '')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"{args.skus:,} SKUs × {len(platforms)} stores, {result['db']}; steady cycle CPU "
          f"{result['steady_cpu_s']} s (median of {args.cycles}), by phase:")
    for name, cpu in result["steady_phase_cpu_s"].items():
        print(f"  {name:<30} {cpu:>7.3f} s")
    print("peak RSS (MB) from the boundary before to the end of:")
    for name, mb in result["steady_phase_peak_rss_mb"].items():
        print(f"  {name:<30} {mb:>7.1f}")
    print(f"written to {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
