"""The artifact check in a child process gives what ``load_model`` gives, and the caller imports no numpy."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.model_check import check
from fraud_models.scorer import compile_model
from fraud_models.training import make_estimator


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, len(FEATURE_NAMES)))
    y = (X[:, 0] > 0.5).astype(np.int8)
    estimator = make_estimator("logistic_regression", {}).fit(X, y)
    columns = list(range(len(FEATURE_NAMES)))
    data = compile_model(estimator, algorithm="logistic_regression", columns=columns, version="c").to_bytes()
    path = tmp_path_factory.mktemp("model") / "model.npz"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def test_a_good_artifact_names_its_algorithm(artifact: tuple[Path, str]) -> None:
    path, digest = artifact
    outcome = check(str(path), sha256=digest, schema_id=FEATURE_SCHEMA_ID, timeout_s=60)
    assert (outcome.algorithm, outcome.error) == ("logistic_regression", None)


def test_load_model_refusals_come_back_with_its_message(artifact: tuple[Path, str]) -> None:
    path, digest = artifact
    wrong = check(str(path), sha256="0" * 64, schema_id=FEATURE_SCHEMA_ID, timeout_s=60)
    assert wrong.refused and wrong.algorithm is None
    assert wrong.error is not None and "sha256 mismatch" in wrong.error
    schema = check(str(path), sha256=digest, schema_id="another-schema", timeout_s=60)
    assert schema.refused and schema.error is not None and "feature schema mismatch" in schema.error


def test_bytes_that_are_no_model_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(b"not a zip file")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    outcome = check(str(path), sha256=digest, schema_id=FEATURE_SCHEMA_ID, timeout_s=60)
    assert outcome.algorithm is None and outcome.refused
    assert outcome.error is not None and "unreadable model artifact" in outcome.error


def test_a_child_slower_than_the_timeout_is_a_timeout(artifact: tuple[Path, str]) -> None:
    path, digest = artifact
    with pytest.raises(TimeoutError, match=r"longer than 0\.01 s"):
        check(str(path), sha256=digest, schema_id=FEATURE_SCHEMA_ID, timeout_s=0.01)


def test_checking_imports_no_numpy_in_the_caller(artifact: tuple[Path, str]) -> None:
    path, digest = artifact
    code = (
        "import sys\n"
        "from fraud_models.model_check import check\n"
        f"outcome = check({str(path)!r}, sha256={digest!r}, schema_id={FEATURE_SCHEMA_ID!r}, timeout_s=60)\n"
        "print(outcome.algorithm, 'numpy' in sys.modules)\n"
    )
    argv = [sys.executable, "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == ["logistic_regression", "False"]
