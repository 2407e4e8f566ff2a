# ruff: noqa: F811 (the pool fixture is imported from the Squarespace cycle tests)
"""The circuit breaker: a failing store is skipped after N failed cycles, retried after a
short probe that doubles with each failed retry (up to the cooldown), closed by a success,
by `syncd stores reset NAME`, or tried at once by `syncd reconcile --store NAME`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from syncd.cli import app
from syncd.ledger import Breaker, StoreHealth
from tests.cycle.test_squarespace_cycle import RETRY, pool, run  # noqa: F401

NOW = datetime(2026, 11, 30, tzinfo=UTC)
BREAKER = {"circuit_failures": 3, "circuit_cooldown_seconds": 600, "circuit_probe_seconds": 30}


def test_the_probe_doubles_with_each_failed_retry_up_to_the_cooldown():
    breaker = Breaker(failures=3, cooldown=timedelta(seconds=600), probe=timedelta(seconds=30))
    health, waits = None, []
    for _ in range(9):
        health = breaker.after(health, "s", "HTTP 503", NOW)
        waits.append(None if health.open_until is None else (health.open_until - NOW).total_seconds())
    assert waits == [None, None, 30, 60, 120, 240, 480, 600, 600]
    closed = breaker.after(health, "s", None, NOW)
    assert closed.open_until is None and closed.consecutive_failures == 0 and closed.last_success_at == NOW
    assert breaker.is_open(health, NOW + timedelta(seconds=599)) and not breaker.is_open(health, NOW + timedelta(600))
    assert not breaker.is_open(StoreHealth("s"), NOW)


async def test_a_store_back_within_a_minute_is_synced_within_a_minute(pool, engine, clock):
    await run(pool, engine, clock)
    pool["east"].faults.add("GET", "/1.0/commerce/inventory", "status", status=503, times=1000)
    for _ in range(3):
        assert (await run(pool, engine, clock, **BREAKER)).failed.keys() == {"east"}
    pool["east"].faults.clear()  # back
    pool["north"].sell("OIL", 2)
    assert "circuit open" in (await run(pool, engine, clock, **BREAKER)).failed["east"]
    clock.advance(31)  # the half-open probe: one cycle tries it again
    report = await run(pool, engine, clock, **BREAKER)
    assert report.exit_code == 0 and pool["east"].quantity("OIL") == 8


async def test_reconcile_store_tries_a_store_whose_circuit_is_open(pool, engine, clock, monkeypatch):
    await run(pool, engine, clock)
    pool["east"].faults.add("GET", "/1.0/commerce/inventory", "status", status=503, times=1000)
    for _ in range(3):
        await run(pool, engine, clock, **BREAKER)
    pool["east"].faults.clear()
    pool["north"].sell("OIL", 1)
    assert "circuit open" in (await run(pool, engine, clock, **BREAKER)).failed["east"]
    from syncd.service import reconcile_once

    settings = pool.settings(engine.url.render_as_string(hide_password=False), **BREAKER)
    forced = await reconcile_once(settings, clock, retry=RETRY, engine=engine, transports=pool.transports(),
                                  force=["east"])
    assert forced.exit_code == 0 and pool["east"].quantity("OIL") == 9


async def test_stores_reset_closes_the_circuit(pool, engine, clock, tmp_path: Path):
    await run(pool, engine, clock)
    pool["east"].faults.add("GET", "/1.0/commerce/inventory", "status", status=503, times=1000)
    for _ in range(3):
        await run(pool, engine, clock, **BREAKER)
    url = engine.url.render_as_string(hide_password=False)
    config = tmp_path / "c.toml"
    config.write_text(f'[ledger]\nurl = "{url}"\n' + "".join(
        f'[[stores]]\nname = "{n}"\nplatform = "squarespace"\ntoken_env = "UNUSED"\n' for n in pool.sims))
    status = json.loads(CliRunner().invoke(app, ["--config", str(config), "status", "--json"]).output)
    assert status["stores"]["east"]["circuit_open_until"] is not None
    result = CliRunner().invoke(app, ["--config", str(config), "stores", "reset", "east"])
    assert result.exit_code == 0 and "circuit closed" in result.output
    status = json.loads(CliRunner().invoke(app, ["--config", str(config), "status", "--json"]).output)
    assert status["stores"]["east"]["circuit_open_until"] is None
    assert CliRunner().invoke(app, ["--config", str(config), "stores", "reset", "nope"]).exit_code == 2


def test_reconcile_store_refuses_an_unknown_store(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[[stores]]\nname = "a"\nplatform = "squarespace"\ntoken_env = "TOK"\n')
    result = CliRunner().invoke(app, ["--config", str(config), "reconcile", "--store", "b"], env={"TOK": "x"})
    assert result.exit_code == 2 and "no enabled store named b" in result.output

