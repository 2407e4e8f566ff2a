"""The deployment files name things that exist and say what the README says they do.
(No Docker engine here: the Dockerfile is checked, not built.)"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from syncd.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def test_dockerfile_is_multistage_non_root_exec_form_with_a_healthcheck():
    """Two stages, a non-root user, a volume, HEALTHCHECK on /healthz, exec-form `syncd run`."""
    steps = dockerfile()
    assert sum(1 for op, _ in steps if op == "FROM") == 2
    assert ("USER", "syncd") in steps
    assert any(op == "VOLUME" and "/var/lib/syncd" in arg for op, arg in steps)
    health = next(arg for op, arg in steps if op == "HEALTHCHECK")
    assert "/healthz" in health and ":8787" in health
    assert json.loads(next(arg for op, arg in steps if op == "ENTRYPOINT")) == ["syncd"]
    assert json.loads(next(arg for op, arg in steps if op == "CMD")) == ["run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["syncd"] == "syncd.cli:main"
    for op, arg in steps:
        if op == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), source
    env = next(arg for op, arg in steps if op == "ENV")
    assert "SYNCD_DAEMON__LISTEN=0.0.0.0:8787" in env


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / "systemd" / name).read_text())
    return parser


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


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_units(tmp_path):
    """systemd's own checker accepts the units (ExecStart pointed at this venv's syncd)."""
    syncd = shutil.which("syncd") or str(ROOT / ".venv" / "bin" / "syncd")
    for name in ("syncd.service", "syncd-reconcile.service", "syncd-reconcile.timer"):
        text = (ROOT / "deploy" / "systemd" / name).read_text().replace("/opt/syncd/.venv/bin/syncd", syncd)
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in
                             ("syncd.service", "syncd-reconcile.service", "syncd-reconcile.timer"))],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_kubernetes_runs_two_replicas_with_probes_and_secrets():
    """A Deployment of 2 on PostgreSQL, liveness on /healthz, readiness on /readyz; its
    ConfigMap is a valid syncd configuration."""
    deployment = yaml.safe_load((ROOT / "deploy/kubernetes/deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in container["env"]}
    assert env["SYNCD_LEDGER__URL"]["valueFrom"]["secretKeyRef"]["key"] == "ledger-url"
    config = yaml.safe_load((ROOT / "deploy/kubernetes/configmap.yaml").read_text())["data"]["syncd.toml"]
    settings = Settings(**tomllib.loads(config))
    assert settings.daemon.port == 8787 and settings.stores[0].token_file is not None
    secret = yaml.safe_load((ROOT / "deploy/kubernetes/secret.yaml").read_text())
    assert set(secret["stringData"]) == {"ledger-url", "main-sq"}


def test_compose_runs_syncd_with_postgresql_and_file_secrets():
    """syncd and PostgreSQL; tokens as secret files; the config file is the shipped one."""
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    assert set(compose["services"]) == {"syncd", "postgres"}
    syncd = compose["services"]["syncd"]
    assert syncd["environment"]["SYNCD_LEDGER__URL"].startswith("postgresql+psycopg://")
    assert "main-sq" in syncd["secrets"]
    assert (ROOT / "deploy" / compose["configs"]["syncd-config"]["file"]).resolve() == ROOT / "config/syncd.toml"
