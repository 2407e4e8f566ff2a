"""The real `syncd` command in a subprocess, against simulators served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.testing.pool import SquarespacePool
from syncd.testing.serve import serve


@pytest.fixture
def served() -> Iterator[tuple[SquarespacePool, dict[str, str]]]:
    pool = SquarespacePool({"one": {"JAM": 8, "HONEY": 3}, "two": {"JAM": 5, "HONEY": 3}})
    with serve(pool["one"].app) as one, serve(pool["two"].app) as two:
        yield pool, {"one": one, "two": two}


def config(tmp_path: Path, urls: dict[str, str], ledger: str | None = None) -> Path:
    stores = "".join(
        f'\n[[stores]]\nname = "{n}"\nplatform = "squarespace"\nbase_url = "{u}"\n'
        f'token_env = "{SquarespacePool.token_env(n)}"\n'
        for n, u in urls.items()
    )
    path = tmp_path / "syncd.toml"
    path.write_text(f'[ledger]\nurl = "{ledger or f"sqlite:///{tmp_path}/ledger.db"}"\n{stores}')
    return path


def syncd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_TEST_TOKEN")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, check=False)


def test_reconcile_converges_and_reports_json(tmp_path, served):
    """Exit 0, a JSON summary on stdout, JSON logs on stderr without any token."""
    pool, urls = served
    result = syncd("--config", str(config(tmp_path, urls)), "reconcile", "--json", env=pool.env())
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["exit_code"] == 0 and summary["applied"] == 1
    assert summary["writes"] == [{"store": "one", "sku": "JAM", "observed": 8, "target": 5, "change": -3,
                                  "mode": "relative"}]
    assert pool.quantities("JAM") == {"one": 5, "two": 5}
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert {"cycle.start", "pull.done", "cycle.end"} <= {e["event"] for e in events}
    assert not any(s.token in result.stderr + result.stdout for s in pool.sims.values())


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path, served):
    """--dry-run: a table of the plan; no store written, no ledger file created."""
    pool, urls = served
    result = syncd("--config", str(config(tmp_path, urls)), "reconcile", "--dry-run", env=pool.env())
    assert result.returncode == 0, result.stderr
    assert "JAM" in result.stdout and "-3" in result.stdout
    assert pool.quantities("JAM") == {"one": 8, "two": 5}
    assert not (tmp_path / "ledger.db").exists()


def test_an_unreachable_store_exits_1_and_the_others_sync(tmp_path, served):
    """A failing store does not stop the others; the exit status says a store failed."""
    pool, urls = served
    urls = {**urls, "gone": "http://127.0.0.1:9"}
    env = {**pool.env(), SquarespacePool.token_env("gone"): "x"}
    result = syncd("--config", str(config(tmp_path, urls)), "--log-level", "error", "reconcile", "--json", env=env)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["stores"]["gone"]["pulled"] is False
    assert "could not connect" in summary["stores"]["gone"]["error"]
    assert summary["unseeded"] == ["HONEY", "JAM"]  # first sight waits for every store


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[stores]]\nname = "a"\nplatform = "squarespace"\ntoken_env = "T"\nbuffer = "many"\n', "buffer"),
        ('[[stores]]\nname = "a"\nplatform = "squarespace"\ntoken_env = "SYNCD_NOT_SET_TOKEN"\n',
         "SYNCD_NOT_SET_TOKEN is not set"),
        ('[ledger\n', "not valid TOML"),
    ],
)
def test_a_bad_configuration_exits_2_and_says_why(tmp_path, text, message):
    """Exit 2 with the field named; nothing contacted."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = syncd("--config", str(path), "reconcile")
    assert result.returncode == 2
    assert message in result.stderr


def test_a_missing_config_exits_2(tmp_path):
    result = syncd("--config", str(tmp_path / "absent.toml"), "reconcile")
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.parametrize("pool", ["squarespace", "mixed"])
def test_the_demo_converges_and_says_so(pool):
    """`make demo` (and `make demo POOL=mixed`) exits 0 only when its own closing check passes."""
    result = subprocess.run([sys.executable, "-m", "syncd.testing.demo", "--pool", pool], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Every store converged and no sale was lost." in result.stdout
    assert "with store events: a shopper buys 1 honey at harbour-shop; every" in result.stdout


def test_the_live_demo_serves_the_status_page_shows_sales_crossing_and_stops_on_ctrl_c():
    """`make demo-live`: the stores, `syncd run` with its status page, a shopper; Ctrl-C ends it all."""
    import signal
    import time

    import httpx

    from syncd.testing.serve import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "syncd.testing.demo_live", "--pool", "all", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline and not any("every store shows it" in line for line in lines):
            lines.append(proc.stdout.readline())
        assert any("every store shows it" in line for line in lines), lines
        page = httpx.get(f"http://127.0.0.1:{port}/status", timeout=5).text
        assert "Store events" in page
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "stopped" in out
    finally:
        proc.kill()
