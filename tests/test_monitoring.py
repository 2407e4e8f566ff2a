"""deploy/prometheus/alerts.yaml and deploy/grafana/syncd.json: well-formed (promtool
where installed), covering what an operator must hear about, on metric names the daemon
really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from syncd.metrics import Metrics
from syncd.webhooks import EventMetrics
from tests.test_deploy import DEPLOY

# Metrics the alerts or the dashboard use that the daemon does not expose yet. Empty: every
# one exists (syncd_store_lag_seconds, syncd_circuit_open, syncd_leader, syncd_build_info were
# the last added). Add a name here only while its metric is being written.
PENDING: frozenset[str] = frozenset()


def exposed_metrics() -> set[str]:
    """Every series name a `syncd run` exports: its Metrics and its store events' metrics."""
    metrics = Metrics(["s"])
    EventMetrics(metrics.registry, ["s"])
    registry: CollectorRegistry = metrics.registry
    names: set[str] = set()
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "gauge": ("",), "info": ("_info",)}
    for family in registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def promql_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b(syncd_[a-z0-9_]+)\b", expr))


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus/alerts.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_the_alerts_cover_the_issue_and_use_only_metrics_the_daemon_exposes():
    """Store lag, failing cycles, an open circuit, open conflicts growing, unknown write
    outcomes — each rule with a severity and a summary, on real metric names."""
    rules = alert_rules()
    exposed = exposed_metrics() | PENDING
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        unknown = promql_metrics(rule["expr"]) - exposed
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not exported by syncd"
    by_metric = {m: r["expr"] for r in rules for m in promql_metrics(r["expr"])}
    assert "syncd_store_lag_seconds" in by_metric and "syncd_circuit_open" in by_metric
    assert "syncd_open_conflicts" in by_metric
    assert any("syncd_cycles_total" in r["expr"] and "failed" in r["expr"] for r in rules)
    assert any("syncd_writes_total" in r["expr"] and '"unknown"' in r["expr"] for r in rules)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed here (Debian: prometheus)")
def test_promtool_accepts_the_rules_and_each_alert_fires_on_its_series():
    """promtool's own parser and its rule unit tests (deploy/prometheus/alerts.test.yaml)."""
    for args in (["check", "rules", "alerts.yaml"], ["test", "rules", "alerts.test.yaml"]):
        result = subprocess.run(["promtool", *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_is_grafana_json_on_metrics_the_daemon_exposes():
    """Valid JSON with a uid, panels with unique ids inside the 24-column grid, each with a
    query; the variables it uses are defined; every metric is exported by syncd."""
    dashboard = json.loads((DEPLOY / "grafana/syncd.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    exposed = exposed_metrics() | PENDING
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels) > 5
    used: set[str] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= promql_metrics(target["expr"])
            text = target["expr"] + json.dumps(panel["datasource"])
            refs = set(re.findall(r"\$\{?(\w+)", text)) - {"__rate_interval"}
            assert refs <= variables, (panel["title"], refs - variables)
    assert not used - exposed, sorted(used - exposed)
    assert {"syncd_store_lag_seconds", "syncd_cycles_total", "syncd_writes_total", "syncd_open_conflicts",
            "syncd_circuit_open"} <= used
