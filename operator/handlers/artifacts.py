"""Verification of a FraudModel's artifact before any pipeline may roll to it (on by default).

The operator loads the artifact exactly as the job will (``fraud_models.scorer.load_model``: sha256 matches,
feature schema id matches the detector's, the arrays load, the algorithm is supported), so a model the job
would refuse is Rejected while the running job is untouched. The load runs in a child process
(``fraud_models.model_check``), which keeps numpy and the decoded arrays out of the operator's memory.
Fetching is the job's own (``fraud_models.artifacts.fetch``: ``https://`` into a cache keyed by sha256 and
URL); this module adds the operator's size limit, timeout and cache budget from its environment and maps
each failure to a Verdict. A ``file://`` artifact usually lives in the job's image or volume, which the
operator's pod cannot see: such a model is not rejected but reported as ``ArtifactVerified=Unknown``
(NotVisibleToOperator), because the job verifies it at load.
``STREAMFLOW_VERIFY_ARTIFACTS=false`` switches verification off.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from fraud_models.artifacts import (
    ArtifactDigestMismatch,
    ArtifactError,
    ArtifactNotAFile,
    ArtifactNotFound,
    ArtifactTooLarge,
    ArtifactUnreachable,
    ArtifactUnreadable,
    UnsupportedArtifactURI,
    fetch,
    redact,
)
from fraud_models.features import FEATURE_SCHEMA_ID
from fraud_models.model_check import SUPPORTED_ALGORITHMS, check
from fraud_operator.api.common import ConditionStatus
from fraud_operator.api.model import FraudModel
from fraud_operator.settings import (
    ARTIFACT_CACHE,
    ARTIFACT_MAX_BYTES,
    ARTIFACT_TIMEOUT_SECONDS,
    VERIFY_ARTIFACTS,
)

__all__ = [
    "CONDITION_TYPE",
    "ArtifactFetchError",
    "Verdict",
    "artifact_verdict",
    "cache_dir",
    "fetch_artifact",
    "fetch_verdict",
]

CONDITION_TYPE = "ArtifactVerified"
_CACHE_BUDGET_FILES = 4  # the cache keeps at most this many maximum-size artifacts' worth of bytes
# (uid, generation) -> verdict; a spec change re-verifies. Only final verdicts are kept: an unreachable
# or invisible artifact is looked at again on the next resync.
_verdicts: dict[tuple[str, int | None], Verdict] = {}
_verdicts_lock = threading.Lock()
# One verification at a time per (uid, generation): the create handler and a resync can ask at once, and
# the second then waits for the first's verdict instead of downloading the artifact again.
_verifying: dict[tuple[str, int | None], threading.Lock] = {}
_MAX_VERDICTS = 1024
_FINAL_REASONS = frozenset(
    {"Verified", "ArtifactDigestMismatch", "FeatureSchemaMismatch", "ArtifactInvalid", "ArtifactTooLarge"}
    | {"AlgorithmUnsupported", "AlgorithmMismatch"}
)


@dataclass(frozen=True)
class Verdict:
    """The ArtifactVerified condition of a model: False rejects it, Unknown leaves the check to the job."""

    status: ConditionStatus
    reason: str
    message: str

    @property
    def rejected(self) -> bool:
        """The model must not be used."""
        return self.status == "False"


class ArtifactFetchError(Exception):
    """The artifact could not be made available locally; ``verdict`` says why."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def cache_dir() -> Path:
    """The operator's artifact cache: the setting, else a directory under the temp dir (an emptyDir)."""
    configured = ARTIFACT_CACHE.read()
    return configured if configured is not None else Path(tempfile.gettempdir()) / "streamflow-artifacts"


def fetch_verdict(exc: ArtifactError) -> Verdict:
    """The ArtifactVerified condition for an artifact the shared fetcher could not provide."""
    uri = exc.uri
    if isinstance(exc, ArtifactNotFound | ArtifactUnreadable):
        where = (
            "in the operator's filesystem"
            if isinstance(exc, ArtifactNotFound)
            else "readable by the operator"
        )
        return Verdict(
            "Unknown",
            "NotVisibleToOperator",
            f"{exc.path} is not {where}; the job verifies sha256 and feature schema when it loads the model "
            f"(mount the artifact into the operator too, or use https://, to have it checked here; "
            f"{VERIFY_ARTIFACTS.name}=false turns checks off)",
        )
    if isinstance(exc, ArtifactNotAFile):
        return Verdict("False", "ArtifactInvalid", f"spec.artifact {uri} is not a regular file")
    if isinstance(exc, ArtifactTooLarge):
        has = f"{exc.size} bytes" if exc.size is not None else f"more than {exc.limit} bytes"
        return Verdict(
            "False",
            "ArtifactTooLarge",
            f"spec.artifact {uri} has {has}, more than the operator's limit of {exc.limit} "
            f"({ARTIFACT_MAX_BYTES.name})",
        )
    if isinstance(exc, ArtifactDigestMismatch):
        return Verdict("False", "ArtifactDigestMismatch", f"spec.artifact: {exc}")
    if isinstance(exc, ArtifactUnreachable) and exc.http_status is not None:
        return Verdict("False", "ArtifactUnreachable", f"spec.artifact: GET {uri}: {exc.detail}")
    if isinstance(exc, UnsupportedArtifactURI):
        return Verdict(
            "False", "ArtifactUnreachable", f"spec.artifact {uri}: only file:// and https:// are supported"
        )
    return Verdict("False", "ArtifactUnreachable", f"spec.artifact: {exc}")


