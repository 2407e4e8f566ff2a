"""The ``syncd`` command. Loads the settings, builds the objects, runs, sets the exit code.

Exit codes: 0 every store pulled and every write reached a known outcome; 1 a store
could not be pulled, a write's outcome is still unknown, or the ledger failed; 2 the
configuration is invalid.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress as RichProgress
from rich.progress import TaskID, TextColumn
from rich.table import Table
from sqlalchemy import Engine

from . import __version__
from .cli_common import State, err, exit_codes, out
from .cli_common import settings as _settings
from .cli_fleet import fleet_app, pool_engine_for, pool_settings_for, pools_app, worker
from .cli_webhooks import webhooks_app
from .config import Settings
from .cycle import CycleReport, Progress
from .errors import ConfigError, ListenError
from .http import SystemClock
from .ledger import make_engine, schema_exists, sqlite_path, upgrade
from .ledger.aliases import parse_alias_csv, save_aliases
from .ledger.health import reset_health
from .ledger.queries import export_rows, list_conflicts, sku_history, store_status
from .service import reconcile_once

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multi-store inventory sync.")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(pools_app, name="pools")
app.add_typer(fleet_app, name="fleet")
app.command()(worker)
POOL = Annotated[str, typer.Option("--pool", help="The fleet's pool (default: the main configuration's stores).")]


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@app.callback()
def _root(
    config: Annotated[Path | None, typer.Option("--config", "-c", envvar="SYNCD_CONFIG",
                                               help="TOML config (default config/syncd.toml).")] = None,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="How much to log.")] = LogLevel.INFO,
) -> None:
    State.config, State.log_level = config, log_level.value


def _read_ledger(settings: Settings, pool: str = "default") -> Engine | None:
    """The ledger's engine for read-only commands, or None when there is no ledger yet."""
    if pool != "default":
        engine = pool_engine_for(settings, pool)
        return engine if engine is not None and schema_exists(engine) else None
    path = sqlite_path(settings.ledger.url)
    if path is not None and not path.exists():
        return None
    with exit_codes():
        engine = make_engine(settings.ledger.url)
        return engine if schema_exists(engine) else None


