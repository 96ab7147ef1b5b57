"""Real compiled model artifacts and FraudModel documents pointing at them, for the handler tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.scorer import compile_model
from fraud_models.training import make_estimator

__all__ = ["compiled_artifact", "model_doc"]

SAMPLE = Path(__file__).resolve().parents[3] / "crds" / "samples" / "fraudmodel-iforest-v1.yaml"


def compiled_artifact(path: Path, version: str, seed: int) -> str:
    """A tiny real IsolationForest compiled as `streamflow model train` does, saved at ``path``; sha256."""
    X = np.random.default_rng(seed).normal(size=(300, len(FEATURE_NAMES)))
    estimator = make_estimator("isolation_forest", {"n_estimators": 5}).fit(X)
    model = compile_model(
        estimator, algorithm="isolation_forest", columns=list(range(len(FEATURE_NAMES))), version=version
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return model.save(path)


def model_doc(name: str, uri: str, sha256: str, **spec: Any) -> dict[str, Any]:
    """The sample FraudModel renamed to ``name`` (version = name) with this artifact and spec overrides."""
    doc = copy.deepcopy(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))
    doc["metadata"]["name"] = name
    doc["spec"]["version"] = name
    doc["spec"]["artifact"] = {"uri": uri, "sha256": sha256}
    doc["spec"]["featureSchemaId"] = FEATURE_SCHEMA_ID
    doc["spec"].update(spec)
    return dict(doc)
