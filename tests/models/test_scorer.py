"""The compiled scorer equals scikit-learn, and loading refuses what it must not score with."""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.scorer import CompiledModel, ModelLoadError, compile_model, load_model
from fraud_models.training import make_estimator, sklearn_scores

N_FEATURES = len(FEATURE_NAMES)
ROWS = 10_000


def _data(seed: int, rows: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, N_FEATURES)) * rng.uniform(0.1, 100, size=N_FEATURES)
    X[:, 0] = np.abs(X[:, 0])
    logit = X[:, 0] / 40 + X[:, 5] / 30 - X[:, 9] / 50 + rng.normal(size=rows)
    return X, (logit > 2.0).astype(np.int8)


CASES: list[tuple[str, list[int], dict[str, Any]]] = [
    ("isolation_forest", list(range(N_FEATURES)), {"n_estimators": 30}),
    ("isolation_forest", [0, 2, 5, 9, 11], {"max_features": 0.6, "n_estimators": 40}),
    ("logistic_regression", list(range(N_FEATURES)), {}),
    ("hist_gradient_boosting", list(range(0, N_FEATURES, 2)), {"max_iter": 25}),
]


@pytest.mark.parametrize(("algorithm", "columns", "params"), CASES)
def test_compiled_scores_equal_sklearn(algorithm: str, columns: list[int], params: dict[str, Any]) -> None:
    X, y = _data(1, 3000)
    estimator = make_estimator(algorithm, params)
    if algorithm == "isolation_forest":
        estimator.fit(X[:, columns])
    else:
        estimator.fit(X[:, columns], y)
    model = CompiledModel.from_bytes(
        compile_model(estimator, algorithm=algorithm, columns=columns, version="t").to_bytes()
    )
    X_test, _ = _data(2, ROWS)
    if algorithm == "hist_gradient_boosting":
        X_test[::13, columns[1]] = np.nan  # missing values follow the trees' learned direction
    reference = sklearn_scores(estimator, algorithm, X_test[:, columns])
    batch = model.score_batch(X_test)
    single = np.array([model.score(row) for row in X_test.tolist()])
    assert np.max(np.abs(batch - reference)) <= 1e-9
    assert np.max(np.abs(single - reference)) <= 1e-9
    assert ((single >= 0) & (single <= 1)).all()
    assert reference.std() > 0  # a constant model would make the comparison meaningless


def test_batches_with_and_without_missing_values_equal_sklearn() -> None:
    # Trained with missing values, so nodes send NaN both ways; the batch path checks NaN per chunk,
    # so rows with NaN only at the start exercise both code paths in one call (2,500 rows: a partial chunk).
    X, y = _data(5, 4000)
    X[::7, 3] = np.nan
    X[::11, 9] = np.nan
    estimator = make_estimator("hist_gradient_boosting", {"max_iter": 60, "max_leaf_nodes": 31}).fit(X, y)
    model = compile_model(
        estimator, algorithm="hist_gradient_boosting", columns=list(range(N_FEATURES)), version="t"
    )
    assert model.arrays["missing_left"].any() and not model.arrays["missing_left"].all()
    X_test, _ = _data(6, 2500)
    X_test[:300:3, 3] = np.nan
    X_test[:300:5, 9] = np.nan
    reference = sklearn_scores(estimator, "hist_gradient_boosting", X_test)
    assert np.max(np.abs(model.score_batch(X_test) - reference)) <= 1e-9
    assert np.max(np.abs(model.score_batch(X_test[300:]) - reference[300:])) <= 1e-9  # no NaN at all
    assert np.max(np.abs(model.score_batch(X_test[:1]) - reference[:1])) <= 1e-9


def test_scores_refuse_wrong_shapes_and_nan() -> None:
    X, _ = _data(3, 500)
    model = compile_model(
        make_estimator("isolation_forest", {"n_estimators": 5}).fit(X),
        algorithm="isolation_forest",
        columns=list(range(N_FEATURES)),
        version="t",
    )
    with pytest.raises(ValueError, match=f"expected {N_FEATURES} features"):
        model.score([1.0, 2.0])
    with pytest.raises(ValueError, match="is NaN"):
        model.score([float("nan")] * N_FEATURES)
    with pytest.raises(ValueError, match="shape"):
        model.score_batch(np.zeros((3, 4)))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, CompiledModel]:
    X, y = _data(4, 2000)
    estimator = make_estimator("logistic_regression").fit(X, y)
    model = compile_model(
        estimator, algorithm="logistic_regression", columns=list(range(N_FEATURES)), version="v1"
    )
    path = tmp_path_factory.mktemp("model") / "model.npz"
    sha = model.save(path)
    return path, sha, model


