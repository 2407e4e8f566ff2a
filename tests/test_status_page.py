"""The status page of `syncd run`: content, escaping, no secrets, the optional token, and a
real headless Chromium that loads it, follows a SKU link and takes a screenshot."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from syncd.config import Settings
from syncd.daemon import Daemon
from syncd.systemd import SystemdNotifier
from syncd.testing.pool import SquarespacePool
from syncd.testing.serve import free_port

HOSTILE = "<script>alert(1)</script>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def running_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token_env: str | None = None
                         ) -> AsyncIterator[tuple[str, SquarespacePool]]:
    pool = SquarespacePool({"north": {"OIL": 10, HOSTILE: 3}, "south": {"OIL": 8}})
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    port = free_port()
    base = pool.settings(f"sqlite:///{tmp_path}/l.db")
    daemon_cfg = {"listen": f"127.0.0.1:{port}", "status_token_env": token_env}
    settings = Settings(ledger=base.ledger, sync={"interval_seconds": 3600}, stores=base.stores, daemon=daemon_cfg)
    daemon = Daemon(settings, transports=pool.transports(), notifier=SystemdNotifier({}))
    task = asyncio.create_task(daemon.serve())
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        for _ in range(200):
            try:
                if "syncd_cycles_total{" in (await http.get("/metrics")).text:
                    break
            except httpx.ConnectError:
                pass
            await asyncio.sleep(0.05)
    try:
        yield url, pool
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def daemon_url(tmp_path, monkeypatch) -> AsyncIterator[tuple[str, SquarespacePool]]:
    async for value in running_daemon(tmp_path, monkeypatch):
        yield value


async def test_the_page_shows_stores_cycles_conflicts_and_sku_history(daemon_url):
    """Plain HTML: stores and health, the last cycles, open conflicts, a SKU's history."""
    url, pool = daemon_url
    async with httpx.AsyncClient(base_url=url) as http:
        page = (await http.get("/status")).text
        assert "<h2>Stores</h2>" in page and "north" in page and "south" in page
        assert "<h2>Last cycles</h2>" in page and "<h2>Open conflicts</h2>" in page
        assert "missing" in page  # the hostile SKU is only in north
        assert "<script" not in page.lower() and "&lt;script&gt;" in page  # escaped, never run
        assert not any(sim.token in page for sim in pool.sims.values())
        oil = (await http.get("/status/sku/OIL")).text
        assert "available: <strong>8</strong>" in oil and "seed:min" in oil
        assert "not in the ledger" in (await http.get("/status/sku/NOPE")).text


async def test_the_page_can_require_a_bearer_token(tmp_path, monkeypatch):
    """With daemon.status_token_env set: 401 without the token, 200 with it."""
    monkeypatch.setenv("SYNCD_STATUS_TOKEN", "let-me-in-0123")
    async for url, _ in running_daemon(tmp_path, monkeypatch, token_env="SYNCD_STATUS_TOKEN"):
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/status")).status_code == 401
            wrong = await http.get("/status", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            ok = await http.get("/status", headers={"Authorization": "Bearer let-me-in-0123"})
            assert ok.status_code == 200 and "let-me-in" not in ok.text
            assert (await http.get("/healthz")).status_code == 200  # probes stay open


async def chromium(*args: str, profile: Path) -> str:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)")
async def test_headless_chromium_loads_the_page_follows_a_sku_link_and_screenshots(daemon_url, tmp_path):
    """A real browser renders the page without JavaScript, a SKU link leads to its history."""
    url, _ = daemon_url
    dom = await chromium("--dump-dom", f"{url}/status", profile=tmp_path / "p1")
    assert "<h1>syncd status</h1>" in dom
    links = re.findall(r'href="(/status/sku/[^"]+)"', dom)
    assert "/status/sku/OIL" in links
    sku_dom = await chromium("--dump-dom", f"{url}/status/sku/OIL", profile=tmp_path / "p2")
    assert "<h1>syncd: OIL</h1>" in sku_dom and "available:" in sku_dom
    shot = tmp_path / "status.png"
    await chromium(f"--screenshot={shot}", "--window-size=1200,900", f"{url}/status", profile=tmp_path / "p3")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
