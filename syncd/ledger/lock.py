"""One cycle at a time per ledger: a PostgreSQL advisory lock, or a lock file beside
the SQLite database (SQLite's own locking on one host)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import Engine, text

from ..errors import LockNotHeld
from .engine import LOCK_KEYS, sqlite_path

__all__ = ["LOCK_KEY", "cycle_lock"]

LOCK_KEY = 0x5359_4E43  # "SYNC": the advisory lock id every syncd replica agrees on


@contextlib.asynccontextmanager
async def cycle_lock(engine: Engine, url: str, timeout: float, poll: float = 0.2) -> AsyncIterator[None]:
    """Hold the ledger's cycle lock for the body; wait up to ``timeout`` seconds for it.

    Raises ``LockNotHeld`` when another cycle keeps it longer than that.
    """
    if engine.dialect.name == "postgresql":
        async with _pg_lock(engine, timeout, poll, LOCK_KEYS.get(engine, LOCK_KEY)):
            yield
        return
    path = sqlite_path(url)
    if path is None:
        yield  # in-memory SQLite: private to this process
        return
    async with _file_lock(path.with_name(path.name + ".lock"), timeout, poll):
        yield


@contextlib.asynccontextmanager
async def _pg_lock(engine: Engine, timeout: float, poll: float, key: int) -> AsyncIterator[None]:
    conn = engine.connect()
    try:
        waited = 0.0
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            conn.rollback()
            if waited >= timeout:
                raise LockNotHeld(f"another syncd cycle holds the ledger lock (waited {timeout:g}s)")
            await asyncio.sleep(poll)
            waited += poll
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def _file_lock(path: Path, timeout: float, poll: float) -> AsyncIterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited >= timeout:
                    raise LockNotHeld(
                        f"another syncd cycle holds the ledger lock {path} (waited {timeout:g}s)"
                    ) from None
                await asyncio.sleep(poll)
                waited += poll
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
