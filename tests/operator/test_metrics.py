"""The operator's gauge of pipelines by summary condition follows each status write and deletion."""

from __future__ import annotations

from fraud_operator import metrics
from fraud_operator.metrics import PIPELINES_BY_CONDITION, forget_pipeline, record_pipeline_conditions


def _gauge(condition: str, status: str) -> float:
    return float(PIPELINES_BY_CONDITION.labels(condition=condition, status=status)._value.get())


def test_the_gauge_counts_each_pipeline_once_by_its_latest_conditions() -> None:
    before = {(c, s): _gauge(c, s) for c in metrics.SUMMARY_CONDITIONS for s in ("True", "False", "Unknown")}

    def moved(condition: str, status: str) -> float:
        return _gauge(condition, status) - before[(condition, status)]

    record_pipeline_conditions("gauge-ns", "a", {"Ready": "False", "Progressing": "True", "Other": "True"})
    record_pipeline_conditions("gauge-ns", "b", {"Ready": "False"})
    assert (moved("Ready", "False"), moved("Progressing", "True")) == (2, 1)
    record_pipeline_conditions("gauge-ns", "a", {"Ready": "True", "Progressing": "False"})
    assert (moved("Ready", "False"), moved("Ready", "True")) == (1, 1)
    assert (moved("Progressing", "True"), moved("Progressing", "False")) == (0, 1)
    record_pipeline_conditions("gauge-ns", "a", {"Ready": "True", "Progressing": "False"})  # no change
    assert moved("Ready", "True") == 1
    forget_pipeline("gauge-ns", "a")
    forget_pipeline("gauge-ns", "never-seen")
    assert (moved("Ready", "True"), moved("Progressing", "False"), moved("Ready", "False")) == (0, 0, 1)
    forget_pipeline("gauge-ns", "b")
    assert all(moved(c, s) == 0 for c, s in before)
