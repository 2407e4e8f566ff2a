"""The deployment files name things that exist, provide everything the shipped configs
ask for, and do not override them. (The image itself is built and run by
tests/test_container.py, in .ci/run.)"""

from __future__ import annotations

import configparser
import http.server
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from syncd.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# The only SYNCD_* variables the image may set: the config's path, and the listen address
# (a container's loopback is useless). Anything else would silently beat the mounted config.
IMAGE_ENV = {"SYNCD_CONFIG", "SYNCD_DAEMON__LISTEN"}


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    final = [i for i, (op, _) in enumerate(dockerfile()) if op == "FROM"][-1]
    for op, arg in dockerfile()[final:]:
        if op == "ENV":
            env.update(dict(re.findall(r"(\S+?)=(\S+)", arg)))
    return env


def test_dockerfile_is_multistage_non_root_exec_form_with_a_healthcheck():
    """Two stages on a BASE argument, a non-root user, a volume, HEALTHCHECK on /healthz,
    exec-form `syncd run`, and every COPY source exists."""
    steps = dockerfile()
    assert sum(1 for op, _ in steps if op == "FROM") == 2
    assert ("ARG", "BASE=python:3.11-slim") in steps and all(arg.startswith("${BASE}") for op, arg in steps
                                                             if op == "FROM")
    assert ("USER", "syncd") in steps
    assert any(op == "VOLUME" and "/var/lib/syncd" in arg for op, arg in steps)
    assert json.loads(next(arg for op, arg in steps if op == "ENTRYPOINT")) == ["syncd"]
    assert json.loads(next(arg for op, arg in steps if op == "CMD")) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["syncd"] == "syncd.cli:main"
    for op, arg in steps:
        if op == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), source


def test_the_image_sets_no_variable_that_beats_the_mounted_config(tmp_path, monkeypatch):
    """The issue: SYNCD_LEDGER__URL in the image silently replaced a PostgreSQL [ledger] url
    in the mounted config. Loaded under the image's environment, the config's url wins."""
    env = image_env()
    assert {k for k in env if k.startswith("SYNCD_")} == IMAGE_ENV
    config = (ROOT / "config/syncd.toml").read_text().replace(
        'url = "sqlite:////var/lib/syncd/syncd.db"', 'url = "postgresql+psycopg://syncd@db:5432/syncd"')
    (tmp_path / "syncd.toml").write_text(config)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(tmp_path / "syncd.toml").ledger.url == "postgresql+psycopg://syncd@db:5432/syncd"


def test_the_image_installs_exactly_the_lock_and_the_context_is_an_allow_list():
    """pip installs requirements.lock with --require-hashes; .dockerignore lets in only what
    the Dockerfile copies (no .git, .venv, secrets, ledgers) and never the simulators."""
    runs = [arg for op, arg in dockerfile() if op == "RUN" and "pip" in arg]
    assert any("--require-hashes" in r and "requirements.lock" in r and "wheel" in r for r in runs)
    assert any("--require-hashes" in r and "requirements.lock" in r and "install" in r and "--no-index" in r
               for r in runs)
    ignore = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")}
    copied = {src.rstrip("/") for op, arg in dockerfile() if op == "COPY" and "--from" not in arg
              for src in arg.split()[:-1]}
    assert allowed == copied
    assert "syncd/testing/" in ignore


def lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock: name → (version, hashes)."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = (ROOT / "requirements.lock").read_text()
    for block in re.split(r"\n(?=\S)", text):
        line = block.split("\\", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version, f"not pinned: {line}"
        pins[name.lower().replace("_", "-")] = (version.strip(), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_the_lock_pins_every_runtime_dependency_within_pyprojects_ranges():
    """Each of pyproject's dependencies (and their extras' packages) is pinned, in range,
    with hashes. A new dependency without `make lock` fails here."""
    pins = lock()
    assert all(hashes for _, hashes in pins.values())
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name][0], prereleases=True), f"{name}=={pins[name][0]} is not {req}"
    assert "cryptography" in pins and "psycopg-binary" in pins  # pyjwt[crypto], psycopg[binary]
    assert not {"pytest", "mypy", "ruff", "kubernetes-validate"} & set(pins)  # dev tools stay out


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def healthz() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_the_healthcheck_asks_the_port_the_config_listens_on(tmp_path, healthz):
    """The HEALTHCHECK reads daemon.listen (0.0.0.0 is asked on loopback) instead of a
    hard-coded 8787: healthy on the configured port, unhealthy when nothing answers there."""
    health = next(arg for op, arg in dockerfile() if op == "HEALTHCHECK")
    command = json.loads(health.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"] and ":8787" not in health
    config = (ROOT / "config/syncd.toml").read_text()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    for port, code in ((healthz, 0), (_closed_port(), 1)):
        (tmp_path / "syncd.toml").write_text(config.replace('listen = "127.0.0.1:8787"', f'listen = "0.0.0.0:{port}"'))
        result = subprocess.run([sys.executable, "-c", command[2]], env={**env, "SYNCD_CONFIG": str(tmp_path /
                                "syncd.toml")}, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == code, result.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the shipped config, systemd ----------------------------------------------------------------


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def unit_values(name: str, key: str) -> list[str]:
    """Every value of a repeatable directive (configparser keeps only the last)."""
    return [ln.split("=", 1)[1].strip() for ln in (DEPLOY / "systemd" / name).read_text().splitlines()
            if ln.startswith(f"{key}=")]


def test_the_service_unit_is_type_notify_hardened_and_uses_credentials():
    """Type=notify with a watchdog, restarts on failure, a dynamic user, state directory,
    tokens by LoadCredential, and `syncd ... run`."""
    service = unit("syncd.service")["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure" and service["DynamicUser"] == "yes"
    assert service["StateDirectory"] == "syncd" and "LoadCredential" in service
    assert service["ExecStart"].endswith(" run") and "NoNewPrivileges" in service
    oneshot = unit("syncd-reconcile.service")["Service"]
    assert oneshot["Type"] == "oneshot" and oneshot["ExecStart"].endswith(" reconcile")
    assert "OnUnitActiveSec" in unit("syncd-reconcile.timer")["Timer"]


def test_a_bad_config_is_not_restarted_and_the_units_do_not_override_the_config():
    """Exit 2 (configuration) is in RestartPreventExitStatus, not retried every RestartSec;
    no Environment= sets a SYNCD_* value (it would beat the config file); the journal
    reads each line's <N> priority prefix."""
    for name in ("syncd.service", "syncd-reconcile.service"):
        envs = [v for line in unit_values(name, "Environment") for v in line.split()]
        assert not [e for e in envs if e.startswith("SYNCD_")], (name, envs)
        assert unit(name)["Service"].get("SyslogLevelPrefix", "yes") == "yes"
    assert "2" in unit("syncd.service")["Service"]["RestartPreventExitStatus"].split()


def test_the_shipped_config_keeps_its_ledger_in_the_image_volume_and_the_state_directory():
    """[ledger] url is an absolute SQLite path under the image's VOLUME and the units'
    StateDirectory (not the working directory, which differs between the two)."""
    url = load_settings(ROOT / "config/syncd.toml").ledger.url
    path = PurePosixPath(url.removeprefix("sqlite:///"))
    assert url.startswith("sqlite:////") and path.is_absolute()
    volume = json.loads(next(arg for op, arg in dockerfile() if op == "VOLUME"))[0]
    assert path.parent == PurePosixPath(volume)
    for name in ("syncd.service", "syncd-reconcile.service"):
        assert path.parent == PurePosixPath("/var/lib") / unit(name)["Service"]["StateDirectory"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """systemd's own checker accepts the units (ExecStart pointed at this venv's syncd) and
    has nothing to say: it exits 0 even on an unknown key, so its warnings count too."""
    syncd = shutil.which("syncd") or str(ROOT / ".venv" / "bin" / "syncd")
    names = ("syncd.service", "syncd-reconcile.service", "syncd-reconcile.timer")
    for name in names:
        text = (DEPLOY / "systemd" / name).read_text().replace("/opt/syncd/.venv/bin/syncd", syncd)
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# --- tokens: every one the shipped configs name is provided --------------------------------------


def config_tokens(settings: Settings) -> list[tuple[str, str | None, PurePosixPath | None]]:
    return [(s.name, s.token_env, PurePosixPath(s.token_file) if s.token_file else None)
            for s in settings.enabled_stores]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_provides_every_token_the_shipped_config_names():
    """The issue: the config named token_env while compose mounted files, and one secret
    was missing (a restart loop). Each token_file resolves — through the image's
    CREDENTIALS_DIRECTORY if relative — to a secret compose mounts from an existing
    definition; no token comes from an environment value."""
    doc = compose()
    service = doc["services"]["syncd"]
    env = {**image_env(), **service.get("environment", {})}
    config_file = (DEPLOY / doc["configs"]["syncd-config"]["file"]).resolve()
    assert config_file == ROOT / "config/syncd.toml"
    mounted: dict[PurePosixPath, str] = {}
    for entry in service["secrets"]:
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        assert "file" in doc["secrets"][source], source
        mounted[PurePosixPath("/run/secrets") / target] = source
    for store, token_env, token_file in config_tokens(load_settings(config_file)):
        assert token_env is None, f"store {store!r}: compose provides tokens as files, not {token_env}"
        assert token_file is not None
        path = token_file if token_file.is_absolute() else PurePosixPath(env["CREDENTIALS_DIRECTORY"]) / token_file
        assert path in mounted, f"store {store!r}: {path} is not a secret compose mounts ({sorted(mounted)})"
    assert env["PGPASSFILE"] in {str(p) for p in mounted}


def test_compose_runs_syncd_with_postgresql_a_release_image_and_room_to_drain():
    """syncd and PostgreSQL; an image tag that is the release; a stop grace period longer
    than the drain."""
    doc = compose()
    assert set(doc["services"]) == {"syncd", "postgres"}
    syncd = doc["services"]["syncd"]
    assert syncd["environment"]["SYNCD_LEDGER__URL"].startswith("postgresql+psycopg://")
    assert syncd["image"] == f"syncd:{VERSION}"
    drain = load_settings(ROOT / "config/syncd.toml").daemon.shutdown_timeout_seconds
    assert int(syncd["stop_grace_period"].removesuffix("s")) > drain


def test_the_systemd_unit_loads_every_credential_the_shipped_config_names():
    """A relative token_file is read from $CREDENTIALS_DIRECTORY: one LoadCredential= each."""
    loaded = {v.split(":", 1)[0] for v in unit_values("syncd.service", "LoadCredential")}
    for store, token_env, token_file in config_tokens(load_settings(ROOT / "config/syncd.toml")):
        assert token_env is None and token_file is not None and not token_file.is_absolute(), store
        assert str(token_file) in loaded, f"store {store!r}: no LoadCredential={token_file}:..."
