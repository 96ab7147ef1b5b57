"""cron_problem() agrees with the API server's CronJob validation (robfig/cron ParseStandard)."""

from __future__ import annotations

import pytest
import yaml
from fraud_operator.render.cronjobs import cron_problem

from tests.conftest import KubeCluster

# Each passes the CRD's shape pattern (a descriptor or five fields); the API server decides the rest.
EXPRESSIONS = [
    "*/15 * * * *",
    "0 3 * * *",
    "0 0 1-5/2 jan-mar mon,fri",
    "0 0 ? * SUN",
    "*-5 * * * *",
    "5/10 * * * *",
    "+5 * * * *",
    "@daily",
    "@midnight",
    "61 * * * *",
    "* 24 * * *",
    "0 0 0 * *",
    "0 0 * 13 *",
    "* * * * 7",
    "5-1 * * * *",
    "*/0 * * * *",
    "1-2-3 * * * *",
    "1/2/3 * * * *",
    "a b c d e",
    "1,,2 * * * *",
    ", * * * *",
    "-1 * * * *",
    "@fortnightly",
    "@every",
]


def test_offline_verdicts() -> None:
    assert cron_problem("*/15 * * * *") is None
    assert "minute field" in str(cron_problem("61 * * * *"))
    assert "unknown descriptor" in str(cron_problem("@fortnightly"))


@pytest.mark.cluster
def test_cron_problem_agrees_with_the_api_server(kube: KubeCluster, namespace: str) -> None:
    disagreements = []
    for index, expression in enumerate(EXPRESSIONS):
        cronjob = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": f"c{index}", "namespace": namespace},
            "spec": {
                "schedule": expression,
                "timeZone": "Etc/UTC",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}
                        }
                    }
                },
            },
        }
        result = kube.kubectl(
            "apply", "--dry-run=server", "-f", "-", check=False, input=yaml.safe_dump(cronjob)
        )
        if (result.returncode == 0) != (cron_problem(expression) is None):
            disagreements.append((expression, cron_problem(expression), result.stderr.strip()))
    assert disagreements == []
