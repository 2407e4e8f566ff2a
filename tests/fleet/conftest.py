"""Fleet tests need PostgreSQL (SYNCD_TEST_PG_URL); each starts from an empty database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        if os.environ.get("SYNCD_REQUIRE_PG") == "1":
            pytest.fail("SYNCD_REQUIRE_PG=1 but SYNCD_TEST_PG_URL is not set")
        pytest.skip("fleet tests need PostgreSQL: SYNCD_TEST_PG_URL (set by .ci/run)")
    _empty(PG_URL)
    yield PG_URL
    _empty(PG_URL)  # the other PostgreSQL tests expect the ledger's tables alone


def _empty(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:  # every pool schema, Procrastinate's objects and the ledger's tables
        for (schema,) in conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pool\\_%'")):
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
