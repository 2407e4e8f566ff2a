"""The fleet's commands: ``syncd pools add | list | show | disable | enable | remove``,
``syncd worker``, ``syncd fleet status``; and what ``--pool NAME`` means to the single-pool
commands (the pool's settings and its ledger's engine)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from .cli_common import State, err, exit_codes, out
from .cli_common import settings as load
from .config import Settings, resolve_token
from .errors import ConfigError, ListenError
from .http import SystemClock
from .observability import configure_logging

__all__ = ["fleet_app", "pool_engine_for", "pool_settings_for", "pools_app", "worker"]

pools_app = typer.Typer(no_args_is_help=True, help="A fleet's pools: many merchants' stores on one PostgreSQL.")
fleet_app = typer.Typer(no_args_is_help=True, help="The fleet as a whole.")


def _fleet_engine(main: Settings) -> Engine:
    from .fleet.pools import fleet_engine

    with exit_codes():
        return fleet_engine(main)


def pool_settings_for(main: Settings, pool: str, *, tokens: bool = False) -> Settings:
    """The settings of ``pool`` (``default``: the main configuration itself). ``tokens``:
    also read the pool's tokens now (a missing one is exit 2) and redact them from the logs."""
    if pool == "default":
        return main
    from .fleet.pools import check_name, get_pool, pool_settings

    with exit_codes():
        check_name(pool)
        found = get_pool(_fleet_engine(main), pool)
        if found is None:
            raise ConfigError(f"no pool named {pool!r} (syncd pools list)")
        settings = pool_settings(main, found.config)
        if tokens:
            configure_logging([resolve_token(s).get_secret_value() for s in settings.enabled_stores],
                              level=State.log_level)
        return settings


def pool_engine_for(settings: Settings, pool: str) -> Engine | None:
    """The engine of a pool's ledger (None for ``default``: the configured ledger as ever)."""
    if pool == "default":
        return None
    from .fleet.pools import pool_engine

    with exit_codes():
        return pool_engine(settings, pool)


@pools_app.command("add")
def pools_add(
    name: Annotated[str, typer.Argument(help="The pool's name: a-z, 0-9, _.")],
    file: Annotated[Path, typer.Argument(help="A pool file: [sync] and [[stores]], tokens as references.")],
    replace: Annotated[bool, typer.Option("--replace", help="Update an existing pool.")] = False,
) -> None:
    """Register a pool (its ledger is a schema of its own, created at its first cycle)."""
    from .fleet.pools import add_pool, read_pool_file

    main = load(tokens=False)
    with exit_codes():
        config = read_pool_file(main, file)
        pool = add_pool(_fleet_engine(main), name, config, SystemClock().wall(), replace=replace)
    out.print(f"pool {pool.name}: {len(config['stores'])} store(s), a full cycle every {pool.interval_seconds}s; "
              "due now")


@pools_app.command("list")
def pools_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every pool: enabled, stores, interval, last cycle and its outcome, next run."""
    from .fleet.pools import list_pools

    pools = list_pools(_fleet_engine(load(tokens=False)))
    rows: list[dict[str, Any]] = [
        {"name": p.name, "enabled": p.enabled, "stores": [s["name"] for s in p.config["stores"]],
             "interval_seconds": p.interval_seconds, "next_run_at": p.next_run_at.isoformat(),
             "last_finished_at": p.last_finished_at.isoformat() if p.last_finished_at else None,
             "last_outcome": p.last_outcome, "last_error": p.last_error} for p in pools]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} pool(s)")
    for col in ("pool", "enabled", "stores", "interval", "last finished", "outcome", "next run"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], "yes" if r["enabled"] else "no", ", ".join(r["stores"]), f"{r['interval_seconds']}s",
                      r["last_finished_at"] or "never", r["last_outcome"] or "—", r["next_run_at"])
    out.print(table)


@pools_app.command("show")
def pools_show(name: Annotated[str, typer.Argument()]) -> None:
    """One pool's configuration (as stored: tokens are references) and schedule, as JSON."""
    from .fleet.pools import get_pool

    pool = get_pool(_fleet_engine(load(tokens=False)), name)
    if pool is None:
        err.print(f"[bold red]no pool named {name!r}[/]", highlight=False)
        raise typer.Exit(1)
    print(json.dumps({"name": pool.name, "enabled": pool.enabled, "config": pool.config,
                      "interval_seconds": pool.interval_seconds, "next_run_at": pool.next_run_at.isoformat(),
                      "last_outcome": pool.last_outcome, "last_error": pool.last_error}, indent=2))


def _set_enabled(name: str, enabled: bool) -> None:
    from .fleet.pools import set_enabled

    if not set_enabled(_fleet_engine(load(tokens=False)), name, enabled, SystemClock().wall()):
        err.print(f"[bold red]no pool named {name!r}[/]", highlight=False)
        raise typer.Exit(1)
    out.print(f"pool {name}: {'enabled' if enabled else 'disabled (no new cycle is queued)'}")


@pools_app.command("disable")
def pools_disable(name: Annotated[str, typer.Argument()]) -> None:
    """Stop queueing the pool's cycles (a cycle in flight finishes)."""
    _set_enabled(name, False)


@pools_app.command("enable")
def pools_enable(name: Annotated[str, typer.Argument()]) -> None:
    """Queue the pool's cycles again, the first at once."""
    _set_enabled(name, True)


@pools_app.command("remove")
def pools_remove(name: Annotated[str, typer.Argument()]) -> None:
    """Forget a pool; its ledger (schema pool_NAME) is kept for an audit or a return."""
    from .fleet.pools import remove_pool, schema_of

    if not remove_pool(_fleet_engine(load(tokens=False)), name):
        err.print(f"[bold red]no pool named {name!r}[/]", highlight=False)
        raise typer.Exit(1)
    out.print(f"pool {name} removed; its ledger stays in schema {schema_of(name) or 'public'}")


@fleet_app.command("status")
def fleet_status_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Pools due, running, late and failing; the oldest lag; the most-lagging pools."""
    from .fleet.status import fleet_status

    main = load(tokens=False)
    status = fleet_status(_fleet_engine(main), SystemClock().wall(), main.fleet.lagging_pools)
    if as_json:
        print(json.dumps(status.as_json(), indent=2))
        return
    c = status.counts
    out.print(f"{c['pools']} pool(s), {c['enabled']} enabled: {c['due']} due, {c['running']} running, "
              f"{c['late']} late, {c['failing']} failing; oldest lag "
              f"{'—' if status.oldest_lag is None else f'{status.oldest_lag:.0f}s'}")
    for pool, error in status.failing:
        out.print(f"  [red]✗[/] {pool}: {error}", highlight=False)


def worker() -> None:
    """Run pool cycles from the fleet's queue until SIGTERM (the cycles in flight finish)."""
    from .fleet.serve import run_worker

    main = load(tokens=False)
    try:
        with exit_codes():
            if not main.ledger.url.startswith("postgresql"):
                raise ConfigError("syncd worker needs a PostgreSQL ledger ([ledger] url or SYNCD_LEDGER__URL)")
            code = asyncio.run(run_worker(main))
    except ListenError as exc:
        err.print(f"[bold red]{exc}[/]", highlight=False)
        raise typer.Exit(3) from None
    raise typer.Exit(code)