@app.command()
def check(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Before the first cycle: every store's token, scopes, location, version and first page. Read-only."""
    from .check import check_stores, report_json

    settings = _settings()
    with exit_codes():
        results = asyncio.run(check_stores(settings, SystemClock()))
    data = report_json(results, {s.name: s.platform for s in settings.enabled_stores})
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        table = Table(title="syncd check (read-only)")
        for col in ("store", "check", "", "detail", "fix"):
            table.add_column(col)
        for name, checks in results.items():
            for c in checks:
                table.add_row(name, c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail, c.fix)
        out.print(table)
        failures = sum(not c.ok for checks in results.values() for c in checks)
        out.print("every store is ready for its first cycle" if not failures
                  else f"{failures} check(s) failed: fix them before the first cycle", highlight=False)
    raise typer.Exit(0 if data["ok"] else 1)


@app.command()
def conflicts(
    open_only: Annotated[bool, typer.Option("--open", help="Only conflicts still open.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    pool: POOL = "default",
) -> None:
    """List conflicts: kind, store, SKU, values and cycle, newest first."""
    engine = _read_ledger(pool_settings_for(_settings(tokens=False), pool), pool)
    rows = list_conflicts(engine, open_only=open_only) if engine is not None else []
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("no conflicts" + (" open" if open_only else ""))
        return
    table = Table(title=f"{len(rows)} conflict(s)" + (" open" if open_only else ""))
    for col in ("id", "kind", "store", "SKU", "message", "values", "cycle", "status"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["store"] or "*", r["sku"] or "", r["message"],
                      json.dumps(r["data"], sort_keys=True), str(r["cycle"]), r["status"])
    out.print(table)


@app.command()
def history(
    sku: Annotated[str, typer.Argument(help="The SKU to show.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    pool: POOL = "default",
) -> None:
    """One SKU across stores: its journal (every change to available) and every write."""
    engine = _read_ledger(pool_settings_for(_settings(tokens=False), pool), pool)
    if engine is None:
        err.print("the ledger is empty: no cycle has run yet")
        raise typer.Exit(1)
    h = sku_history(engine, sku)
    if h.available is None and not h.events:
        err.print(f"SKU {sku!r} is not in the ledger")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(dataclasses.asdict(h), indent=2))
        return
    out.print(f"{sku}: available {h.available}")
    for store, state in sorted(h.stores.items()):
        out.print(f"  {store}: expected {state['expected'] if state['expected'] is not None else 'unlimited'} "
                  f"(remote id {state['remote_id']})")
    table = Table(title="history")
    for col in ("cycle", "when", "store", "event"):
        table.add_column(col)
    for e in h.events:
        if e.what == "journal":
            text_ = f"{e.detail['reason']} {e.detail['delta']:+d}"
        else:
            error = f" — {e.detail['error']}" if e.detail["error"] else ""
            text_ = (f"write {e.detail['before']} → {e.detail['target']} ({e.detail['change']:+d}, "
                     f"{e.detail['mode']}): {e.detail['status']}{error}")
        table.add_row(str(e.cycle), e.at or "", e.store or "first sight", text_)
    out.print(table)


@app.command()
def reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read everything, write nothing; print the plan.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary.")] = False,
    store: Annotated[list[str] | None, typer.Option(
        "--store", help="Try this store even while its circuit is open (repeatable).")] = None,
    pool: POOL = "default",
) -> None:
    """Run one cycle (pull every store, reconcile, push) and exit with its status."""
    settings = pool_settings_for(_settings(tokens=pool == "default"), pool, tokens=True)
    unknown = sorted(set(store or ()) - {s.name for s in settings.enabled_stores})
    if unknown:
        err.print(f"[bold red]no enabled store named {', '.join(unknown)}[/]", highlight=False)
        raise typer.Exit(2)
    with exit_codes(), _progress(enabled=sys.stdout.isatty() and not as_json) as progress:
        report = asyncio.run(reconcile_once(settings, SystemClock(), dry_run=dry_run, progress=progress,
                                            force=store or (), engine=pool_engine_for(settings, pool)))
    if as_json:
        print(json.dumps(summary(report), indent=2, sort_keys=True))
    elif dry_run:
        _print_plan(report)
    else:
        _print_summary(report)
    raise typer.Exit(report.exit_code)


@app.command()
def run() -> None:
    """Run the daemon: cycles on schedule, /healthz, /readyz and /metrics over HTTP."""
    from .daemon import Daemon  # the daemon's imports are not needed by one-shot commands

    settings = _settings()
    try:
        with exit_codes():
            code = asyncio.run(Daemon(settings).serve())
    except ListenError as exc:  # in use, unresolvable, not this host's: one line, and a restart may help
        err.print(f"[bold red]{exc}[/]", highlight=False)
        raise typer.Exit(3) from None
    raise typer.Exit(code)


@app.command("import-aliases")
def import_aliases(
    file: Annotated[Path, typer.Argument(help="CSV with the header store,store_sku,canonical_sku.")],
) -> None:
    """Replace the imported SKU aliases of the stores the CSV names (config aliases win)."""
    settings = _settings(tokens=False)
    try:
        rows = parse_alias_csv(file.read_text(encoding="utf-8"), [s.name for s in settings.stores])
    except (ConfigError, OSError, UnicodeDecodeError) as exc:
        err.print(f"[bold red]cannot import {file}:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    engine = make_engine(settings.ledger.url)
    upgrade(engine)
    save_aliases(engine, rows)
    out.print(f"imported {len(rows)} alias(es) for {len({r[0] for r in rows})} store(s)")


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    pool: POOL = "default",
) -> None:
    """The ledger as it stands: SKU, available, and per store the expected count and remote id."""
    if fmt not in ("csv", "json"):
        err.print("--format must be csv or json")
        raise typer.Exit(2)
    settings = pool_settings_for(_settings(tokens=False), pool)
    engine = _read_ledger(settings, pool)
    rows = export_rows(engine) if engine is not None else []
    if fmt == "json":
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    stores = [s.name for s in settings.stores]
    writer = csv.writer(sys.stdout)
    writer.writerow(["sku", "available", *(f"{s}_{f}" for s in stores for f in ("expected", "remote_id"))])
    for r in rows:
        cells = []
        for s in stores:
            state = r["stores"].get(s)
            expected = "" if state is None else ("unlimited" if state["expected"] is None else state["expected"])
            cells += [expected, "" if state is None else state["remote_id"]]
        writer.writerow([r["sku"], "" if r["available"] is None else r["available"], *cells])


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
           pool: POOL = "default") -> None:
    """Per store: last pull and push, items, writes by outcome, open conflicts, lag; the last cycle."""
    settings = pool_settings_for(_settings(tokens=False), pool)
    engine = _read_ledger(settings, pool)
    if engine is None:
        err.print("the ledger is empty: no cycle has run yet")
        raise typer.Exit(1)
    data = store_status(engine, [s.name for s in settings.stores], SystemClock().wall())
    if as_json or not sys.stdout.isatty():
        print(json.dumps(data, indent=2))
        return
    last = data["last_cycle"]
    if last:
        out.print(f"last cycle {last['id']}: {last['outcome']} (exit {last['exit_code']}), "
                  f"finished {last['finished_at'] or 'not yet'}")
    table = Table(title="stores")
    for col in ("store", "last pull", "last push", "lag", "items", "writes", "open conflicts", "health"):
        table.add_column(col)
    for name, s in data["stores"].items():
        writes = ", ".join(f"{k} {v}" for k, v in sorted(s["writes"].items())) or "—"
        health = (f"circuit open until {s['circuit_open_until']}" if s["circuit_open_until"]
                  else f"{s['failures_in_a_row']} failure(s) in a row" if s["failures_in_a_row"] else "ok")
        table.add_row(name, s["last_pull"] or "never", s["last_push"] or "never",
                      f"{s['lag_seconds']}s" if s["lag_seconds"] is not None else "—",
                      str(s["items"]), writes, str(s["open_conflicts"]), health)
    out.print(table)


stores_app = typer.Typer(no_args_is_help=True, help="The stores' health in the ledger.")
app.add_typer(stores_app, name="stores")


@stores_app.command("reset")
def stores_reset(name: Annotated[str, typer.Argument(help="The store whose circuit to close.")]) -> None:
    """Forget a store's failed cycles: its circuit closes and the next cycle tries it."""
    settings = _settings(tokens=False)
    if name not in {s.name for s in settings.stores}:
        err.print(f"[bold red]no store named {name!r} in the configuration[/]", highlight=False)
        raise typer.Exit(2)
    engine = _read_ledger(settings)
    had = engine is not None and reset_health(engine, name)
    out.print(f"{name}: circuit closed; the next cycle tries it" if had else f"{name}: no failures recorded")


@app.command()
def version() -> None:
    """Print syncd's version."""
    print(__version__)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    """A progress line per store (items pulled, writes sent) on a terminal; nothing otherwise."""
    if not enabled:
        yield None
        return
    bar = RichProgress(TextColumn("{task.description}"), TextColumn("{task.fields[items]} items pulled"),
                       TextColumn("{task.fields[writes]} writes sent"), console=out, transient=False)
    tasks: dict[str, TaskID] = {}

    def update(store: str, what: str, n: int) -> None:
        if store not in tasks:
            tasks[store] = bar.add_task(store, total=None, items=0, writes=0)
        task = bar.tasks[tasks[store]]
        bar.update(tasks[store], **{what: task.fields[what] + n})

    with bar:
        yield update


def summary(report: CycleReport) -> dict[str, Any]:
    """The JSON shape of a cycle's outcome (stable keys, for scripts)."""
    plan = report.plan
    return {
        "cycle_id": report.cycle_id,
        "dry_run": report.dry_run,
        "exit_code": report.exit_code,
        "stores": {
            **{s: {"pulled": True, "items": n} for s, n in report.pulled.items()},
            **{s: {"pulled": False, "error": e} for s, e in report.failed.items()},
        },
        "journal": [{"sku": e.sku, "store": e.store, "delta": e.delta, "reason": e.reason}
                    for e in (plan.journal if plan else ())],
        "writes": [{"store": a.store, "sku": a.sku, "observed": a.before, "target": a.target,
                    "change": a.delta, "mode": str(a.mode)} for a in (plan.adjustments if plan else ())],
        "applied": report.applied,
        "rejected": report.rejected,
        "unknown": report.unknown,
        "settled": report.settled,
        "unseeded": list(plan.unseeded) if plan else [],
        "conflicts": [{"kind": str(c.kind), "store": c.store, "sku": c.sku, "message": c.message}
                      for c in (plan.conflicts if plan else ())],
        "unresolved_before": [{"store": e.store, "sku": e.adjustment.sku, "change": e.adjustment.delta,
                               "status": str(e.status), "key": e.key} for e in report.unresolved_before],
    }


def _print_plan(report: CycleReport) -> None:
    table = Table(title="Plan (dry run: nothing was written)")
    for col in ("store", "SKU", "observed", "target", "write"):
        table.add_column(col, justify="right" if col in ("observed", "target") else "left")
    plan = report.plan
    for a in plan.adjustments if plan else ():
        table.add_row(a.store, a.sku, str(a.before), str(a.target), f"{a.delta:+d} ({a.mode})")
    out.print(table)
    detected = [e for e in (plan.journal if plan else ()) if e.store is not None]
    if detected:
        changes = Table(title="Changes detected on the stores (sales and restocks)")
        for col in ("store", "SKU", "change", "reason"):
            changes.add_column(col)
        for change in detected:
            changes.add_row(change.store or "", change.sku, f"{change.delta:+d}", change.reason)
        out.print(changes)
    if report.unresolved_before:
        pending = Table(title="Unresolved writes from earlier cycles (settled before the next real run)")
        for col in ("store", "SKU", "change", "status"):
            pending.add_column(col)
        for e in report.unresolved_before:
            pending.add_row(e.store, e.adjustment.sku, f"{e.adjustment.delta:+d}", str(e.status))
        out.print(pending)
    _print_stores_and_conflicts(report)


def _print_summary(report: CycleReport) -> None:
    plan = report.plan
    out.print(f"cycle {report.cycle_id}: {len(plan.journal) if plan else 0} stock change(s) recorded, "
              f"{report.applied} write(s) applied, {report.rejected} rejected, {report.unknown} unknown")
    _print_stores_and_conflicts(report)


def _print_stores_and_conflicts(report: CycleReport) -> None:
    for store, n in sorted(report.pulled.items()):
        out.print(f"  [green]✓[/] {store}: {n} item(s) pulled")
    for store, reason in sorted(report.failed.items()):
        out.print(f"  [red]✗[/] {store}: {reason}", highlight=False)
    conflicts = report.plan.conflicts if report.plan else ()
    if conflicts:
        out.print(f"{len(conflicts)} conflict(s):")
        for c in conflicts[:50]:
            out.print(f"  - {c.kind} {c.store or '*'} {c.sku or ''}: {c.message}", highlight=False)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
