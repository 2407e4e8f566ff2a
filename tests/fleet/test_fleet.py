"""The fleet on real PostgreSQL: pools in schemas of their own, cycles queued and run by
Procrastinate workers, never two at once for one pool, the ledger's lock the last word,
an existing single-pool ledger kept as the pool ``default``."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from syncd.cli import app
from syncd.config import Settings
from syncd.fleet.pools import add_pool, fleet_engine, get_pool, list_pools, pool_engine, sync_default
from syncd.fleet.status import fleet_status
from syncd.fleet.worker import Fleet
from syncd.ledger import Ledger
from syncd.ledger.tables import CycleRow
from syncd.service import reconcile_once
from syncd.testing import FakeClock
from syncd.testing.pool import Pool
from tests.helpers import assert_conserved

pytestmark = pytest.mark.pg
STOCK = {"JAM": 9, "TEA": 4}


def pool_toml(pool: Pool, interval: int = 60) -> str:
    stores = "".join(f'\n[[stores]]\nname = "{n}"\nplatform = "{pool.platforms[n]}"\n'
                     f'token_env = "{pool.token_env(n)}"\nbase_url = "http://{n}.sim.invalid"\n'
                     + (f'store_hash = "{pool[n].store_hash}"\napply_lag_seconds = 0\n'
                        if pool.platforms[n] == "bigcommerce" else "")
                     for n in pool.sims)
    return f"[sync]\ninterval_seconds = {interval}\n{stores}"


def main_settings(url: str, **fleet: Any) -> Settings:
    return Settings(ledger={"url": url}, fleet=fleet or {"concurrency": 2})


def make_pools(n: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> dict[str, Pool]:
    engine = fleet_engine(main_settings(url))
    pools = {}
    for i in range(n):
        name = f"shop_{i}"
        pool = Pool({f"{name}_sq": ("squarespace", {k: v + i for k, v in STOCK.items()}),
                     f"{name}_bc": ("bigcommerce", STOCK)})
        for k, v in pool.env().items():
            monkeypatch.setenv(k, v)
        (tmp_path / f"{name}.toml").write_text(pool_toml(pool))
        from syncd.fleet.pools import read_pool_file

        add_pool(engine, name, read_pool_file(main_settings(url), tmp_path / f"{name}.toml"), FakeClock().wall())
        pools[name] = pool
    engine.dispose()
    return pools


def transports(pools: dict[str, Pool], delay: float = 0.0) -> dict[str, dict[str, httpx.AsyncBaseTransport]]:
    class Slow(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.method != "GET":
                await asyncio.sleep(delay)
            return await self.inner.handle_async_request(request)

    return {name: {s: Slow(t) for s, t in pool.transports().items()} for name, pool in pools.items()}


async def run_worker(fleet: Fleet, concurrency: int = 2) -> None:
    await fleet.app.run_worker_async(queues=["cycles"], wait=False, concurrency=concurrency,
                                     install_signal_handlers=False)


def converged(pool: Pool, sku: str) -> int:
    values = set(pool.quantities(sku).values())
    assert len(values) == 1, pool.quantities(sku)
    return values.pop()


async def test_due_pools_are_queued_once_and_run_by_a_worker(pg_url, monkeypatch, tmp_path):
    pools = make_pools(3, monkeypatch, tmp_path, pg_url)
    fleet = Fleet(main_settings(pg_url), clock=FakeClock(), transports=transports(pools))
    async with fleet.app.open_async():
        await fleet.install()
        await fleet.install()  # a second worker starting: nothing to do
        await fleet.schedule()
        assert not await fleet.enqueue("shop_0")  # queued already: the queueing lock
        await run_worker(fleet)
        for name, pool in pools.items():
            assert converged(pool, "JAM") == 9 and get_pool(fleet.engine, name).last_outcome == "ok"
        status = fleet_status(fleet.engine, fleet.clock.wall())
        assert status.counts == {"pools": 3, "enabled": 3, "due": 0, "late": 0, "failing": 0, "running": 0}
        pools["shop_1"]["shop_1_sq"].sell("JAM", 2)
        fleet.clock.advance(61)  # the pools' interval
        await fleet.schedule()
        await run_worker(fleet)
        assert converged(pools["shop_1"], "JAM") == 7 and converged(pools["shop_0"], "JAM") == 9
    # each pool's ledger is its own schema; the conservation rule holds in each
    for name in pools:
        engine = pool_engine(main_settings(pg_url), name)
        assert_conserved(Ledger(engine))
        engine.dispose()
    fleet.close()


@pytest.mark.parametrize("procrastinate_lock", [True, False])
async def test_two_workers_never_run_one_pool_at_once(pg_url, monkeypatch, tmp_path, procrastinate_lock):
    """The race forced: two jobs for one pool (the queueing lock bypassed), two workers, each
    write slowed. With Procrastinate's lock the cycles run one after the other; without it,
    the ledger's own lock (an advisory lock per pool) lets one run and the other skips."""
    pools = make_pools(1, monkeypatch, tmp_path, pg_url)
    one = Fleet(main_settings(pg_url, concurrency=1), clock=FakeClock(), transports=transports(pools, delay=0.3))
    two = Fleet(main_settings(pg_url, concurrency=1), clock=FakeClock(), transports=transports(pools, delay=0.3))
    async with one.app.open_async(), two.app.open_async():
        await one.install()
        lock = {"lock": "pool:shop_0"} if procrastinate_lock else {}
        for _ in range(2):
            await one.pool_cycle.configure(**lock).defer_async(pool="shop_0")
        await asyncio.gather(run_worker(one, 1), run_worker(two, 1))
    engine = pool_engine(main_settings(pg_url), "shop_0")
    with engine.connect() as conn:
        cycles = conn.execute(select(CycleRow.__table__).order_by(CycleRow.__table__.c.id)).mappings().all()
    spans = [(c["started_at"], c["finished_at"]) for c in cycles]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans  # never overlapping
    outcomes = tuple(one.metrics.cycles.labels(o)._value.get() + two.metrics.cycles.labels(o)._value.get()
                     for o in ("ok", "skipped_locked", "error"))
    # Without Procrastinate's lock the two usually overlap and the ledger's lock makes one skip;
    # on a loaded machine the second may start after the first ended and simply run.
    assert outcomes in ([(2, 0, 0)] if procrastinate_lock else [(1, 1, 0), (2, 0, 0)]), outcomes
    assert_conserved(Ledger(engine))
    assert all(n == 1 for n in pools["shop_0"]["shop_0_sq"].applied_keys.values())
    engine.dispose()
    one.close()
    two.close()


