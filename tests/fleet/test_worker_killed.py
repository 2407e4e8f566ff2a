"""A `syncd worker` killed with SIGKILL in the middle of a pool's write: another worker
takes the stalled job over (Procrastinate's heartbeats), settles the interrupted write
(resent under its key: applied once), and the pool is in step within one interval.
Simulators on 127.0.0.1; every wait bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncd.config import Settings
from syncd.fleet.pools import add_pool, fleet_engine, get_pool, pool_engine, read_pool_file
from syncd.ledger import Ledger
from syncd.testing.pool import Pool
from syncd.testing.serve import free_port, serve
from tests.helpers import assert_conserved

pytestmark = pytest.mark.pg


def worker(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "syncd", "--config", str(config), "worker"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **env})


def test_a_killed_workers_pool_resumes_on_another_worker(pg_url, tmp_path):
    pool = Pool({"sq": ("squarespace", {"JAM": 9, "TEA": 4}), "sq2": ("squarespace", {"JAM": 12, "TEA": 4})})
    in_write, release = threading.Event(), threading.Event()

    def hold(sim: object) -> None:  # the first write to sq2 hangs until the worker is dead
        pool["sq2"].before_write.remove(hold)
        in_write.set()
        release.wait(60)

    pool["sq2"].before_write.append(hold)
    with serve(pool["sq"].app) as sq, serve(pool["sq2"].app) as sq2:
        stores = "".join(f'\n[[stores]]\nname = "{n}"\nplatform = "squarespace"\nbase_url = "{u}"\n'
                         f'token_env = "{pool.token_env(n)}"\n' for n, u in (("sq", sq), ("sq2", sq2)))
        (tmp_path / "shop.toml").write_text(f"[sync]\ninterval_seconds = 30\n{stores}")
        config = tmp_path / "fleet.toml"
        config.write_text(f'[ledger]\nurl = "{pg_url}"\n[daemon]\nlisten = "127.0.0.1:{free_port()}"\n'
                          "[fleet]\nconcurrency = 1\nschedule_seconds = 1\nstalled_seconds = 3\n"
                          "heartbeat_seconds = 1\n")
        main = Settings(ledger={"url": pg_url}, fleet={})
        engine = fleet_engine(main)
        add_pool(engine, "shop", read_pool_file(main, tmp_path / "shop.toml"), datetime.now(UTC))
        first = worker(config, pool.env())
        try:
            assert in_write.wait(60), "the first worker never reached the write"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            first.kill()
        killed_at = time.monotonic()
        release.set()  # the store now applies the write whose answer nobody will read
        second = worker(config, pool.env())
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                p = get_pool(engine, "shop")
                if p is not None and p.last_outcome == "ok" and set(pool.quantities("JAM").values()) == {9}:
                    break
                time.sleep(0.2)
            resumed = time.monotonic() - killed_at
            assert set(pool.quantities("JAM").values()) == {9}, pool.quantities("JAM")
            assert resumed < 30, resumed  # within one interval
        finally:
            second.send_signal(signal.SIGTERM)
            out, _ = second.communicate(timeout=60)
        assert second.returncode == 0, out[-3000:]
    assert all(n == 1 for n in pool["sq2"].applied_keys.values())  # the interrupted write applied once
    ledger_engine = pool_engine(main, "shop")
    assert_conserved(Ledger(ledger_engine))
    ledger_engine.dispose()
    engine.dispose()
