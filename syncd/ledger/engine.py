"""Engine creation and schema migrations (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import weakref
import zlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from ..errors import LedgerError

__all__ = ["LOCK_KEYS", "is_memory_sqlite", "make_engine", "schema_exists", "sqlite_path", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_RE = re.compile(r"pool_[a-z0-9_]{1,40}")
LOCK_KEYS: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()  # engine → its pool's lock key


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL, or None (in-memory or not SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and sqlite_path(url) is None


def make_engine(url: str, schema: str | None = None, **engine_kwargs: Any) -> Engine:
    """An engine for the ledger URL. SQLite gets a busy timeout and WAL; an in-memory
    SQLite database is one shared connection so every session sees the same data.
    ``schema`` (PostgreSQL): the ledger lives in that schema (a fleet's pool): it is
    created if missing, every connection's ``search_path`` is that schema alone, and the
    cycle lock's key is the pool's own."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise LedgerError(f"ledger.url is not a valid database URL: {exc}") from None
    kwargs: dict[str, Any] = dict(engine_kwargs)
    if schema is not None:
        if parsed.get_backend_name() != "postgresql":
            raise LedgerError("pools other than 'default' need a PostgreSQL ledger")
        if not SCHEMA_RE.fullmatch(schema):
            raise LedgerError(f"{schema!r} is not a schema name syncd makes")
        bootstrap = create_engine(url)
        with bootstrap.begin() as conn:  # two workers at once: CREATE SCHEMA IF NOT EXISTS can race
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        bootstrap.dispose()
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    if parsed.get_backend_name() == "sqlite":
        if is_memory_sqlite(url):
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            kwargs = {"connect_args": {"timeout": 30}}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if schema is not None:
        LOCK_KEYS[engine] = 0x5359_0000_0000 | zlib.crc32(schema.encode())  # each pool's own cycle lock
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


MIGRATION_LOCK_KEY = 0x5359_4E44  # replicas starting together migrate one at a time


def upgrade(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration, one process at a time (a
    transaction-scoped advisory lock on PostgreSQL, a lock file beside an SQLite file)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    path = sqlite_path(str(engine.url))
    with contextlib.ExitStack() as stack:
        if path is not None:
            fd = os.open(path.with_name(path.name + ".migrate.lock"), os.O_RDWR | os.O_CREAT, 0o600)
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def schema_exists(engine: Engine) -> bool:
    return inspect(engine).has_table("sku")
