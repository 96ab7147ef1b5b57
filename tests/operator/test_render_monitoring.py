"""The per-pipeline PodMonitor: it selects the detector pods' named metrics port and keeps the labels that
the alert rules and dashboards read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.structural import crd_schema, validate
from fraud_operator.render.flink import render_flinkdeployment
from fraud_operator.render.monitoring import TARGET_LABELS, render_pod_monitor
from fraud_operator.render.naming import METRICS_PORT

FILES = Path(__file__).resolve().parents[2] / "charts" / "streamflow-operator" / "files"
# Labels Flink's Prometheus reporter exports on job metrics (scope variables), plus the add_group keys of
# jobs/flink/functions.py (error_type, rule).
FLINK_REPORTER_LABELS = {
    "job_name",
    "job_id",
    "task_name",
    "task_id",
    "task_attempt_num",
    "task_attempt_id",
    "operator_name",
    "operator_id",
    "subtask_index",
    "tm_id",
    "host",
    "error_type",
    "rule",
}
# Added to every PodMonitor target by the Prometheus Operator.
PROMETHEUS_OPERATOR_LABELS = {"namespace", "pod", "container", "endpoint", "job", "instance"}


def test_selects_the_named_metrics_port_of_the_detector_pods(
    pipeline: FraudPipeline, model: FraudModel
) -> None:
    (monitor,) = render_pod_monitor(pipeline)
    template = render_flinkdeployment(pipeline, model)["spec"]["podTemplate"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    assert ports[endpoint["port"]] == METRICS_PORT == 9249
    assert endpoint["interval"] == "30s"
    assert monitor["metadata"]["namespace"] == "default"


def test_valid_under_the_podmonitor_crd(pipeline_doc: dict[str, Any], podmonitor_crd: dict[str, Any]) -> None:
    pipeline_doc["spec"]["monitoring"] = {"interval": "1m", "labels": {"release": "kube-prometheus"}}
    (monitor,) = render_pod_monitor(FraudPipeline.model_validate(pipeline_doc))
    assert validate(monitor, crd_schema(podmonitor_crd)) == []
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"


def test_disabled_renders_nothing(pipeline_doc: dict[str, Any]) -> None:
    pipeline_doc["spec"]["monitoring"] = {"enabled": False}
    assert render_pod_monitor(FraudPipeline.model_validate(pipeline_doc)) == []


def _job_metric_expr(expr: str) -> bool:
    return "flink_" in expr or "streamflow:alert_ratio" in expr or "streamflow:dlq_ratio" in expr


def _grouped_by(expr: str) -> set[str]:
    return {
        label.strip() for group in re.findall(r"\bby \(([^)]*)\)", expr) for label in group.split(",")
    } - {""}


def _labels_read() -> set[str]:
    """Labels that the rules and dashboards group by or print, in expressions over the job's metrics."""
    rules = yaml.safe_load((FILES / "streamflow.rules.yaml").read_text(encoding="utf-8"))
    read: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if _job_metric_expr(rule["expr"]):
                read |= _grouped_by(rule["expr"])
                read |= set(re.findall(r"\$labels\.(\w+)", json.dumps(rule.get("annotations") or {})))
    for path in sorted((FILES / "dashboards").glob("*.json")):
        for expr in re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', path.read_text(encoding="utf-8")):
            if _job_metric_expr(expr):
                read |= _grouped_by(expr)
    return read


def test_relabelings_keep_every_label_the_rules_and_dashboards_read(pipeline: FraudPipeline) -> None:
    read = _labels_read()
    assert {"job_name", "error_type", "rule"} <= read  # the parser found the rules' groupings
    (monitor,) = render_pod_monitor(pipeline)
    relabelings = monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]
    targets = {r["targetLabel"] for r in relabelings}
    assert targets == set(TARGET_LABELS)
    assert not targets & FLINK_REPORTER_LABELS, "a relabeling would overwrite a label Flink exports"
    assert all(r["action"] == "replace" for r in relabelings)
    assert "metricRelabelings" not in monitor["spec"]["podMetricsEndpoints"][0]
    unknown = read - FLINK_REPORTER_LABELS - set(TARGET_LABELS) - PROMETHEUS_OPERATOR_LABELS
    assert not unknown, f"the rules read labels no scrape provides: {sorted(unknown)}"
