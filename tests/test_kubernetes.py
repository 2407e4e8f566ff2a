"""The Kubernetes manifests: valid against the Kubernetes schemas (offline), the
"restricted" Pod Security Standard, every token their config names provided, probes,
drain, Service and ServiceMonitor lined up."""

from __future__ import annotations

import tomllib
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from syncd.config import Settings
from tests.test_deploy import DEPLOY, VERSION, config_tokens


def kube(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kubernetes" / name).read_text())  # type: ignore[no-any-return]


def test_kubernetes_provides_every_token_its_config_names():
    """Each token_file of the ConfigMap's config is an item of a mounted Secret volume whose
    key the Secret has; each token_env (none today) comes from a secretKeyRef."""
    pod = kube("deployment.yaml")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    secret = kube("secret.yaml")
    volumes = {v["name"]: v for v in pod["volumes"]}
    files: dict[PurePosixPath, str] = {}
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]].get("secret")
        if source is None:
            continue
        assert source["secretName"] == secret["metadata"]["name"]
        for item in source["items"]:
            files[PurePosixPath(mount["mountPath"]) / item["path"]] = item["key"]
    env = {e["name"]: e for e in container["env"]}
    settings = Settings(**tomllib.loads(kube("configmap.yaml")["data"]["syncd.toml"]))
    for store, token_env, token_file in config_tokens(settings):
        if token_env is not None:
            assert env[token_env]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"], store
            continue
        assert token_file is not None and token_file in files, f"store {store!r}: {token_file} is not mounted"
        assert files[token_file] in secret["stringData"], store
    assert env["SYNCD_LEDGER__URL"]["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"]


# --- Kubernetes --------------------------------------------------------------------------------

KUBE_VERSIONS = ("1.30", "1.37")  # the oldest we claim, and the newest the bundled schemas know
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}



KUBE_VERSIONS = ("1.30", "1.37")  # the oldest we claim, and the newest the bundled schemas know
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def test_the_kubernetes_manifests_match_the_kubernetes_schemas():
    """Every manifest, strictly (no unknown field), against the Kubernetes OpenAPI schemas
    bundled by kubernetes-validate (offline); the ServiceMonitor (a CRD) is checked by hand."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    manifests = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
    assert {m.name for m in manifests} >= {"deployment.yaml", "configmap.yaml", "secret.yaml", "service.yaml",
                                           "servicemonitor.yaml"}
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc["kind"] == "ServiceMonitor":
                continue
            for version in KUBE_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    raise AssertionError(f"{path.name} ({version}): {exc.message} at {list(exc.path)}") from None


def test_the_pod_meets_the_restricted_pod_security_standard():
    """The "restricted" profile (non-root, no privilege escalation, ALL capabilities dropped,
    RuntimeDefault seccomp, allowed volume types only), plus a read-only root file system
    with writable emptyDirs, no service-account token, and a release tag."""
    spec = kube("deployment.yaml")["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 2
    assert pod["automountServiceAccountToken"] is False
    assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc.get("runAsUser", 1) != 0
    assert pod_sc["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, volume
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc.get("privileged") is not True
        assert sc["capabilities"]["drop"] == ["ALL"] and set(sc["capabilities"].get("add", [])) <= {"NET_BIND_SERVICE"}
        assert sc.get("runAsNonRoot", pod_sc["runAsNonRoot"]) is True
        assert sc.get("seccompProfile", pod_sc["seccompProfile"])["type"] in ("RuntimeDefault", "Localhost")
        assert sc["readOnlyRootFilesystem"] is True
        name, _, tag = container["image"].rpartition(":")
        assert name and tag == VERSION, container["image"]
        mounts = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
        assert {"/tmp", "/var/lib/syncd"} <= mounts


def test_kubernetes_probes_drain_service_and_servicemonitor_line_up():
    """Liveness on /healthz, readiness on /readyz, a grace period longer than the drain; the
    Service selects the pods and the ServiceMonitor selects the Service by its port name."""
    deployment = kube("deployment.yaml")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    settings = Settings(**tomllib.loads(kube("configmap.yaml")["data"]["syncd.toml"]))
    assert settings.daemon.port == container["ports"][0]["containerPort"]
    assert pod["spec"]["terminationGracePeriodSeconds"] > settings.daemon.shutdown_timeout_seconds
    service, monitor = kube("service.yaml"), kube("servicemonitor.yaml")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert all(e["port"] in ports and e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])


def test_the_fleet_workers_manifest_and_compose_file():
    """deploy/kubernetes/worker.yaml: restricted, `syncd worker`, a fleet config that loads;
    deploy/compose.fleet.yaml: PostgreSQL and three workers on it."""
    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "worker.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    settings = Settings(**tomllib.loads(config["data"]["fleet.toml"]))
    assert settings.fleet.concurrency == 4 and not settings.stores
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["worker"] and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["terminationGracePeriodSeconds"] > settings.fleet.shutdown_timeout_seconds
    compose = yaml.safe_load((DEPLOY / "compose.fleet.yaml").read_text())
    workers = [s for name, s in compose["services"].items() if name.startswith("worker")]
    assert len(workers) == 3 and all(w["command"] == ["worker"] for w in workers)
    fleet = Settings(**tomllib.loads(compose["configs"]["fleet-config"]["content"]))
    assert fleet.ledger.url.startswith("postgresql")