def test_an_artifact_has_the_same_bytes_whenever_it_is_written(
    artifact: tuple[Path, str, CompiledModel],
) -> None:
    path, sha, model = artifact
    data = path.read_bytes()
    # no wall-clock time inside: every zip entry carries the fixed date, so a retrain reproduces the digest
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.namelist()[0] == "meta.npy"
    assert model.to_bytes() == data and hashlib.sha256(data).hexdigest() == sha
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:  # still a plain npz
        assert set(npz.files) == {"meta", *model.arrays}


def test_load_model_accepts_the_right_digest_and_schema(artifact: tuple[Path, str, CompiledModel]) -> None:
    path, sha, model = artifact
    loaded = load_model(path.as_uri(), expected_sha256=sha, expected_schema_id=FEATURE_SCHEMA_ID)
    row = [float(v) for v in range(N_FEATURES)]
    assert loaded.score(row) == model.score(row)
    assert (loaded.version, loaded.feature_schema_id) == ("v1", FEATURE_SCHEMA_ID)


def test_load_model_refuses_a_tampered_artifact(
    artifact: tuple[Path, str, CompiledModel], tmp_path: Path
) -> None:
    path, sha, _ = artifact
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / "model.npz"
    tampered.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256 mismatch"):
        load_model(str(tampered), expected_sha256=sha, expected_schema_id=FEATURE_SCHEMA_ID)


def test_load_model_refuses_another_feature_schema(artifact: tuple[Path, str, CompiledModel]) -> None:
    path, sha, _ = artifact
    with pytest.raises(ModelLoadError, match="feature schema mismatch"):
        load_model(str(path), expected_sha256=sha, expected_schema_id="0000000000000000")


def _rewrite(model: CompiledModel, **meta: Any) -> bytes:
    buffer = io.BytesIO()
    new_meta = {**model.meta, **meta}
    np.savez(buffer, meta=np.frombuffer(json.dumps(new_meta).encode(), np.uint8), **model.arrays)
    return buffer.getvalue()


def test_load_model_refuses_unsupported_algorithm_and_garbage(
    artifact: tuple[Path, str, CompiledModel], tmp_path: Path
) -> None:
    _, _, model = artifact
    forest = tmp_path / "forest.npz"
    forest.write_bytes(_rewrite(model, algorithm="random_forest"))
    with pytest.raises(ModelLoadError, match="unsupported algorithm 'random_forest'"):
        load_model(str(forest), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="unreadable model artifact"):
        load_model(str(garbage), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID)
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(str(tmp_path / "missing.npz"), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID)


def test_load_model_refuses_inconsistent_arrays(tmp_path: Path) -> None:
    X, _ = _data(5, 300)
    model = compile_model(
        make_estimator("isolation_forest", {"n_estimators": 3}).fit(X),
        algorithm="isolation_forest",
        columns=list(range(N_FEATURES)),
        version="t",
    )
    arrays = dict(model.arrays)
    arrays["children"] = arrays["children"] + 10_000  # points outside the node table
    broken = CompiledModel.__new__(CompiledModel)
    broken.meta, broken.arrays = model.meta, arrays
    path = tmp_path / "broken.npz"
    path.write_bytes(CompiledModel.to_bytes(broken))
    with pytest.raises(ModelLoadError, match="inconsistent"):
        load_model(str(path), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID)
    loop = dict(model.arrays)
    loop["children"] = np.zeros_like(model.arrays["children"])  # every node points back to the root
    broken.arrays = loop
    path.write_bytes(CompiledModel.to_bytes(broken))
    with pytest.raises(ModelLoadError, match="inconsistent"):
        load_model(str(path), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID)
    path.write_bytes(_rewrite(model, offset=None))
    with pytest.raises(ModelLoadError, match="incomplete or corrupt"):
        load_model(str(path), expected_sha256=None, expected_schema_id=FEATURE_SCHEMA_ID)


def test_isolation_forest_path_lengths_are_sklearns_with_the_c_librarys_log() -> None:
    """The artifact's leaf values and offset take ``c(n)`` from math.log, not numpy's CPU-dependent vectorised
    log (AVX-512 or not), so retraining gives the same bytes on any machine; the values stay sklearn's."""
    from fraud_models import scorer
    from sklearn.ensemble._iforest import _average_path_length as sklearn_c

    sizes = [0, 1, 2, 3, 4, 10, 255, 256, 1000, 12_345]
    ours = [scorer._average_path_length(n) for n in sizes]
    assert np.allclose(ours, sklearn_c(np.array(sizes)), rtol=1e-14, atol=0)
    assert ours[:3] == [0.0, 0.0, 1.0]
    assert ours[3] == 2.0 * (math.log(2.0) + np.euler_gamma) - 2.0 * 2.0 / 3.0
