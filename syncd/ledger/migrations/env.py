"""Alembic environment: migrations run on the connection syncd hands over."""

from __future__ import annotations

from alembic import context

from syncd.ledger.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - syncd always passes its own connection
    raise RuntimeError("run migrations through syncd.ledger.engine.upgrade(engine)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
