"""Rules and dashboards name only existing metrics; every alert has a runbook and a promtool unit test.

A metric "exists" when our code defines it: the operator's prometheus_client objects, the detector's Flink
counters (as Flink's Prometheus reporter names operator metrics), the kube-state-metrics configuration the
chart ships, the recording rules, or one of the few Flink job metrics listed below with their Flink names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from fraud_operator import metrics as operator_metrics
from prometheus_client import Counter, Gauge, Histogram

REPO = Path(__file__).resolve().parents[2]
FILES = REPO / "charts" / "streamflow-operator" / "files"
RULES = FILES / "streamflow.rules.yaml"
RULE_TESTS = Path(__file__).with_name("prometheus") / "streamflow.rules.test.yaml"
DASHBOARDS = sorted((FILES / "dashboards").glob("*.json"))
# Flink's own job metrics (JobManager scope, Flink docs "Metrics": Checkpointing and Availability).
FLINK_JOB_METRICS = {
    "flink_jobmanager_job_numberOfFailedCheckpoints",
    "flink_jobmanager_job_lastCheckpointDuration",
    "flink_jobmanager_job_numRestarts",
}
# A PyFlink counter registered on the operator's metric group is exported as this prefix + its name;
# add_group(key, value) adds the key to the name and the value as label <key>.
FLINK_OPERATOR_PREFIX = "flink_taskmanager_job_task_operator_"
PROMQL_WORDS = {
    "sum", "rate", "increase", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless", "offset", "bool", "avg_over_time", "histogram_quantile", "time", "max", "min", "avg", "count",
    "clamp_min", "vector", "le", "humanize", "humanizePercentage",
}  # fmt: skip


def test_every_alert_the_issue_asks_for_is_unit_tested() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert {
        "StreamFlowPipelineDegraded",
        "StreamFlowDLQRateHigh",
        "StreamFlowAlertRateAnomaly",
        "StreamFlowModelStale",
        "StreamFlowCheckpointFailures",
    } <= alerts
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tested = {case["alertname"] for t in tests["tests"] for case in t.get("alert_rule_test", [])}
    assert tested == alerts
    for group in rules["groups"]:
        for rule in group["rules"]:
            for url in [(rule.get("annotations") or {}).get("runbook_url")] if "alert" in rule else []:
                assert url and (REPO / url).is_file(), f"{rule['alert']}: runbook {url} missing"


def _defined_metrics() -> set[str]:
    names: set[str] = set()
    for value in vars(operator_metrics).values():
        if isinstance(value, Counter):
            names.add(value._name + "_total")
        elif isinstance(value, Histogram):
            names |= {value._name + suffix for suffix in ("_bucket", "_sum", "_count")}
        elif isinstance(value, Gauge):
            names.add(value._name)
    for source in (REPO / "jobs" / "flink").glob("*.py"):
        text = source.read_text()
        for match in re.finditer(r'(?:add_group\("(\w+)", \w+\))?\.counter\("(\w+)"\)', text):
            key, name = match.groups()
            names.add(FLINK_OPERATOR_PREFIX + (f"{key}_{name}" if key else name))
        for name in re.findall(r'\._counter\(\w+, "(\w+)"\)', text):  # counted locally, pushed in batches
            names.add(FLINK_OPERATOR_PREFIX + name)
        for var in re.findall(r"\.counter\(([a-z_]+)\)", text):  # a name chosen by a conditional expression
            for assignment in re.findall(rf"^\s*{var} = (.*)$", text, flags=re.M):
                names |= {FLINK_OPERATOR_PREFIX + n for n in re.findall(r'"(\w+)"', assignment)}
    for source in (REPO / "jobs" / "flink" / "java").rglob("*.java"):  # the JVM operators' metrics
        text = source.read_text()
        for match in re.finditer(r'(?:addGroup\("(\w+)", \w+\))?\.(?:counter|histogram)\("(\w+)"', text):
            key, name = match.groups()
            names.add(FLINK_OPERATOR_PREFIX + (f"{key}_{name}" if key else name))
    ksm = yaml.safe_load((FILES / "kube-state-metrics-crs.yaml").read_text())
    for resource in ksm["spec"]["resources"]:
        for metric in resource["metrics"]:
            names.add(f"{resource['metricNamePrefix']}_{metric['name']}")
    rules = yaml.safe_load(RULES.read_text())
    names |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names | FLINK_JOB_METRICS


def _referenced(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r'"[^"]*"', "", expr)
    tokens = re.findall(r"(?<![\w:.])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()", expr)
    return {t for t in tokens if t not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhd]", t)}


def _exprs() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    rules = yaml.safe_load(RULES.read_text())
    found[RULES.name] = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        found[path.name] = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    return found


def test_rules_and_dashboards_reference_only_defined_metrics() -> None:
    defined = _defined_metrics()
    # the job's counters are found in its code (a regex that finds nothing would make this test empty)
    assert {FLINK_OPERATOR_PREFIX + "alerts", FLINK_OPERATOR_PREFIX + "error_type_dlq"} <= defined
    assert {"streamflow_reconciles_total", "streamflow_pipelines"} <= defined
    used: set[str] = set()
    for where, exprs in _exprs().items():
        assert exprs, where
        for expr in exprs:
            unknown = _referenced(expr) - defined
            assert not unknown, f"{where}: {expr!r} uses undefined metrics {sorted(unknown)}"
            used |= _referenced(expr)
    assert "flink_taskmanager_job_task_operator_rule_alerts" in used


def test_dashboards_are_grafana_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["fraud-detection.json", "pipeline-health.json"]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"].startswith("streamflow-") and dashboard["panels"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            assert all(t["refId"] and t["expr"] for t in panel["targets"])
