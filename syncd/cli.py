"""The ``syncd`` command. Loads the settings, builds the objects, runs, sets the exit code.

Exit codes: 0 every store pulled and every write reached a known outcome; 1 a store
could not be pulled, a write's outcome is still unknown, or the ledger failed; 2 the
configuration is invalid.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from . import __version__
from .config import Settings, load_settings, resolve_token
from .cycle import CycleReport
from .errors import ConfigError, LedgerError
from .http import SystemClock
from .observability import configure_logging
from .service import reconcile_once

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Multi-store inventory sync.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _State:
    config: Path | None = None
    log_level: str = "info"


@app.callback()
def _root(
    config: Annotated[Path | None, typer.Option("--config", "-c", envvar="SYNCD_CONFIG",
                                               help="TOML config (default config/syncd.toml).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    _State.config, _State.log_level = config, log_level


def _settings() -> Settings:
    try:
        settings = load_settings(_State.config)
        secrets = [resolve_token(s).get_secret_value() for s in settings.enabled_stores]
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    configure_logging(secrets, level=_State.log_level)
    return settings


@app.command()
def reconcile(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read everything, write nothing; print the plan.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary.")] = False,
) -> None:
    """Run one cycle (pull every store, reconcile, push) and exit with its status."""
    settings = _settings()
    try:
        report = asyncio.run(reconcile_once(settings, SystemClock(), dry_run=dry_run))
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except (LedgerError, SQLAlchemyError) as exc:
        err.print(f"[bold red]ledger error:[/] {type(exc).__name__}: {str(exc).splitlines()[0]}", highlight=False)
        raise typer.Exit(1) from None
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
        code = asyncio.run(Daemon(settings).serve())
    except (LedgerError, SQLAlchemyError) as exc:
        err.print(f"[bold red]ledger error:[/] {type(exc).__name__}: {str(exc).splitlines()[0]}", highlight=False)
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"[bold red]cannot serve on {settings.daemon.listen}:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print syncd's version."""
    print(__version__)


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
