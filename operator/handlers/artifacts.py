"""Verification of a FraudModel's artifact before any pipeline may roll to it (on by default).

The operator loads the artifact exactly as the job will (``fraud_models.scorer.load_model``: sha256 matches,
feature schema id matches the detector's, the arrays load, the algorithm is supported), so a model the job
would refuse is Rejected while the running job is untouched. ``https://`` artifacts are downloaded into a
cache keyed by their sha256 and URL (with a size limit and a timeout). A ``file://`` artifact usually lives
in the job's image or volume, which the operator's pod cannot see: such a model is not rejected but
reported as ``ArtifactVerified=Unknown`` (NotVisibleToOperator), because the job verifies it at load.
``STREAMFLOW_VERIFY_ARTIFACTS=false`` switches verification off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fraud_models.features import FEATURE_SCHEMA_ID
from fraud_models.scorer import SUPPORTED_ALGORITHMS, ModelLoadError, load_model
from fraud_operator.api.common import ConditionStatus
from fraud_operator.api.model import FraudModel
from fraud_operator.handlers.context import env_seconds

__all__ = [
    "CACHE_ENV",
    "CONDITION_TYPE",
    "MAX_BYTES_ENV",
    "TIMEOUT_ENV",
    "VERIFY_ENV",
    "ArtifactFetchError",
    "Verdict",
    "artifact_verdict",
    "fetch_artifact",
    "verification_enabled",
]

CONDITION_TYPE = "ArtifactVerified"
VERIFY_ENV = "STREAMFLOW_VERIFY_ARTIFACTS"
CACHE_ENV = "STREAMFLOW_ARTIFACT_CACHE"
MAX_BYTES_ENV = "STREAMFLOW_ARTIFACT_MAX_BYTES"
TIMEOUT_ENV = "STREAMFLOW_ARTIFACT_TIMEOUT_SECONDS"
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
_CACHE_BUDGET_FILES = 4  # the cache keeps at most this many maximum-size artifacts' worth of bytes
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_BLOCK = 1 << 20
# (uid, generation) -> verdict; a spec change re-verifies. Only final verdicts are kept: an unreachable
# or invisible artifact is looked at again on the next resync.
_verdicts: dict[tuple[str, int | None], Verdict] = {}
_verdicts_lock = threading.Lock()
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


def verification_enabled() -> bool:
    """``STREAMFLOW_VERIFY_ARTIFACTS`` (default true); a bad value is an error naming the variable."""
    raw = os.environ.get(VERIFY_ENV, "").strip().lower()
    if raw == "" or raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{VERIFY_ENV}={raw!r}: expected true or false")


def max_bytes() -> int:
    """Largest artifact the operator fetches (``STREAMFLOW_ARTIFACT_MAX_BYTES``, default 32 MiB)."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{MAX_BYTES_ENV}={raw!r}: expected a positive number of bytes")
    return int(raw)