def fetch_artifact(uri: str, sha256: str) -> Path:
    """A local, size- and digest-checked copy of the artifact; raises ArtifactFetchError with the verdict.

    ``file://`` paths are used in place; ``https://`` goes through the shared digest- and URL-keyed cache,
    so a verified artifact is downloaded once per cache, however often it is re-verified.
    """
    limit = ARTIFACT_MAX_BYTES.value()
    try:
        return fetch(
            uri,
            expected_sha256=sha256,
            cache_dir=cache_dir(),
            max_bytes=limit,
            timeout=ARTIFACT_TIMEOUT_SECONDS.value(),
            cache_budget_bytes=_CACHE_BUDGET_FILES * limit,
        )
    except ArtifactError as exc:
        raise ArtifactFetchError(fetch_verdict(exc)) from None


def _classify(message: str) -> str:
    if "sha256 mismatch" in message:
        return "ArtifactDigestMismatch"
    if "feature schema mismatch" in message or "features, schema has" in message:
        return "FeatureSchemaMismatch"
    if "unsupported algorithm" in message:
        return "AlgorithmUnsupported"
    return "ArtifactInvalid"


def _verify(model: FraudModel) -> Verdict:
    spec = model.spec
    uri = redact(spec.artifact.uri)
    if spec.feature_schema_id != FEATURE_SCHEMA_ID:
        return Verdict(
            "False",
            "FeatureSchemaMismatch",
            f"spec.featureSchemaId {spec.feature_schema_id} differs from the detector's feature schema "
            f"{FEATURE_SCHEMA_ID}",
        )
    if spec.algorithm not in SUPPORTED_ALGORITHMS:
        return Verdict(
            "False",
            "AlgorithmUnsupported",
            f"spec.algorithm {spec.algorithm} cannot be scored by the detector "
            f"(supported: {', '.join(SUPPORTED_ALGORITHMS)})",
        )
    try:
        path = fetch_artifact(spec.artifact.uri, spec.artifact.sha256)
    except ArtifactFetchError as exc:
        return exc.verdict
    try:
        loaded = check(
            str(path),
            sha256=spec.artifact.sha256,
            schema_id=FEATURE_SCHEMA_ID,
            timeout_s=ARTIFACT_TIMEOUT_SECONDS.value(),
        )
    except (TimeoutError, RuntimeError, OSError) as exc:
        return Verdict("Unknown", "VerificationFailed", f"spec.artifact {uri} could not be checked: {exc}")
    if loaded.error is not None:
        message = loaded.error.replace(str(path), uri)
        if loaded.refused:
            return Verdict("False", _classify(message), f"spec.artifact: {message}")
        return Verdict("False", "ArtifactInvalid", f"spec.artifact {uri} is no loadable model: {message}")
    if loaded.algorithm != spec.algorithm:
        return Verdict(
            "False",
            "AlgorithmMismatch",
            f"spec.algorithm is {spec.algorithm} but the artifact {uri} holds a {loaded.algorithm} model",
        )
    return Verdict(
        "True",
        "Verified",
        f"{uri}: sha256 matches, feature schema {FEATURE_SCHEMA_ID}, {loaded.algorithm} model loads",
    )


def artifact_verdict(model: FraudModel) -> Verdict:
    """The ArtifactVerified condition for ``model`` (cached per uid and generation when final)."""
    if not VERIFY_ARTIFACTS.value():
        return Verdict(
            "Unknown",
            "VerificationDisabled",
            f"{VERIFY_ARTIFACTS.name}=false: the job verifies the artifact at load",
        )
    uid = model.metadata.uid
    if uid is None:
        return _verify(model)
    key = (uid, model.metadata.generation)
    with _verdicts_lock:
        cached = _verdicts.get(key)
        if cached is not None:
            return cached
        in_flight = _verifying.setdefault(key, threading.Lock())
    with in_flight:
        with _verdicts_lock:
            cached = _verdicts.get(key)
        if cached is not None:
            return cached
        verdict = _verify(model)
        with _verdicts_lock:
            if verdict.reason in _FINAL_REASONS:
                if len(_verdicts) >= _MAX_VERDICTS:
                    _verdicts.clear()
                _verdicts[key] = verdict
            _verifying.pop(key, None)
    return verdict