async def test_a_single_pool_ledger_becomes_the_pool_default_with_its_data(pg_url, monkeypatch, tmp_path):
    """An existing ledger (migrated up to before the fleet) keeps every row: the pool
    ``default`` continues its journal, nothing is seeded again."""
    pool = Pool({"sq": ("squarespace", STOCK), "bc": ("bigcommerce", STOCK)})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    clock = FakeClock()
    single = pool.settings(pg_url, store_options={"bc": {"apply_lag_seconds": 0}})
    await reconcile_once(single, clock, transports=pool.transports())
    pool["sq"].sell("JAM", 3)
    await reconcile_once(single, clock, transports=pool.transports())
    engine = fleet_engine(main_settings(pg_url))
    from alembic import command
    from alembic.config import Config

    from syncd.ledger.engine import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:  # back to the schema before the fleet (0007)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    before = Ledger(engine).journal_totals()
    main = Settings(ledger={"url": pg_url}, fleet={}, sync=single.sync, stores=single.stores)
    engine = fleet_engine(main)  # migrates to head
    sync_default(engine, main, clock.wall())
    assert [p.name for p in list_pools(engine)] == ["default"]
    pool["bc"].sell("TEA", 1)
    fleet = Fleet(main, clock=clock, transports={"default": pool.transports()})
    assert await fleet.run_cycle("default") == "ok"
    after = Ledger(engine).journal_totals()
    assert after == {"JAM": before["JAM"], "TEA": before["TEA"] - 1}
    with engine.connect() as conn:
        seeds = conn.execute(text("SELECT count(*) FROM journal WHERE reason LIKE 'seed%'")).scalar()
    assert seeds == 2 and converged(pool, "TEA") == 3
    fleet.close()
    engine.dispose()


def test_pools_commands(pg_url, monkeypatch, tmp_path):
    pool = Pool({"sq": ("squarespace", STOCK)})
    config = tmp_path / "fleet.toml"
    config.write_text(f'[ledger]\nurl = "{pg_url}"\n[fleet]\nconcurrency = 2\n')
    good = tmp_path / "acme.toml"
    good.write_text(pool_toml(pool))
    run = CliRunner().invoke
    added = run(app, ["--config", str(config), "pools", "add", "acme", str(good)])
    assert added.exit_code == 0, added.output
    assert run(app, ["--config", str(config), "pools", "add", "acme", str(good)]).exit_code == 2  # exists
    assert run(app, ["--config", str(config), "pools", "add", "acme", str(good), "--replace"]).exit_code == 0
    leaky = tmp_path / "leaky.toml"
    leaky.write_text(pool_toml(pool).replace('token_env = "', 'token = "s3cr3t-value"\ntoken_env = "'))
    refused = run(app, ["--config", str(config), "pools", "add", "leaky", str(leaky)])
    assert refused.exit_code == 2 and "s3cr3t-value" not in refused.output
    ledger = tmp_path / "ledgered.toml"
    ledger.write_text('[ledger]\nurl = "sqlite://"\n' + pool_toml(pool))
    assert run(app, ["--config", str(config), "pools", "add", "other", str(ledger)]).exit_code == 2
    listed = json.loads(run(app, ["--config", str(config), "pools", "list", "--json"]).output)
    assert [(p["name"], p["enabled"], p["stores"]) for p in listed] == [("acme", True, ["sq"])]
    shown = json.loads(run(app, ["--config", str(config), "pools", "show", "acme"]).output)
    assert shown["config"]["stores"][0]["token_env"] == pool.token_env("sq")
    assert run(app, ["--config", str(config), "pools", "disable", "acme"]).exit_code == 0
    status = json.loads(run(app, ["--config", str(config), "fleet", "status", "--json"]).output)
    assert status["counts"]["enabled"] == 0
    assert run(app, ["--config", str(config), "pools", "remove", "acme"]).exit_code == 0
    assert run(app, ["--config", str(config), "pools", "remove", "acme"]).exit_code == 1


