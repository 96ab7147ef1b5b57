"""Artifact verification, each branch on real artifacts: local files, and a real HTTPS server with a CA."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fraud_operator.api.model import FraudModel
from fraud_operator.handlers.artifacts import Verdict, artifact_verdict
from fraud_operator.settings import (
    ARTIFACT_CACHE,
    ARTIFACT_MAX_BYTES,
    ARTIFACT_TIMEOUT_SECONDS,
    VERIFY_ARTIFACTS,
)

from tests.operator.handlers.model_artifacts import compiled_artifact, model_doc
from tests.support.https_server import ArtifactServer, serve_https

VERIFY_ENV = VERIFY_ARTIFACTS.name
MAX_BYTES_ENV = ARTIFACT_MAX_BYTES.name
TIMEOUT_ENV = ARTIFACT_TIMEOUT_SECONDS.name
CACHE_ENV = ARTIFACT_CACHE.name
_uids = itertools.count()


def _verdict(doc: dict[str, Any], *, uid: str | None = None) -> Verdict:
    """Verify as the operator does; a fresh uid per call unless given, so no cached verdict is reused."""
    body = {**doc, "metadata": {**doc["metadata"], "uid": uid or f"uid-{next(_uids)}", "generation": 1}}
    return artifact_verdict(FraudModel.model_validate(body))


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(VERIFY_ENV, raising=False)
    monkeypatch.delenv(MAX_BYTES_ENV, raising=False)
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactServer]:
    with serve_https(tmp_path_factory.mktemp("https")) as server:
        yield server


@pytest.fixture
def trusted(https: ArtifactServer, monkeypatch: pytest.MonkeyPatch) -> ArtifactServer:
    monkeypatch.setenv("SSL_CERT_FILE", str(https.ca_file))
    return https


@pytest.fixture
def artifact(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "models" / "a" / "model.npz"
    return path, compiled_artifact(path, "a", seed=1)


def test_verification_is_on_by_default_and_a_bad_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert VERIFY_ARTIFACTS.value()
    monkeypatch.setenv(VERIFY_ENV, "FALSE")
    assert not VERIFY_ARTIFACTS.value()
    monkeypatch.setenv(VERIFY_ENV, "sometimes")
    with pytest.raises(ValueError, match=VERIFY_ENV):
        VERIFY_ARTIFACTS.value()


def test_switched_off_nothing_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(VERIFY_ENV, "false")
    verdict = _verdict(model_doc("m", (tmp_path / "absent.npz").as_uri(), "0" * 64, featureSchemaId="other"))
    assert (verdict.status, verdict.reason) == ("Unknown", "VerificationDisabled")
    assert not verdict.rejected


def test_visible_file_is_verified(artifact: tuple[Path, str]) -> None:
    path, sha = artifact
    verdict = _verdict(model_doc("m", path.as_uri(), sha))
    assert (verdict.status, verdict.reason) == ("True", "Verified")
    assert "isolation_forest" in verdict.message


def test_file_the_operator_cannot_see_is_reported_not_rejected(tmp_path: Path) -> None:
    uri = "file:///opt/streamflow/models/not-mounted-here/model.npz"
    verdict = _verdict(model_doc("m", uri, "0" * 64))
    assert (verdict.status, verdict.reason) == ("Unknown", "NotVisibleToOperator")
    assert not verdict.rejected
    assert "/opt/streamflow/models/not-mounted-here/model.npz" in verdict.message
    assert "job verifies" in verdict.message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"featureSchemaId": "0123456789abcdef"}, "FeatureSchemaMismatch"),
        ({"algorithm": "random_forest"}, "AlgorithmUnsupported"),
        ({"algorithm": "logistic_regression"}, "AlgorithmMismatch"),
    ],
)
def test_spec_that_does_not_fit_the_detector_is_rejected(
    artifact: tuple[Path, str], change: dict[str, Any], reason: str
) -> None:
    path, sha = artifact
    verdict = _verdict(model_doc("m", path.as_uri(), sha, **change))
    assert (verdict.status, verdict.reason) == ("False", reason)
    assert verdict.rejected


def test_tampered_and_corrupt_files_are_rejected(artifact: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = artifact
    digest = _verdict(model_doc("m", path.as_uri(), "f" * 64))
    assert (digest.status, digest.reason) == ("False", "ArtifactDigestMismatch")
    assert sha in digest.message, "the message names the digest actually found"
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a model at all")
    corrupt = _verdict(model_doc("m", junk.as_uri(), hashlib.sha256(junk.read_bytes()).hexdigest()))
    assert (corrupt.status, corrupt.reason) == ("False", "ArtifactInvalid")
    directory = _verdict(model_doc("m", tmp_path.as_uri() + "/", "0" * 64))
    assert (directory.status, directory.reason) == ("False", "ArtifactInvalid")


def test_size_limit_applies_to_files_and_downloads(
    artifact: tuple[Path, str], trusted: ArtifactServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, sha = artifact
    trusted.files["big/model.npz"] = path.read_bytes()
    monkeypatch.setenv(MAX_BYTES_ENV, "100")
    local = _verdict(model_doc("m", path.as_uri(), sha))
    remote = _verdict(model_doc("m", trusted.url("big/model.npz"), sha))
    for verdict in (local, remote):
        assert (verdict.status, verdict.reason) == ("False", "ArtifactTooLarge")
        assert MAX_BYTES_ENV in verdict.message
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match=MAX_BYTES_ENV):
        _verdict(model_doc("m", path.as_uri(), sha))


def test_https_artifact_is_downloaded_once_into_the_sha256_cache(
    artifact: tuple[Path, str], trusted: ArtifactServer, cache: Path
) -> None:
    path, sha = artifact
    trusted.files["v1/model.npz"] = path.read_bytes()
    doc = model_doc("m", trusted.url("v1/model.npz"), sha)
    first, second = _verdict(doc), _verdict(doc)
    assert (first.status, first.reason) == ("True", "Verified")
    assert second == first
    assert trusted.requests["v1/model.npz"] == 1, "the second verification read the cache"
    assert [p.name.split("-")[0] for p in cache.iterdir()] == [sha]

    trusted.files["elsewhere/model.npz"] = path.read_bytes() + b"\0"
    other_url = _verdict(model_doc("m", trusted.url("elsewhere/model.npz"), sha))
    assert other_url.reason == "ArtifactDigestMismatch", "a cached digest does not vouch for another URL"


def test_https_failures_are_rejected_and_unreachable_is_retried(
    artifact: tuple[Path, str], trusted: ArtifactServer, cache: Path
) -> None:
    path, sha = artifact
    tampered = path.read_bytes() + b"\0"
    trusted.files["tampered/model.npz"] = tampered
    digest = _verdict(model_doc("m", trusted.url("tampered/model.npz"), sha))
    assert (digest.status, digest.reason) == ("False", "ArtifactDigestMismatch")
    assert hashlib.sha256(tampered).hexdigest() in digest.message
    assert not list(cache.glob("*.bin")), "a download that fails its digest is not cached"

    doc = model_doc("m", trusted.url("later/model.npz"), sha)
    missing = _verdict(doc, uid="same-model")
    assert (missing.status, missing.reason) == ("False", "ArtifactUnreachable")
    assert "HTTP 404" in missing.message
    trusted.files["later/model.npz"] = path.read_bytes()
    assert _verdict(doc, uid="same-model").reason == "Verified", "an unreachable verdict is not kept"


def test_untrusted_certificate_is_unreachable(artifact: tuple[Path, str], https: ArtifactServer) -> None:
    path, sha = artifact
    https.files["x/model.npz"] = path.read_bytes()
    verdict = _verdict(model_doc("m", https.url("x/model.npz"), sha))
    assert (verdict.status, verdict.reason) == ("False", "ArtifactUnreachable")
    assert "CERTIFICATE_VERIFY_FAILED" in verdict.message


def test_streamed_size_timeout_and_url_tokens(
    artifact: tuple[Path, str], trusted: ArtifactServer, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    path, sha = artifact
    trusted.files["unsized/model.npz"] = path.read_bytes()
    trusted.unsized.add("unsized/model.npz")
    monkeypatch.setenv(MAX_BYTES_ENV, "100")
    streamed = _verdict(model_doc("m", trusted.url("unsized/model.npz"), sha))
    assert (streamed.status, streamed.reason) == ("False", "ArtifactTooLarge")
    assert "has more than 100 bytes" in streamed.message, "no Content-Length: refused on the bytes streamed"
    assert not list(cache.glob("*.bin"))

    monkeypatch.delenv(MAX_BYTES_ENV)
    monkeypatch.setenv(TIMEOUT_ENV, "1")
    trusted.stalled.add("stalled/model.npz")
    stalled = _verdict(model_doc("m", trusted.url("stalled/model.npz"), sha))
    assert (stalled.status, stalled.reason) == ("False", "ArtifactUnreachable")
    assert "timed out" in stalled.message

    trusted.files["signed/model.npz"] = path.read_bytes()
    signed = _verdict(model_doc("m", trusted.url("signed/model.npz") + "?X-Amz-Signature=s3cr3t", sha))
    assert (signed.status, signed.reason) == ("True", "Verified")
    assert trusted.url("signed/model.npz") in signed.message and "s3cr3t" not in signed.message
    missing = _verdict(model_doc("m", trusted.url("gone/model.npz") + "?token=s3cr3t", sha))
    assert (missing.reason, "s3cr3t" in missing.message) == ("ArtifactUnreachable", False)
