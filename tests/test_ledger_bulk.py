"""Bulk inserts (COPY on PostgreSQL, executemany of tuples on SQLite) store exactly what
SQLAlchemy's ``insert()`` stores, awkward values included, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from syncd.errors import LedgerError
from syncd.ledger import bulk, make_engine, upgrade
from syncd.ledger.tables import CatalogRow, JournalRow, StoreItemRow

ITEM = StoreItemRow.__table__  # type: ignore[attr-defined]
JOURNAL = JournalRow.__table__  # type: ignore[attr-defined]
CATALOG = CatalogRow.__table__  # type: ignore[attr-defined]

AWKWARD = ["plain", "", " spaced ", "tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "NULL",
           "quote'\"", "ünïcødé ✓", "comma,semi;colon", "x" * 255, "%s ? :1 $1"]


def _items(prefix: str) -> list[tuple[str, str, str, int | None, int]]:
    return [(prefix, sku, sku[::-1], None if i % 5 == 0 else (-1) ** i * (2**40 + i), i)
            for i, sku in enumerate(AWKWARD)]


def _read(engine: Engine, store: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ITEM.c.store, ITEM.c.sku, ITEM.c.remote_id, ITEM.c.expected, ITEM.c.updated_cycle)
                            .where(ITEM.c.store == store).order_by(ITEM.c.sku))
        return [tuple(r) for r in rows]


def test_awkward_values_are_stored_as_insert_stores_them(engine: Engine) -> None:
    columns = ("store", "sku", "remote_id", "expected", "updated_cycle")
    with Session(engine) as s, s.begin():
        s.execute(insert(ITEM), [dict(zip(columns, row, strict=True)) for row in _items("by-insert")])
        assert bulk.insert_rows(s, ITEM, columns, _items("by-bulk"), chunk=4) == len(AWKWARD)
    by_insert, by_bulk = _read(engine, "by-insert"), _read(engine, "by-bulk")
    assert len(by_bulk) == len(AWKWARD)
    assert [r[1:] for r in by_bulk] == [r[1:] for r in by_insert]


@pytest.mark.parametrize("when", [datetime(2026, 11, 22, 12, 30, 1, 123456, tzinfo=UTC),
                                  datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))])
def test_timestamps_and_booleans_read_back_as_insert_writes_them(engine: Engine, when: datetime) -> None:
    with Session(engine) as s, s.begin():
        s.execute(insert(JOURNAL), [{"cycle_id": 1, "sku": "A", "store": None, "delta": 3, "reason": "seed",
                                     "created_at": when}])
        bulk.insert_rows(s, JOURNAL, ("cycle_id", "sku", "store", "delta", "reason", "created_at"),
                         [(2, "A", None, 3, "seed", when)])
        s.execute(insert(CATALOG), [{"store": "i", "ref": "r", "sku": None, "tracked": False, "refreshed_at": when}])
        bulk.insert_rows(s, CATALOG, ("store", "ref", "sku", "tracked", "refreshed_at"),
                         [("b", "r", None, False, when), ("b", "t", "T", True, when)])
    with engine.connect() as conn:
        journal = conn.execute(select(JOURNAL.c.cycle_id, JOURNAL.c.store, JOURNAL.c.created_at)
                               .order_by(JOURNAL.c.cycle_id)).all()
        catalog = conn.execute(select(CATALOG.c.store, CATALOG.c.ref, CATALOG.c.sku, CATALOG.c.tracked,
                                      CATALOG.c.refreshed_at).order_by(CATALOG.c.store, CATALOG.c.ref)).all()
    assert journal[0][1:] == journal[1][1:]
    stamp = journal[0][2]
    assert [tuple(r) for r in catalog] == [("b", "r", None, False, stamp), ("b", "t", "T", True, stamp),
                                           ("i", "r", None, False, stamp)]


def test_no_rows_sends_nothing_and_a_failure_rolls_back_with_the_transaction(engine: Engine) -> None:
    columns = ("store", "sku", "remote_id", "expected", "updated_cycle")
    statements: list[str] = []
    with Session(engine) as s, s.begin():
        s.connection()  # begin first, so only the insert itself could be counted
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        assert bulk.insert_rows(s, ITEM, columns, iter(())) == 0
    assert statements == []
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
        bulk.insert_rows(s, ITEM, columns, [("s", "A", "a", 1, 1)])
        bulk.insert_rows(s, ITEM, columns, [("s", "B", "b", 1, 1), ("s", "A", "a2", 1, 1)])  # primary key again
    assert _read(engine, "s") == []


def test_a_driver_whose_placeholders_it_cannot_write_is_refused_by_name(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    monkeypatch.setattr(bulk, "_PLACEHOLDER", {})
    with pytest.raises(LedgerError, match="does not support the sqlite driver"), Session(engine) as s, s.begin():
        bulk.insert_rows(s, ITEM, ("store", "sku", "remote_id", "expected", "updated_cycle"), [("s", "A", "a", 1, 1)])
    assert _read(engine, "s") == []
    engine.dispose()