async def test_the_single_pool_commands_take_pool(pg_url, monkeypatch, tmp_path):
    pools = make_pools(2, monkeypatch, tmp_path, pg_url)
    fleet = Fleet(main_settings(pg_url), clock=FakeClock(), transports=transports(pools))
    async with fleet.app.open_async():
        await fleet.install()
        await fleet.schedule()
        await run_worker(fleet)
    fleet.close()
    config = tmp_path / "fleet.toml"
    config.write_text(f'[ledger]\nurl = "{pg_url}"\n[fleet]\n')
    run = CliRunner().invoke
    status = run(app, ["--config", str(config), "status", "--json", "--pool", "shop_1"])
    assert status.exit_code == 0, status.output
    assert set(json.loads(status.output)["stores"]) == {"shop_1_sq", "shop_1_bc"}
    exported = json.loads(run(app, ["--config", str(config), "export", "--format", "json", "--pool", "shop_0"]).output)
    assert {r["sku"]: r["available"] for r in exported} == {"JAM": 9, "TEA": 4}
    history = run(app, ["--config", str(config), "history", "JAM", "--json", "--pool", "shop_1"])
    assert json.loads(history.output)["available"] == 9
    assert run(app, ["--config", str(config), "conflicts", "--json", "--pool", "shop_1"]).exit_code == 0
    assert run(app, ["--config", str(config), "status", "--pool", "nope"]).exit_code == 2
    pools["shop_0"]["shop_0_sq"].sell("TEA", 1)  # a one-shot cycle of one pool, outside the workers
    from syncd.cli_fleet import pool_engine_for, pool_settings_for
    from syncd.config import load_settings

    settings = pool_settings_for(load_settings(config), "shop_0")
    report = await reconcile_once(settings, FakeClock(), engine=pool_engine_for(settings, "shop_0"),
                                  transports=pools["shop_0"].transports())
    assert report.exit_code == 0 and converged(pools["shop_0"], "TEA") == 3


async def test_store_events_reach_a_pool_through_any_worker(pg_url, monkeypatch, tmp_path):
    """POST /webhooks/{pool}/{store} on a worker: verified with the pool's store secret, its
    items queued for one targeted job under the pool's lock; forged 401, unknown 404."""
    from starlette.applications import Starlette

    from syncd.fleet.pools import read_pool_file
    from syncd.fleet.serve import _routes
    from syncd.testing.webhooks import signed

    pool = Pool({"sh": ("shopify", STOCK), "sq": ("squarespace", STOCK)})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SHOP_HOOK", "shpss-fleet")
    (tmp_path / "acme.toml").write_text(pool_toml(pool).replace(
        'name = "sh"\nplatform = "shopify"\n', 'name = "sh"\nplatform = "shopify"\nwebhook_secret_env = "SHOP_HOOK"\n'
        'shop = "acme.myshopify.com"\n'))
    main = main_settings(pg_url)
    fleet = Fleet(main, clock=FakeClock(), transports={"acme": pool.transports()})
    add_pool(fleet.engine, "acme", read_pool_file(main, tmp_path / "acme.toml"), fleet.clock.wall())
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=Starlette(routes=_routes(fleet))), base_url="http://w")
    async with fleet.app.open_async():
        await fleet.install()
        await fleet.schedule()
        await run_worker(fleet)  # the first full cycle
        item = Ledger(pool_engine(main, "acme")).load_snapshot().store("sh")["JAM"].remote_id
        pool["sh"].sell("JAM", 2)
        body, headers = signed("shopify", {"inventory_item_id": int(item.rsplit("/", 1)[1])}, "shpss-fleet",
                               topic="inventory_levels/update")
        for _ in range(2):  # a duplicate: the same item, one targeted cycle
            assert (await http.post("/webhooks/acme/sh", content=body, headers=headers)).status_code == 200
        forged, fheaders = signed("shopify", {"inventory_item_id": 1}, "wrong", topic="inventory_levels/update")
        assert (await http.post("/webhooks/acme/sh", content=forged, headers=fheaders)).status_code == 401
        assert (await http.post("/webhooks/acme/sq", content=body, headers=headers)).status_code == 404  # polled
        assert (await http.post("/webhooks/nope/sh", content=body, headers=headers)).status_code == 404
        await run_worker(fleet)
        assert converged(pool, "JAM") == 7
        assert fleet.metrics.targeted_cycles.labels("ok")._value.get() == 1
        assert fleet.metrics.events.labels("invalid")._value.get() == 1
    await http.aclose()
    fleet.close()