def cache_dir() -> Path:
    """``STREAMFLOW_ARTIFACT_CACHE``, else a directory under the temp dir (an emptyDir in the chart)."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    return Path(raw) if raw else Path(tempfile.gettempdir()) / "streamflow-artifacts"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _too_large(uri: str, size: int, limit: int) -> Verdict:
    return Verdict(
        "False",
        "ArtifactTooLarge",
        f"spec.artifact {uri} has {size} bytes, more than the operator's limit of {limit} ({MAX_BYTES_ENV})",
    )


def _local_file(uri: str, limit: int) -> Path:
    path = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    not_visible = (
        "the job verifies sha256 and feature schema when it loads the model (mount the artifact into the "
        f"operator too, or use https://, to have it checked here; {VERIFY_ENV}=false turns checks off)"
    )
    try:
        if not path.exists():
            raise ArtifactFetchError(
                Verdict(
                    "Unknown",
                    "NotVisibleToOperator",
                    f"{path} is not in the operator's filesystem; {not_visible}",
                )
            )
        if not path.is_file():
            raise ArtifactFetchError(
                Verdict("False", "ArtifactInvalid", f"spec.artifact {uri} is not a regular file")
            )
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except PermissionError:
        raise ArtifactFetchError(
            Verdict(
                "Unknown", "NotVisibleToOperator", f"{path} is not readable by the operator; {not_visible}"
            )
        ) from None
    if size > limit:
        raise ArtifactFetchError(_too_large(uri, size, limit))
    return path


def _trim_cache(directory: Path, keep: Path, budget: int) -> None:
    """Remove the least recently written entries beyond ``budget`` bytes (never ``keep``)."""
    entries = sorted(
        (p for p in directory.glob("*.bin") if p != keep), key=lambda p: p.stat().st_mtime, reverse=True
    )
    total = keep.stat().st_size
    for entry in entries:
        total += entry.stat().st_size
        if total > budget:
            entry.unlink(missing_ok=True)


def _download(uri: str, sha256: str, limit: int, timeout: float) -> Path:
    directory = cache_dir()
    # The digest names the content; the URL part proves that *this* URL served it, as the job will fetch it.
    cached = directory / f"{sha256}-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.bin"
    if cached.is_file() and _digest(cached) == sha256:
        return cached
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".download-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(uri, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise ArtifactFetchError(_too_large(uri, int(declared), limit))
            size = 0
            digest = hashlib.sha256()
            for block in iter(lambda: response.read(_BLOCK), b""):
                size += len(block)
                if size > limit:
                    raise ArtifactFetchError(_too_large(uri, size, limit))
                digest.update(block)
                out.write(block)
        actual = digest.hexdigest()
        if actual != sha256:
            raise ArtifactFetchError(
                Verdict(
                    "False",
                    "ArtifactDigestMismatch",
                    f"spec.artifact: sha256 mismatch for {uri}: expected {sha256}, got {actual} "
                    "(tampered or stale)",
                )
            )
        tmp.replace(cached)
    except urllib.error.HTTPError as exc:
        raise ArtifactFetchError(
            Verdict("False", "ArtifactUnreachable", f"spec.artifact: GET {uri}: HTTP {exc.code} {exc.reason}")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ArtifactFetchError(
            Verdict("False", "ArtifactUnreachable", f"spec.artifact: cannot download {uri}: {why}")
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    _trim_cache(directory, cached, _CACHE_BUDGET_FILES * limit)
    return cached


def fetch_artifact(uri: str, sha256: str) -> Path:
    """A local, size-checked copy of the artifact; raises ArtifactFetchError carrying the verdict otherwise.

    ``file://`` paths are used in place; ``https://`` goes through the digest- and URL-keyed cache, so a
    verified artifact is downloaded once per cache, however often it is re-verified.
    """
    limit = max_bytes()
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "file":
        return _local_file(uri, limit)
    if scheme == "https":
        return _download(uri, sha256.lower(), limit, env_seconds(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    raise ArtifactFetchError(
        Verdict(
            "False", "ArtifactUnreachable", f"spec.artifact {uri}: only file:// and https:// are supported"
        )
    )


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
    uri = spec.artifact.uri
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
        path = fetch_artifact(uri, spec.artifact.sha256)
    except ArtifactFetchError as exc:
        return exc.verdict
    try:
        loaded = load_model(
            str(path), expected_sha256=spec.artifact.sha256, expected_schema_id=FEATURE_SCHEMA_ID
        )
    except ModelLoadError as exc:
        message = str(exc).replace(str(path), uri)
        return Verdict("False", _classify(message), f"spec.artifact: {message}")
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        return Verdict("False", "ArtifactInvalid", f"spec.artifact {uri} is no loadable model: {exc}")
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
    if not verification_enabled():
        return Verdict(
            "Unknown", "VerificationDisabled", f"{VERIFY_ENV}=false: the job verifies the artifact at load"
        )
    uid = model.metadata.uid
    key = (uid or "", model.metadata.generation)
    if uid is not None:
        with _verdicts_lock:
            cached = _verdicts.get(key)
        if cached is not None:
            return cached
    verdict = _verify(model)
    if uid is not None and verdict.reason in _FINAL_REASONS:
        with _verdicts_lock:
            if len(_verdicts) >= _MAX_VERDICTS:
                _verdicts.clear()
            _verdicts[key] = verdict
    return verdict
