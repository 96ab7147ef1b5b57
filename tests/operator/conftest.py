"""Fixtures of the operator-core tests: the committed samples and the pinned upstream CRDs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from streamflow_dev.crds import upstream_crd_dir

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "crds" / "samples"
SHARED_CRDS = upstream_crd_dir()  # pinned by sha256: cache, offline mirror or upstream


def _load(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Flink CRD is 0.5 MB
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture
def pipeline_doc() -> dict[str, Any]:
    """The sample FraudPipeline as a plain dict (a fresh copy per test, safe to mutate)."""
    return copy.deepcopy(_load(SAMPLES / "fraudpipeline-payments.yaml"))


@pytest.fixture
def model_doc() -> dict[str, Any]:
    """The sample IsolationForest FraudModel as a plain dict."""
    return copy.deepcopy(_load(SAMPLES / "fraudmodel-iforest-v1.yaml"))


@pytest.fixture
def pipeline(pipeline_doc: dict[str, Any]) -> FraudPipeline:
    return FraudPipeline.model_validate(pipeline_doc)


@pytest.fixture
def model(model_doc: dict[str, Any]) -> FraudModel:
    return FraudModel.model_validate(model_doc)


@pytest.fixture
def shadow_model() -> FraudModel:
    return FraudModel.model_validate(_load(SAMPLES / "fraudmodel-hgb-v2.yaml"))


@pytest.fixture(scope="session")
def flink_crd() -> dict[str, Any]:
    return _load(SHARED_CRDS / "flinkdeployments.flink.apache.org-v1.yml")


@pytest.fixture(scope="session")
def kafkatopic_crd() -> dict[str, Any]:
    return _load(SHARED_CRDS / "kafkatopics.kafka.strimzi.io.yaml")


@pytest.fixture(scope="session")
def podmonitor_crd() -> dict[str, Any]:
    return _load(SHARED_CRDS / "monitoring.coreos.com_podmonitors.yaml")
