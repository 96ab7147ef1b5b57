"""The restart alert rule, evaluated by the real promtool on the numRestarts series a chaos run recorded.

The series is what the JobManager's Prometheus reporter exposed during the run (scraped every second by
JobRun), put on promtool's 15 s grid (the last value scraped at or before each grid point), with the
labels Flink gave it. Before the fault the rule must stay silent; at the end of the run it must fire.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml
from streamflow_dev.tools import ensure_promtool

from tests.chaos.jobrun import JobRun

__all__ = ["STEP_S", "assert_restart_alert_fires"]

RULES = (
    Path(__file__).resolve().parents[2] / "charts" / "streamflow-operator" / "files" / "streamflow.rules.yaml"
)
ALERT = "StreamFlowFlinkJobRestarted"
STEP_S = 15


def _rule() -> dict[str, Any]:
    rules = yaml.safe_load(RULES.read_text())
    return next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == ALERT)


def _series(job: JobRun) -> tuple[dict[str, str], list[float], float]:
    """(labels, values on the grid, grid start) of the recorded numRestarts series."""
    assert job.prometheus, "the JobManager's Prometheus reporter exposed no numRestarts for the job"
    labels = job.prometheus[0][1]
    start, end = job.prometheus[0][0], job.prometheus[-1][0]
    values = []
    for k in range(int((end - start) // STEP_S) + 1):
        at = start + k * STEP_S
        values.append(max((v for t, _, v in job.prometheus if t <= at), default=job.prometheus[0][2]))
    values.append(job.prometheus[-1][2])
    return labels, values, start


def assert_restart_alert_fires(job: JobRun, work: Path, fault_at: float) -> None:
    labels, values, start = _series(job)
    before_fault = int((fault_at - start) // STEP_S)  # the last grid point at or before the fault
    assert before_fault >= 2, "the series does not reach two steps back before the fault"
    assert values[before_fault] == values[0] and values[-1] > values[0], values
    rule = _rule()
    selector = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    annotations = {
        k: str(v).replace("{{ $labels.job_name }}", labels["job_name"])
        for k, v in rule["annotations"].items()
    }
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": f"{STEP_S}s",
        "tests": [
            {
                "name": "numRestarts recorded from the JobManager during a chaos run",
                "interval": f"{STEP_S}s",
                "input_series": [
                    {
                        "series": f"flink_jobmanager_job_numRestarts{{{selector}}}",
                        "values": " ".join(str(int(v)) for v in values),
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": f"{before_fault * STEP_S}s", "alertname": ALERT, "exp_alerts": []},
                    {
                        "eval_time": f"{(len(values) - 1) * STEP_S}s",
                        "alertname": ALERT,
                        "exp_alerts": [
                            {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": annotations}
                        ],
                    },
                ],
            }
        ],
    }
    path = work / "restart-alert.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [str(ensure_promtool(quiet=True)), "test", "rules", str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{path.read_text()}"
