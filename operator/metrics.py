"""Prometheus metrics of the operator, served by ``streamflow operator --metrics-port``.

The write counter is the operator's proof of level-based idempotence: a resync with nothing changed must not
move it (every create, apply, patch and delete against Kubernetes or the Kafka admin API goes through it).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "API_DRY_RUNS",
    "API_WRITES",
    "LEVEL_CHECKS",
    "PIPELINES_BY_CONDITION",
    "RECONCILES",
    "RECONCILE_SECONDS",
    "SUMMARY_CONDITIONS",
    "forget_pipeline",
    "record_pipeline_conditions",
    "writes_total",
]

API_WRITES = Counter(
    "streamflow_api_writes",
    "Write requests the operator sent (Kubernetes apply/patch/delete, Kafka admin changes), by kind.",
    ["kind"],
)
API_DRY_RUNS = Counter(
    "streamflow_api_dry_runs",
    "Server-side dry-run applies (a changed child validated before any write; nothing persisted), by kind.",
    ["kind"],
)
RECONCILES = Counter(
    "streamflow_reconciles",
    "Reconciliations by kind and result (applied, unchanged, invalid, degraded, deleting, gone, error).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "streamflow_reconcile_duration_seconds",
    "Duration of one reconciliation, by kind.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LEVEL_CHECKS = Counter(
    "streamflow_level_checks",
    "Level checks of what no watch reports, by what was checked (database: a schema, once per database and "
    "interval; reconcile: a full reconcile, for topics on the broker).",
    ["what"],
)
PIPELINES_BY_CONDITION = Gauge(
    "streamflow_pipelines",
    "FraudPipelines known to this operator by summary condition type and status.",
    ["condition", "status"],
)

SUMMARY_CONDITIONS = ("Ready", "Progressing", "Degraded")
_STATUSES = ("True", "False", "Unknown")

_lock = threading.Lock()
_latest: dict[tuple[str, str], dict[str, str]] = {}
# (condition, status) -> pipelines with it now; kept by difference, not recounted per status write
_counts: dict[tuple[str, str], int] = {(c, s): 0 for c in SUMMARY_CONDITIONS for s in _STATUSES}
for _condition, _status in _counts:
    PIPELINES_BY_CONDITION.labels(condition=_condition, status=_status).set(0)


def _replace(key: tuple[str, str], conditions: Mapping[str, str] | None) -> None:
    """Swap one pipeline's summary conditions and move the gauges that changed (the lock held)."""
    old = _latest.pop(key, {})
    if conditions is not None:
        _latest[key] = dict(conditions)
    new = conditions or {}
    for condition in SUMMARY_CONDITIONS:
        before, after = old.get(condition), new.get(condition)
        if before == after:
            continue
        for status, step in ((before, -1), (after, 1)):
            if status in _STATUSES:
                _counts[(condition, status)] += step
                count = _counts[(condition, status)]
                PIPELINES_BY_CONDITION.labels(condition=condition, status=status).set(count)


def record_pipeline_conditions(namespace: str, name: str, conditions: Mapping[str, str]) -> None:
    """Remember the summary conditions of one pipeline and move the gauges."""
    summary = {k: v for k, v in conditions.items() if k in SUMMARY_CONDITIONS}
    with _lock:
        _replace((namespace, name), summary)


def forget_pipeline(namespace: str, name: str) -> None:
    """Drop a deleted pipeline from the gauges."""
    with _lock:
        _replace((namespace, name), None)


def writes_total() -> float:
    """Sum of the write counter over all kinds (what the no-op tests compare)."""
    total = 0.0
    for metric in API_WRITES.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                total += sample.value
    return total
