"""``syncd check``: read-only, every store, each failure with its fix; exit 1 on any failure.

The platform's own checks (location, catalog, API version, bulk access) are tested with
each connector; here: the command over every simulator, the failures every platform
shares (token refused, scope missing, store unreachable, unreadable page), and that
nothing is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.check import check_stores, report_json
from syncd.testing import FakeClock
from syncd.testing.pool import Pool, SquarespacePool
from syncd.testing.serve import serve

STOCK = {"JAM": 8, "HONEY": 3}
PLATFORMS = ["squarespace", "bigcommerce", "saasignal", "shopify", "wix"]


def _pool(platform: str) -> Pool:
    return Pool({"s": (platform, STOCK)})


async def _check(pool: Pool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None = None):
    for name, value in pool.env().items():
        monkeypatch.setenv(name, token if token is not None else value)
    settings = pool.settings(f"sqlite:///{tmp_path / 'ledger.db'}")
    return await check_stores(settings, FakeClock(), transports=pool.transports())


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_ready_store_passes_and_nothing_is_written(platform, monkeypatch, tmp_path):
    pool = _pool(platform)
    before = pool.quantities("JAM")
    results = await _check(pool, monkeypatch, tmp_path)
    checks = results["s"]
    assert checks and all(c.ok for c in checks), checks
    assert any(c.name == "first_page" for c in checks)
    assert pool.quantities("JAM") == before
    assert not (tmp_path / "ledger.db").exists()  # not even the ledger is created
    assert report_json(results, {"s": platform})["ok"] is True


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_refused_token_fails_with_its_fix(platform, monkeypatch, tmp_path):
    results = await _check(_pool(platform), monkeypatch, tmp_path, token="not-the-token")
    failed = [c for c in results["s"] if not c.ok]
    assert failed and failed[0].name == "token", results["s"]
    assert "token" in failed[0].fix
    assert "not-the-token" not in json.dumps(report_json(results, {}))
    assert not report_json(results, {})["ok"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_missing_scope_is_named(platform, monkeypatch, tmp_path):
    pool = _pool(platform)
    for method in ("GET", "POST"):
        pool["s"].faults.add(method, r"/.*", "status", times=100, status=403, body={"message": "forbidden"})
    results = await _check(pool, monkeypatch, tmp_path)
    failed = [c for c in results["s"] if not c.ok]
    assert failed and failed[0].name == "scopes", results["s"]
    assert "scope" in failed[0].fix


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_an_unreachable_store_fails_without_waiting_minutes(platform, monkeypatch, tmp_path):
    pool = _pool(platform)
    for method in ("GET", "POST"):
        pool["s"].faults.add(method, r"/.*", "status", times=100, status=503, body={"message": "down"})
    clock = FakeClock()
    for name, value in pool.env().items():
        monkeypatch.setenv(name, value)
    results = await check_stores(pool.settings(f"sqlite:///{tmp_path / 'l.db'}"), clock,
                                 transports=pool.transports())
    assert not all(c.ok for c in results["s"])
    assert clock.monotonic() < 60  # one short retry, not the cycle's retry budget


# --- the command itself, in a subprocess, against simulators on 127.0.0.1 ---------------


def _syncd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_TEST_TOKEN")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True, env=full,
                          timeout=120, check=False)


def _config(tmp_path: Path, urls: dict[str, str]) -> Path:
    stores = "".join(f'\n[[stores]]\nname = "{n}"\nplatform = "squarespace"\nbase_url = "{u}"\n'
                     f'token_env = "{SquarespacePool.token_env(n)}"\n' for n, u in urls.items())
    path = tmp_path / "syncd.toml"
    path.write_text(f'[ledger]\nurl = "sqlite:///{tmp_path}/ledger.db"\n{stores}')
    return path


def test_the_command_exits_0_when_ready_and_1_with_the_fix_when_not(tmp_path):
    pool = SquarespacePool({"one": {"JAM": 8}, "two": {"JAM": 5}})
    with serve(pool["one"].app) as one, serve(pool["two"].app) as two:
        config = str(_config(tmp_path, {"one": one, "two": two}))
        ok = _syncd("--config", config, "check", "--json", env=pool.env())
        assert ok.returncode == 0, ok.stderr
        data = json.loads(ok.stdout)
        assert data["ok"] and set(data["stores"]) == {"one", "two"}
        bad = _syncd("--config", config, "check", env={**pool.env(), pool.token_env("two"): "wrong-token"})
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "FAIL" in bad.stdout and "token" in bad.stdout and "wrong-token" not in bad.stdout + bad.stderr
    assert pool.quantities("JAM") == {"one": 8, "two": 5}
    assert not (tmp_path / "ledger.db").exists()


def test_a_missing_token_is_a_configuration_error(tmp_path):
    config = str(_config(tmp_path, {"one": "http://127.0.0.1:9"}))
    result = _syncd("--config", config, "check", env={})
    assert result.returncode == 2 and "configuration error" in result.stderr
