"""Verification of a FraudModel's artifact before any pipeline may roll to it.

The operator loads the artifact exactly as the job will (``fraud_models.scorer.load_model``: reachable,
sha256 matches, feature schema id matches the detector's), so a model the job would refuse is Rejected
while the running job is untouched. It is switched on with ``STREAMFLOW_VERIFY_ARTIFACTS=true`` because
``file://`` artifacts usually live in the job's image or volume, which the operator's pod cannot see.
"""

from __future__ import annotations

import os
import threading
import zipfile

from fraud_models.features import FEATURE_SCHEMA_ID
from fraud_models.scorer import ModelLoadError, load_model
from fraud_operator.api.model import FraudModel

__all__ = ["VERIFY_ENV", "artifact_problem", "verification_enabled"]

VERIFY_ENV = "STREAMFLOW_VERIFY_ARTIFACTS"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
# (uid, generation) -> verdict; a spec change re-verifies, an unreachable artifact is retried next resync.
_verdicts: dict[tuple[str | None, int | None], tuple[str, str] | None] = {}
_verdicts_lock = threading.Lock()
_MAX_VERDICTS = 1024


def verification_enabled() -> bool:
    """Whether ``STREAMFLOW_VERIFY_ARTIFACTS`` asks for artifact checks; a bad value is an error naming it."""
    raw = os.environ.get(VERIFY_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{VERIFY_ENV}={raw!r}: expected true or false")


def _classify(message: str) -> str:
    if "sha256 mismatch" in message:
        return "ArtifactDigestMismatch"
    if "feature schema mismatch" in message or "features, schema has" in message:
        return "FeatureSchemaMismatch"
    if "not found" in message or "cannot" in message or "unsupported artifact" in message:
        return "ArtifactUnreachable"
    return "ArtifactInvalid"


def _verify(model: FraudModel) -> tuple[str, str] | None:
    spec = model.spec
    if spec.feature_schema_id != FEATURE_SCHEMA_ID:
        return (
            "FeatureSchemaMismatch",
            f"spec.featureSchemaId {spec.feature_schema_id} differs from the detector's feature schema "
            f"{FEATURE_SCHEMA_ID}",
        )
    try:
        load_model(
            spec.artifact.uri, expected_sha256=spec.artifact.sha256, expected_schema_id=FEATURE_SCHEMA_ID
        )
    except ModelLoadError as exc:
        return _classify(str(exc)), f"spec.artifact: {exc}"
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        return "ArtifactInvalid", f"spec.artifact {spec.artifact.uri} is no loadable model: {exc}"
    return None


def artifact_problem(model: FraudModel) -> tuple[str, str] | None:
    """A reason and message when the artifact fails verification (None: fine, or verification is off)."""
    if not verification_enabled():
        return None
    key = (model.metadata.uid, model.metadata.generation)
    with _verdicts_lock:
        if key[0] is not None and key in _verdicts:
            return _verdicts[key]
    verdict = _verify(model)
    if key[0] is not None and (verdict is None or verdict[0] != "ArtifactUnreachable"):
        with _verdicts_lock:
            if len(_verdicts) >= _MAX_VERDICTS:
                _verdicts.clear()
            _verdicts[key] = verdict
    return verdict
