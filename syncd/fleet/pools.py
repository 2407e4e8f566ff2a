"""Pools: today's configuration ([sync] and [[stores]]) under a name, many of them on one
PostgreSQL database.

Each pool's ledger is a schema of its own (``pool_<name>``), the same tables as a
single-pool ledger, migrated by the same Alembic chain; the pool ``default`` is the
ledger in the database's default schema, the one a single-pool syncd has always used,
so an existing ledger becomes the fleet's first pool without moving a row. Why a schema
per pool rather than a pool key on every table: every query, index, lock and the
fencing epoch stay exactly as proven for one pool (nothing to forget a ``WHERE pool =``
on); a pool's data is dropped or dumped on its own; PostgreSQL handles thousands of
schemas. The cost: a migration runs once per pool (a worker migrates a pool's schema the
first time it cycles it, under the migration lock).

The registry (``fleet_pool``, in the default schema) holds each pool's configuration as
validated JSON and its schedule. Tokens and secrets stay references (``token_env``,
``token_file``, a credentials directory): a pool file with a token value is refused by
the same validation as the main configuration.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from ..config import Settings, _explain
from ..errors import ConfigError
from ..ledger import make_engine, upgrade
from ..ledger.tables import FleetPoolRow

__all__ = ["DEFAULT", "Pool", "add_pool", "get_pool", "list_pools", "pool_engine", "pool_settings",
           "read_pool_file", "remove_pool", "schema_of", "set_enabled", "sync_default"]

DEFAULT = "default"
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
POOL = FleetPoolRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    config: dict[str, Any]  # {"sync": {...}, "stores": [...]}, validated
    enabled: bool
    interval_seconds: int
    next_run_at: datetime
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: str | None = None
    last_error: str | None = None


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"pool name {name!r}: lower-case letters, digits and _, starting with a letter (≤ 40)")
    return name


def schema_of(name: str) -> str | None:
    """The pool's PostgreSQL schema (None: the default schema, for the pool ``default``)."""
    return None if name == DEFAULT else f"pool_{check_name(name)}"


def pool_settings(main: Settings, config: dict[str, Any]) -> Settings:
    """The settings a pool's cycle runs with: the fleet's ledger and daemon, the pool's
    [sync] and [[stores]]."""
    return Settings(ledger=main.ledger, daemon=main.daemon, sync=config.get("sync", {}), stores=config["stores"])


def read_pool_file(main: Settings, path: Path) -> dict[str, Any]:
    """A pool file: [sync] and [[stores]] as in the main configuration, nothing else;
    validated; returned as the JSON the registry keeps."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"pool file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"pool file {path} cannot be read: {exc}") from None
    extra = sorted(set(data) - {"sync", "stores"})
    if extra:
        raise ConfigError(f"pool file {path}: only [sync] and [[stores]] belong in a pool ([ledger], [daemon] and "
                          f"[fleet] are the fleet's); found {', '.join(extra)}")
    try:
        settings = Settings(ledger=main.ledger, sync=data.get("sync", {}), stores=data.get("stores", []))
    except ValidationError as exc:
        raise ConfigError(f"pool file {path} is invalid:\n{_explain(exc, data)}") from None
    return {"sync": settings.sync.model_dump(mode="json", exclude_defaults=True),
            "stores": [s.model_dump(mode="json", exclude_defaults=True) for s in settings.stores]}


def _default_config(main: Settings) -> dict[str, Any]:
    return {"sync": main.sync.model_dump(mode="json", exclude_defaults=True),
            "stores": [s.model_dump(mode="json", exclude_defaults=True) for s in main.stores]}


def fleet_engine(main: Settings) -> Engine:
    """The fleet's own schema (the registry, and the pool ``default``), migrated."""
    if not main.ledger.url.startswith("postgresql"):
        raise ConfigError("a fleet needs a PostgreSQL ledger ([ledger] url = \"postgresql+psycopg://…\")")
    engine = make_engine(main.ledger.url)
    upgrade(engine)
    return engine


def pool_engine(main: Settings, name: str, **kwargs: Any) -> Engine:
    """The engine of a pool's ledger (its schema created if missing; migrate with ``upgrade``)."""
    return make_engine(main.ledger.url, schema_of(name), **kwargs)


def _row(r: Any) -> Pool:
    return Pool(r.name, json.loads(r.config), r.enabled, r.interval_seconds, r.next_run_at, r.last_started_at,
                r.last_finished_at, r.last_outcome, r.last_error)


def add_pool(engine: Engine, name: str, config: dict[str, Any], now: datetime, *, replace: bool = False) -> Pool:
    """Register (or with ``replace``, update) a pool; it is due at once."""
    check_name(name)
    interval = int(config.get("sync", {}).get("interval_seconds", 300))
    values = {"config": json.dumps(config, sort_keys=True), "interval_seconds": interval}
    with Session(engine) as s, s.begin():
        exists = s.execute(select(POOL.c.name).where(POOL.c.name == name)).first() is not None
        if exists and not replace:
            raise ConfigError(f"pool {name!r} exists already (pools add --replace updates it)")
        if exists:
            s.execute(update(POOL).where(POOL.c.name == name).values(**values))
        else:
            s.execute(insert(POOL).values(name=name, enabled=True, next_run_at=now, created_at=now, **values))
    pool = get_pool(engine, name)
    assert pool is not None
    return pool


def sync_default(engine: Engine, main: Settings, now: datetime) -> None:
    """The main configuration's [[stores]], if any, are the pool ``default``."""
    if main.stores:
        add_pool(engine, DEFAULT, _default_config(main), now, replace=True)


def get_pool(engine: Engine, name: str) -> Pool | None:
    with Session(engine) as s:
        row = s.execute(select(POOL).where(POOL.c.name == name)).first()
    return _row(row) if row is not None else None


def list_pools(engine: Engine) -> list[Pool]:
    with Session(engine) as s:
        return [_row(r) for r in s.execute(select(POOL).order_by(POOL.c.name))]


def set_enabled(engine: Engine, name: str, enabled: bool, now: datetime) -> bool:
    with Session(engine) as s, s.begin():
        done = s.execute(update(POOL).where(POOL.c.name == name).values(enabled=enabled, next_run_at=now))
        return bool(done.rowcount)  # type: ignore[attr-defined]


def remove_pool(engine: Engine, name: str) -> bool:
    """Forget the pool (its schema and ledger stay, for an audit or a return)."""
    with Session(engine) as s, s.begin():
        return bool(s.execute(delete(POOL).where(POOL.c.name == name)).rowcount)  # type: ignore[attr-defined]


def mark_started(engine: Engine, name: str, now: datetime, interval: int) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(POOL).where(POOL.c.name == name).values(
            last_started_at=now, next_run_at=now + timedelta(seconds=interval)))


def mark_finished(engine: Engine, name: str, now: datetime, outcome: str, error: str | None) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(POOL).where(POOL.c.name == name).values(
            last_finished_at=now, last_outcome=outcome, last_error=None if error is None else error[:2000]))


def due_pools(engine: Engine, now: datetime, limit: int = 10_000) -> list[str]:
    with Session(engine) as s:
        q = select(POOL.c.name).where(POOL.c.enabled, POOL.c.next_run_at <= now).order_by(POOL.c.next_run_at)
        return [r.name for r in s.execute(q.limit(limit))]
