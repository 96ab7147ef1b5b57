"""The ArgoCD health scripts, run by a real Lua 5.1 on objects the real operator wrote.

The fixtures in fixtures/*.json were captured from the live FraudPipeline and FraudModel objects during
test_chart_cluster.py (operator under the chart's RBAC, real API server); that test also judges the live
objects directly. Cases ArgoCD meets between two reconciles (a newer generation than the operator has
observed) are derived from the captured objects by changing only metadata.generation.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.shipping.argocd import SCRIPTS, health

FIXTURES = Path(__file__).with_name("fixtures")
REPO = Path(__file__).resolve().parents[2]


def _fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    assert isinstance(data, dict)
    return data


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def test_ready_pipeline_of_the_observed_generation_is_healthy() -> None:
    obj = _fixture("fraudpipeline-ready")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert health(obj) == ("Healthy", _condition(obj, "Ready")["message"])


def test_ready_pipeline_with_a_newer_generation_is_progressing() -> None:
    obj = copy.deepcopy(_fixture("fraudpipeline-ready"))
    obj["metadata"]["generation"] += 1
    status, message = health(obj)
    assert status == "Progressing"
    assert message == f"Waiting for the operator to observe generation {obj['metadata']['generation']}"


def test_pipeline_waiting_for_its_job_is_progressing_with_the_reason() -> None:
    obj = _fixture("fraudpipeline-waiting-for-job")
    assert _condition(obj, "Ready")["status"] != "True"
    assert health(obj) == ("Progressing", _condition(obj, "Progressing")["message"])


def test_degraded_pipeline_is_degraded_with_the_condition_message() -> None:
    obj = _fixture("fraudpipeline-degraded")
    degraded = _condition(obj, "Degraded")
    assert degraded["status"] == "True"
    assert health(obj) == ("Degraded", degraded["message"])
    # Degraded wins even while a newer generation waits to be observed
    newer = copy.deepcopy(obj)
    newer["metadata"]["generation"] += 1
    assert health(newer)[0] == "Degraded"


def test_pipeline_without_status_is_progressing() -> None:
    obj = copy.deepcopy(_fixture("fraudpipeline-ready"))
    del obj["status"]
    assert health(obj)[0] == "Progressing"


def test_models_ready_rejected_and_not_yet_validated() -> None:
    ready = _fixture("fraudmodel-ready")
    assert health(ready) == ("Healthy", ready["status"]["message"])
    rejected = _fixture("fraudmodel-rejected")
    assert health(rejected) == ("Degraded", rejected["status"]["message"])
    newer = copy.deepcopy(ready)
    newer["metadata"]["generation"] += 1
    assert health(newer)[0] == "Progressing"
    pending = copy.deepcopy(ready)
    del pending["status"]
    assert health(pending)[0] == "Progressing"


@pytest.mark.parametrize("kind", sorted(SCRIPTS))
def test_argocd_cm_carries_the_scripts_verbatim(kind: str) -> None:
    cm = yaml.safe_load((REPO / "docs" / "argocd" / "argocd-cm-health.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    key = f"resource.customizations.health.streamflow.io_{kind}"
    assert cm["data"][key] == SCRIPTS[kind].read_text()


def test_example_application_points_at_the_chart() -> None:
    apps = list(yaml.safe_load_all((REPO / "docs" / "argocd" / "application.yaml").read_text()))
    operator = next(a for a in apps if a["metadata"]["name"] == "streamflow-operator")
    assert (REPO / operator["spec"]["source"]["path"] / "Chart.yaml").is_file()
    values = operator["spec"]["source"]["helm"]["valuesObject"]
    schema = json.loads((REPO / operator["spec"]["source"]["path"] / "values.schema.json").read_text())
    assert set(values) <= set(schema["properties"])
