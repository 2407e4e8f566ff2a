"""Shared fixtures: structlog reset, a fake clock, ledgers on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy import Engine, text

from syncd.ledger import Ledger, make_engine, upgrade
from syncd.ledger.tables import metadata
from syncd.testing import FakeClock

PG_URL = os.environ.get("SYNCD_TEST_PG_URL")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _clean_pg(engine: Engine) -> None:
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty ledger database URL: an SQLite file, or the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if not PG_URL:
        if os.environ.get("SYNCD_REQUIRE_PG") == "1":
            pytest.fail("SYNCD_REQUIRE_PG=1 but SYNCD_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL tests need SYNCD_TEST_PG_URL (set by .ci/run)")
    engine = make_engine(PG_URL)
    _clean_pg(engine)
    engine.dispose()
    yield PG_URL


@pytest.fixture
def engine(ledger_url: str) -> Iterator[Engine]:
    eng = make_engine(ledger_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Ledger:
    return Ledger(engine)
