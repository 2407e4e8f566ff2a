"""The image, built and run: `syncd run` as uid 10001 against two simulated stores on the
host, healthy by its own HEALTHCHECK, a sale synced, `docker stop` drains and exits 0.

Not part of `make test` (it builds an image: minutes): .ci/run runs it with
SYNCD_CONTAINER_TEST=1. It needs a container engine: a running one, or Debian's dockerd,
which it starts (vfs storage, no iptables, no bridge: containers use the host's network)
and stops again. No image can be pulled here, so unless python:3.11-slim is present the
base is a Debian bookworm made by debootstrap (cached under /var/cache/syncd-ci, and as
an image) and passed as the Dockerfile's BASE. Where no engine can start, it skips and
says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.testing.pool import SquarespacePool
from syncd.testing.serve import free_port, serve

pytestmark = pytest.mark.skipif(
    os.environ.get("SYNCD_CONTAINER_TEST") != "1",
    reason="builds and runs the image: run by .ci/run (SYNCD_CONTAINER_TEST=1), not by make test")

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SYNCD_CI_CACHE", "/var/cache/syncd-ci"))
DEBOOTSTRAP = ["--variant=minbase", "--include=python3,python3-pip,python-is-python3,ca-certificates", "bookworm"]
MIRROR = "http://deb.debian.org/debian"
# The host's trust store goes into the base, so pip in the build trusts what the host trusts.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
UPSTREAM_BASE = "python:3.11-slim"
IMAGE = "syncd:container-test"
STOCK = {"north": {"OIL": 10, "TEA": 5}, "south": {"OIL": 10, "TEA": 5}}


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def _engine_answers() -> bool:
    try:
        return docker("info", timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    """A Docker engine: the running one, or dockerd started (and stopped) here."""
    if shutil.which("docker") is None:
        pytest.skip("no container engine here: the docker client is not installed (Debian: docker.io)")
    if _engine_answers():
        yield
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("no container engine here: dockerd is not installed (Debian: docker.io) and none is running")
    if os.geteuid() != 0:
        pytest.skip("no container engine here: none is running and dockerd needs root to start")
    log = tempfile.NamedTemporaryFile(prefix="dockerd-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([dockerd, "--storage-driver=vfs", "--iptables=false", "--bridge=none"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _engine_answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(10)
            tail = Path(log.name).read_text(errors="replace").splitlines()[-5:]
            pytest.skip("no container engine here: dockerd did not start: " + " | ".join(tail))
        time.sleep(0.5)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _base_image() -> str:
    """python:3.11-slim when the engine has it; else a debootstrapped bookworm, built once."""
    if docker("image", "inspect", UPSTREAM_BASE, check=False).returncode == 0:
        return UPSTREAM_BASE
    ca = HOST_CA.read_bytes() if HOST_CA.exists() else b""
    key = hashlib.sha256(" ".join([*DEBOOTSTRAP, MIRROR]).encode() + ca).hexdigest()[:12]
    tag = f"syncd-ci-base:bookworm-{key}"
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    if shutil.which("debootstrap") is None:
        pytest.skip(f"no base image: {UPSTREAM_BASE} cannot be pulled here and debootstrap is not installed")
    rootfs = CACHE / ("bookworm-" + hashlib.sha256(" ".join([*DEBOOTSTRAP, MIRROR]).encode()).hexdigest()[:12])
    if not (rootfs / ".complete").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["debootstrap", *DEBOOTSTRAP[:2], DEBOOTSTRAP[2], str(rootfs), MIRROR],
                                capture_output=True, text=True, timeout=900, check=False)
        assert result.returncode == 0, f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        (rootfs / ".complete").touch()
    if ca:
        (rootfs / "etc/ssl/certs/ca-certificates.crt").write_bytes(ca)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--exclude=./.complete", "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True,
                              timeout=600, check=False)
    assert tar.stdout is not None
    tar.stdout.close()
    assert tar.wait(60) == 0 and imported.returncode == 0, imported.stderr
    return tag


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    base = _base_image()
    started = time.monotonic()
    command = ["docker", "build", "--force-rm", "--network=host", "--build-arg", f"BASE={base}", "-t", IMAGE, "."]
    build = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert build.returncode == 0, f"docker build failed:\n{build.stdout[-6000:]}\n{build.stderr[-3000:]}"
    print(f"image built on {base} in {time.monotonic() - started:.0f} s")
    # vfs stores every layer whole: drop the untagged leftovers of earlier builds (the cache
    # of this one stays, so the next build reuses the dependency layers).
    docker("image", "prune", "-f", timeout=300, check=False)
    return IMAGE


def test_the_image_holds_syncd_and_its_locked_dependencies_only(image):
    """No simulators, no SYNCD_* override of the ledger or stores, the locked versions, non-root."""
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "syncd"
    names = {e.split("=", 1)[0] for e in config["Env"]}
    assert {n for n in names if n.startswith("SYNCD_")} == {"SYNCD_CONFIG", "SYNCD_DAEMON__LISTEN"}
    probe = ("import importlib.metadata as m, importlib.util as u, os\n"
             "assert u.find_spec('syncd.testing') is None, 'the simulators are in the image'\n"
             "print(os.getuid(), m.version('structlog'), m.version('httpx'))\n")
    out = docker("run", "--rm", "--network=none", "--entrypoint", "python", image, "-c", probe).stdout.split()
    locked = dict(line.split(" ", 1)[0].split("==") for line in (ROOT / "requirements.lock").read_text().splitlines()
                  if "==" in line and not line.startswith((" ", "#")))
    assert out == ["10001", locked["structlog"], locked["httpx"]]


@contextlib.contextmanager
def running(image: str, args: list[str]) -> Iterator[str]:
    name = f"syncd-container-test-{os.getpid()}"
    docker("rm", "-f", "-v", name, check=False)
    docker("run", "-d", "--name", name, *args, image)
    try:
        yield name
    finally:
        docker("rm", "-f", "-v", name, check=False)


def test_the_image_runs_cycles_is_healthy_syncs_a_sale_and_stops_cleanly(image, tmp_path):
    """The shipped shape: config mounted at /etc/syncd/syncd.toml, tokens as files in
    /run/secrets (owned by uid 10001, mode 0400) named by a relative token_file, the SQLite
    ledger in the volume; host network to reach the simulators on 127.0.0.1."""
    pool = SquarespacePool(STOCK)
    port = free_port()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, sim in pool.sims.items():
        (secrets / name).write_text(sim.token)
        os.chown(secrets / name, 10001, 10001)
        (secrets / name).chmod(0o400)
    with serve(pool["north"].app) as north, serve(pool["south"].app) as south:
        stores = "".join(f'\n[[stores]]\nname = "{n}"\nplatform = "squarespace"\nbase_url = "{url}"\n'
                         f'token_file = "{n}"\n' for n, url in (("north", north), ("south", south)))
        (tmp_path / "syncd.toml").write_text(
            '[ledger]\nurl = "sqlite:////var/lib/syncd/syncd.db"\n[sync]\ninterval_seconds = 2\n'
            f'[daemon]\nlisten = "127.0.0.1:{port}"\nshutdown_timeout_seconds = 20\n{stores}')
        (tmp_path / "syncd.toml").chmod(0o644)
        args = ["--network=host", "--stop-timeout", "40", "--health-interval", "2s", "--health-start-period", "60s",
                # The image listens on 0.0.0.0:8787 unless told otherwise; on the host's network, a free port.
                "-e", f"SYNCD_DAEMON__LISTEN=127.0.0.1:{port}",
                "-v", f"{tmp_path / 'syncd.toml'}:/etc/syncd/syncd.toml:ro", "-v", f"{secrets}:/run/secrets:ro"]
        with running(image, args) as name:
            health = _wait_health(name, 90)
            assert health == "healthy", _diagnose(name)
            pool["north"].sell("OIL", 3)
            deadline = time.monotonic() + 60
            while pool.quantities("OIL") != {"north": 7, "south": 7} and time.monotonic() < deadline:
                time.sleep(0.5)
            assert pool.quantities("OIL") == {"north": 7, "south": 7}, _diagnose(name)
            started = time.monotonic()
            docker("stop", name, timeout=90)
            stopped_in = time.monotonic() - started
            state = json.loads(docker("inspect", name).stdout)[0]["State"]
            logs = docker("logs", name)
            assert state["ExitCode"] == 0, _diagnose(name)
            assert stopped_in < 30, f"docker stop took {stopped_in:.1f} s"
            lines = [json.loads(line) for line in logs.stderr.splitlines()]  # every line is JSON
            events = [line["event"] for line in lines]
            assert "daemon.ready" in events and events[-1] == "daemon.stopped"
            assert lines[-1]["forced"] is False
            assert not any(sim.token in logs.stdout + logs.stderr for sim in pool.sims.values())
            top = docker("inspect", "-f", "{{.Config.User}}", name).stdout.strip()
            assert top == "syncd"
            print(f"healthy, sale synced, stopped in {stopped_in:.1f} s with exit 0")


def _wait_health(name: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        status = state.get("Health", {}).get("Status", "none")
        if status in ("healthy", "unhealthy") or not state["Running"]:
            return status if state["Running"] else f"exited {state['ExitCode']}"
        time.sleep(1)
    return status


def _diagnose(name: str) -> str:
    state = docker("inspect", name, check=False).stdout
    logs = docker("logs", "--tail", "40", name, check=False)
    return f"state: {state[-3000:]}\nlogs:\n{logs.stdout[-3000:]}\n{logs.stderr[-5000:]}"
