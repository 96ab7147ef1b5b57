"""The JVM model scorer (``io.streamflow.detector.ModelScorer``) against ``fraud_models.scorer``.

Every algorithm the project compiles (hist_gradient_boosting, isolation_forest, logistic_regression) is
trained small on random data, compiled and saved; so are hand-built node tables that reach what training
rarely does: 8,200 trees in one depth group (numpy sums a row in blocks of 8,192), leaves that do not loop to
themselves and unsorted roots (which ``_tree_depths`` reads with ``reduceat``), and artifacts in every dtype
and npy version the reader takes. 24,000 rows, NaN features and extreme values included, go through
``tools.ScoreCheck`` (one JVM for all models) and through the production path ``score_rows``:

* the rows a model refuses (NaN for isolation_forest and logistic_regression) are the same, with the same
  message;
* the leaf-value total of every tree model equals Python's ``_batch_totals`` bit for bit: the walk, the NaN
  routing, float32 input rounding and numpy's pairwise summation are reproduced exactly;
* every score equals ``fraud_models.portable_math``'s link function (and the linear model's term-by-term sum)
  on those totals bit for bit;
* so every score equals ``score_batch``'s bit for bit: it uses the same link functions, not ``np.exp`` or
  ``2.0 ** y`` (SVML on an AVX-512 CPU, the C library elsewhere: no Java function can match both), and sums
  the linear terms left to right, not in a BLAS ``@``'s CPU-dependent order.

The refusals of ``load_model`` (sha256, schema, corrupt, incomplete, inconsistent artifacts) are refusals in
Java with the same message, and ``PortableMath`` equals ``portable_math`` on about 400,000 doubles.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pytest
from fraud_jobs.flink.jvm import java_main
from fraud_jobs.scoring import score_rows
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.portable_math import exp2_array, exp_array, log_array, sigmoid_array
from fraud_models.scorer import SUPPORTED_ALGORITHMS, CompiledModel, ModelLoadError, compile_model, load_model
from fraud_models.training import feature_columns, make_estimator

# The extreme rows overflow on purpose (float32 casts, linear terms): numpy's warnings say so, nothing more.
pytestmark = pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)

_MAIN: Final = "io.streamflow.detector.tools.ScoreCheck"
_NF: Final = len(FEATURE_NAMES)
_NAN_ERROR: Final = "ValueError: NaN in the model's input features"
Float64Array = npt.NDArray[np.float64]


# ----------------------------------------------------------------------------------------------------------
# models


def _training_data(rng: np.random.Generator, n: int) -> tuple[Float64Array, npt.NDArray[np.int64]]:
    x = rng.normal(size=(n, _NF)) * np.exp(rng.normal(size=(n, _NF)))
    y = (x[:, 0] + x[:, 5] + rng.normal(scale=1.5, size=n) > 1.5).astype(np.int64)
    return x, y


def _trained(rng: np.random.Generator) -> dict[str, CompiledModel]:
    x, y = _training_data(rng, 3000)
    x_nan = x.copy()
    x_nan[rng.random(x.shape) < 0.1] = np.nan  # gradient boosting learns where NaN goes per node
    every = list(range(_NF))
    book = feature_columns("book")
    models = {
        "hgb": compile_model(
            make_estimator("hist_gradient_boosting", {"max_iter": 120}).fit(x_nan, y),
            algorithm="hist_gradient_boosting",
            columns=every,
            version="hgb",
        ),
        "hgb_book_deep": compile_model(
            make_estimator(
                "hist_gradient_boosting", {"max_iter": 25, "max_leaf_nodes": 40, "min_samples_leaf": 5}
            ).fit(x_nan[:, book], y),
            algorithm="hist_gradient_boosting",
            columns=book,
            version="hgb-book-deep",
        ),
        "iforest": compile_model(
            make_estimator("isolation_forest", {"n_estimators": 300}).fit(x),
            algorithm="isolation_forest",
            columns=every,
            version="iforest",
        ),
        "iforest_small": compile_model(
            make_estimator(
                "isolation_forest", {"n_estimators": 5, "max_samples": 32, "max_features": 0.5}
            ).fit(x[:, book]),
            algorithm="isolation_forest",
            columns=book,
            version="iforest-small",
        ),
        "logistic": compile_model(
            make_estimator("logistic_regression").fit(x[:, feature_columns("label_free")], y),
            algorithm="logistic_regression",
            columns=feature_columns("label_free"),
            version="logistic",
        ),
    }
    assert {m.algorithm for m in models.values()} == set(SUPPORTED_ALGORITHMS)
    return models


def _meta(algorithm: str, offset: float, **extra: Any) -> dict[str, Any]:
    return {
        "format": "streamflow-compiled-model/1",
        "algorithm": algorithm,
        "version": f"synthetic-{algorithm}",
        "feature_schema_id": FEATURE_SCHEMA_ID,
        "n_features": _NF,
        "offset": offset,
        "input_float32": False,
        **extra,
    }


def _random_forest(rng: np.random.Generator, trees: int, max_depth: int, irregular: bool) -> CompiledModel:
    """Random node tables; ``irregular``: some leaves point elsewhere, roots out of order and repeated."""
    feature: list[int] = []
    threshold: list[float] = []
    children: list[list[int]] = []
    missing_left: list[int] = []
    value: list[float] = []
    roots: list[int] = []

    def grow(depth: int) -> int:
        i = len(feature)
        feature.append(-1)
        threshold.append(0.0)
        children.append([i, i])
        missing_left.append(int(rng.integers(2)))
        value.append(0.0)
        if depth < max_depth and rng.random() < 0.75:
            feature[i] = int(rng.integers(_NF))
            threshold[i] = float(rng.normal() * 2)
            left = grow(depth + 1)
            children[i] = [left, grow(depth + 1)]
        else:
            value[i] = float(rng.normal() * 10.0 ** rng.integers(-6, 7))
        return i

    for _ in range(trees):
        roots.append(len(feature))
        grow(0)
    n = len(feature)
    if irregular:
        for i in range(n):
            if feature[i] < 0 and rng.random() < 0.3:
                children[i] = [int(rng.integers(n)), int(rng.integers(n))]
        roots = [int(r) for r in rng.permutation(roots)] + roots[:3]
    arrays = {
        "feature": np.asarray(feature, dtype=np.int32),
        "threshold": np.asarray(threshold),
        "children": np.asarray(children, dtype=np.int32),
        "missing_left": np.asarray(missing_left, dtype=np.uint8),
        "value": np.asarray(value),
        "roots": np.asarray(roots, dtype=np.int32),
    }
    return CompiledModel(_meta("hist_gradient_boosting", -0.25), arrays)


def _stumps(rng: np.random.Generator, trees: int) -> CompiledModel:
    """``trees`` one-split trees in one depth group, leaf values over 24 orders of magnitude."""
    roots = np.arange(trees, dtype=np.int32) * 3
    feature = np.full(3 * trees, -1, dtype=np.int32)
    feature[roots] = rng.integers(_NF, size=trees)
    threshold = np.zeros(3 * trees)
    threshold[roots] = rng.normal(size=trees)
    own = np.arange(3 * trees, dtype=np.int32)
    children = np.stack([own, own], axis=1)
    children[roots] = np.stack([roots + 1, roots + 2], axis=1)
    value = np.where(feature < 0, rng.normal(size=3 * trees) * 10.0 ** rng.integers(-12, 12, 3 * trees), 0.0)
    arrays = {
        "feature": feature,
        "threshold": threshold,
        "children": children,
        "missing_left": rng.integers(2, size=3 * trees).astype(np.uint8),
        "value": value,
        "roots": roots,
    }
    return CompiledModel(_meta("hist_gradient_boosting", 0.5), arrays)


def _write_npz(
    path: Path,
    meta: dict[str, Any],
    arrays: dict[str, npt.NDArray[Any]],
    *,
    version: tuple[int, int] = (1, 0),
) -> Path:
    """An artifact as np.savez_compressed writes one (deflated entries), npy headers of ``version``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        payload = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays}
        for name, array in payload.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), version=version, allow_pickle=False)  # type: ignore[no-untyped-call]
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[CompiledModel, Path]]:
    rng = np.random.default_rng(20240517)
    work = tmp_path_factory.mktemp("scorer")
    compiled = _trained(rng)
    compiled["stumps_8200"] = _stumps(rng, 8200)
    compiled["random_regular"] = _random_forest(rng, 60, 9, irregular=False)
    compiled["random_irregular"] = _random_forest(rng, 60, 9, irregular=True)
    out = {}
    for name, model in compiled.items():
        path = work / f"{name}.npz"
        model.save(path)
        out[name] = (model, path)
    # The same models in other dtypes, npy format 2.0 and deflated entries: Python and Java read them alike.
    hgb = compiled["hgb"]
    wide = dict(hgb.arrays)
    wide.update(
        feature=wide["feature"].astype(np.int64),
        children=wide["children"].astype(np.int64),
        roots=wide["roots"].astype(np.int16),
        missing_left=wide["missing_left"].astype(np.bool_),
    )
    path = _write_npz(work / "hgb_wide.npz", hgb.meta, wide, version=(2, 0))
    out["hgb_wide"] = (CompiledModel.from_bytes(path.read_bytes()), path)
    logistic = compiled["logistic"]
    narrow = {
        k: (v.astype(np.float32) if v.dtype == np.float64 else v.astype(np.int8))
        for k, v in logistic.arrays.items()
    }
    path = _write_npz(work / "logistic_f4.npz", logistic.meta, narrow, version=(3, 0))
    out["logistic_f4"] = (CompiledModel.from_bytes(path.read_bytes()), path)
    return out


# ----------------------------------------------------------------------------------------------------------
# rows


def _rows(rng: np.random.Generator, models: Sequence[CompiledModel]) -> Float64Array:
    """24,000 rows: heavy-tailed, on and next to thresholds (and float32 roundings), extreme, NaN (last)."""
    base = rng.normal(size=(16_000, _NF)) * np.exp(rng.normal(size=(16_000, _NF)) * 1.5)
    near = rng.normal(size=(4_000, _NF))
    for row in near:
        model = models[int(rng.integers(len(models)))]
        if "feature" not in model.arrays:
            continue
        feature, threshold = model.arrays["feature"], model.arrays["threshold"]
        inner = np.flatnonzero(feature >= 0)
        for node in rng.choice(inner, size=min(6, len(inner)), replace=False):
            t = float(threshold[node])
            f32 = np.float32(t)
            up, down = np.nextafter(f32, np.float32(np.inf)), np.nextafter(f32, np.float32(-np.inf))
            row[feature[node]] = rng.choice(
                [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), float(f32), float(up), float(down),
                 (float(f32) + float(up)) / 2, (float(f32) + float(down)) / 2]
            )  # fmt: skip
    specials = np.array(
        [np.inf, -np.inf, 1e308, -1e308, 5e-324, -5e-324, 0.0, -0.0, 3.4028234663852886e38,
         3.4028235677973366e38, 3.402823567797337e38, 1.401298464324817e-45, 7e-46, 1e-300, 2.0**1023]
    )  # fmt: skip
    extreme = rng.normal(size=(2_000, _NF))
    mask = rng.random(extreme.shape) < 0.3
    extreme[mask] = rng.choice(specials, size=int(np.count_nonzero(mask)))
    with_nan = rng.normal(size=(2_000, _NF)) * 3
    for row in with_nan:
        row[rng.choice(_NF, size=int(rng.integers(1, 6)), replace=False)] = np.nan
    return np.concatenate([base, near, extreme, with_nan])


def _java(paths: Sequence[Path], rows: Float64Array) -> list[list[tuple[float, float] | str]]:
    text = "\n".join(" ".join(f"{b:016x}" for b in row) for row in rows.view(np.uint64).tolist())
    out = java_main(_MAIN, *map(str, paths), stdin=text.encode()).decode()
    lines = out.split("\n")[:-1]
    assert len(lines) == len(rows)
    result: list[list[tuple[float, float] | str]] = [[] for _ in paths]
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == len(paths)
        for m, field in enumerate(fields):
            if field.startswith("error "):
                result[m].append("ValueError: " + field.removeprefix("error "))
            else:
                score, total = field.split(" ")
                result[m].append((_double(score), _double(total)))
    return result


def _double(hex_bits: str) -> float:
    return float(np.uint64(int(hex_bits, 16)).view(np.float64))


def _bits(values: Float64Array) -> npt.NDArray[np.uint64]:
    """IEEE bits, every NaN one pattern (NaN payloads are not part of a score)."""
    return np.where(np.isnan(values), np.float64(np.nan), values).view(np.uint64)


def _ulps(a: Float64Array, b: Float64Array) -> npt.NDArray[np.int64]:
    both_nan = np.isnan(a) & np.isnan(b)
    distance = np.abs(a.view(np.int64) - b.view(np.int64))
    return np.where(both_nan, 0, np.where(np.isnan(a) | np.isnan(b), np.iinfo(np.int64).max, distance))


def _python_totals(model: CompiledModel, rows: Float64Array) -> Float64Array:
    """The value before the link function: ``_batch_totals`` (trees), the term-by-term ``z`` (linear)."""
    if model.algorithm == "logistic_regression":
        sub = rows[:, model.arrays["columns"].astype(np.intp)]
        terms = (sub - model.arrays["mean"]) / model.arrays["scale"] * model.arrays["coef"]
        z = np.full(len(rows), model.offset)
        for j in range(terms.shape[1]):
            z += terms[:, j]
        return z
    data = rows.astype(np.float32).astype(np.float64) if model.input_float32 else rows
    return np.concatenate([model._batch_totals(data[s : s + 1024]) for s in range(0, len(data), 1024)])


def _portable_post(model: CompiledModel, totals: Float64Array) -> Float64Array:
    if model.algorithm == "logistic_regression":
        out = sigmoid_array(totals)
    elif model.algorithm == "isolation_forest":
        out = exp2_array(-totals / model.offset)
    else:
        out = sigmoid_array(model.offset + totals)
    return np.asarray(out, dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------
# tests


def test_java_scores_equal_python_bit_for_bit(models: dict[str, tuple[CompiledModel, Path]]) -> None:
    names = [n for n in models if n != "stumps_8200"]
    rows = _rows(np.random.default_rng(7), [models[n][0] for n in names])
    assert len(rows) >= 24_000
    checked = _check({n: models[n] for n in names}, rows)
    assert min(checked.values()) >= 20_000
    assert {models[n][0].algorithm for n in checked} == set(SUPPORTED_ALGORITHMS)


def test_java_sums_a_group_longer_than_numpys_buffer_like_numpy(
    models: dict[str, tuple[CompiledModel, Path]],
) -> None:
    """8,200 trees of one depth: numpy sums a row's 8,200 leaf values as two pairwise sums (8,192 + 8)."""
    model, path = models["stumps_8200"]
    assert [len(roots) for _, roots in model._b_groups] == [8200]
    rows = _rows(np.random.default_rng(8), [model])[::8]
    assert _check({"stumps_8200": (model, path)}, rows) == {"stumps_8200": len(rows)}


def _check(models: dict[str, tuple[CompiledModel, Path]], rows: Float64Array) -> dict[str, int]:
    """Java against Python for every model on ``rows``; the number of rows scored (not refused) per model."""
    names = list(models)
    compiled = [models[n][0] for n in names]
    java = _java([models[n][1] for n in names], rows)
    checked = {}
    for name, model, got in zip(names, compiled, java, strict=True):
        expected = [
            v for s in range(0, len(rows), 1024) for v in score_rows(model, rows[s : s + 1024].tolist())
        ]
        errors = [i for i, v in enumerate(expected) if isinstance(v, str)]
        assert [i for i, v in enumerate(got) if isinstance(v, str)] == errors, name
        assert all(expected[i] == got[i] == _NAN_ERROR for i in errors), name
        if model.algorithm in ("isolation_forest", "logistic_regression"):
            assert len(errors) > 1_000, name  # the NaN rows are refused, not scored
        else:
            assert not errors, name
        ok = np.setdiff1d(np.arange(len(rows)), errors)
        scores = np.array([got[i][0] for i in ok])
        totals = np.array([got[i][1] for i in ok])
        current = np.array([expected[i] for i in ok], dtype=np.float64)

        python_totals = _python_totals(model, rows[ok])
        assert np.array_equal(_bits(totals), _bits(python_totals)), f"{name}: totals differ"
        assert np.array_equal(_bits(scores), _bits(_portable_post(model, python_totals))), f"{name}: scores"

        assert np.array_equal(_bits(scores), _bits(current)), f"{name}: score_batch differs"
        checked[name] = len(ok)
    return checked


_COMBINER: Final = {"bias": -4.5, "model_weight": 0.9, "rule_weights": {"FR-001": 0.7}}


def test_java_reads_and_refuses_artifacts_like_load_model(
    models: dict[str, tuple[CompiledModel, Path]], tmp_path: Path
) -> None:
    hgb, hgb_path = models["hgb"]
    good = hgb.to_bytes()
    sha = hgb.save(tmp_path / "good.npz")
    lin = models["logistic"][0]

    meta, arrays, lin_meta, lin_arrays = hgb.meta, hgb.arrays, lin.meta, lin.arrays
    broken: dict[str, tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]] = {
        "not a compiled model": ({**meta, "format": "other/1"}, arrays),
        "no offset": ({k: v for k, v in meta.items() if k != "offset"}, arrays),
        "unsupported algorithm": ({**meta, "algorithm": "random_forest"}, arrays),
        "no value array": (meta, {k: v for k, v in arrays.items() if k != "value"}),
        "child out of range": (meta, {**arrays, "children": arrays["children"] + 5}),
        "child before parent": (meta, {**arrays, "children": np.zeros_like(arrays["children"])}),
        "feature out of range": (meta, {**arrays, "feature": arrays["feature"] + _NF}),
        "root out of range": (meta, {**arrays, "roots": arrays["roots"] - 1}),
        "short threshold": (meta, {**arrays, "threshold": arrays["threshold"][:-1]}),
        "linear sizes": (lin_meta, {**lin_arrays, "coef": lin_arrays["coef"][:-1]}),
        "linear column": (lin_meta, {**lin_arrays, "columns": lin_arrays["columns"] + _NF}),
        "23 features": ({**lin_meta, "n_features": _NF - 1}, {k: v[:-1] for k, v in lin_arrays.items()}),
        "combiner not an object": ({**meta, "combiner": [1.0]}, arrays),
        "combiner null": ({**meta, "combiner": None}, arrays),
        "combiner extra fields": ({**meta, "combiner": {**_COMBINER, "zeta": 1, "alpha": 2}}, arrays),
        "combiner without bias": ({**meta, "combiner": {"model_weight": 1.0}}, arrays),
        "combiner bias a string": ({**meta, "combiner": {**_COMBINER, "bias": "1"}}, arrays),
        "combiner bias a bool": ({**meta, "combiner": {**_COMBINER, "bias": True}}, arrays),
        "combiner weight too large": ({**meta, "combiner": {**_COMBINER, "model_weight": 10**400}}, arrays),
        "combiner rules a list": ({**meta, "combiner": {**_COMBINER, "rule_weights": []}}, arrays),
        "combiner takes no FR-006": (
            {**meta, "combiner": {**_COMBINER, "rule_weights": {"FR-001": 1.0, "FR-006": 1.0}}},
            arrays,
        ),
        "combiner rule code": ({**meta, "combiner": {**_COMBINER, "rule_weights": {"fr-1": 1.0}}}, arrays),
        "combiner rule weight": (
            {**meta, "combiner": {**_COMBINER, "rule_weights": {"FR-007": None}}},
            arrays,
        ),
    }
    cases: list[tuple[str, Path, str | None, str]] = [
        ("good", tmp_path / "good.npz", sha, FEATURE_SCHEMA_ID),
        ("good, no sha256", tmp_path / "good.npz", None, FEATURE_SCHEMA_ID),
        ("good, sha256 in capitals", tmp_path / "good.npz", sha.upper(), FEATURE_SCHEMA_ID),
        ("wrong sha256", tmp_path / "good.npz", "0" * 64, FEATURE_SCHEMA_ID),
        ("wrong schema", tmp_path / "good.npz", sha, "0123456789abcdef"),
    ]
    combined = _save(tmp_path / "combined.npz", {**meta, "combiner": _COMBINER}, arrays)
    cases.append(("good, with a combiner", combined, None, FEATURE_SCHEMA_ID))
    for i, (name, (m, a)) in enumerate(broken.items()):
        cases.append((name, _save(tmp_path / f"broken-{i}.npz", m, a), None, FEATURE_SCHEMA_ID))
    corrupt = {
        "truncated": good[: len(good) // 2],
        "flipped byte in an array": _flip(good, good.index(b"threshold.npy") + 200),
        "not a zip": b"garbage" * 100,
        "an object array besides": _with_object_array(good),
    }
    for name, data in corrupt.items():
        path = tmp_path / f"corrupt-{len(cases)}.npz"
        path.write_bytes(data)
        cases.append((name, path, None, FEATURE_SCHEMA_ID))
    (tmp_path / "empty.npz").write_bytes(b"")
    java_only = {  # accepted, or failing later (or not with ModelLoadError: EOFError) in Python
        "fortran order": {**arrays, "children": np.asfortranarray(arrays["children"])},
        "big-endian": {**arrays, "threshold": arrays["threshold"].astype(">f8")},
        "float32 leaf values": {**arrays, "value": arrays["value"].astype(np.float32)},
        "float32 thresholds": {**arrays, "threshold": arrays["threshold"].astype(np.float32)},
    }
    java_only_paths = [
        _save(tmp_path / f"java-only-{i}.npz", meta, a) for i, a in enumerate(java_only.values())
    ]
    java_only_paths.append(tmp_path / "empty.npz")
    lines = [f"{p}\t{s or '-'}\t{schema}" for _, p, s, schema in cases] + [
        f"{p}\t-\t{FEATURE_SCHEMA_ID}" for p in java_only_paths
    ]
    got = java_main(_MAIN, "--load", stdin="\n".join(lines).encode()).decode().split("\n")[:-1]
    assert len(got) == len(lines)
    for (name, path, expected_sha, schema), answer in zip(cases, got, strict=False):
        try:
            load_model(str(path), expected_sha256=expected_sha, expected_schema_id=schema)
        except ModelLoadError as exc:
            message = str(exc)
            if message.startswith("unreadable model artifact: "):  # the reader's own words differ
                assert answer.startswith("error unreadable model artifact: "), (name, answer)
            else:
                assert answer == f"error {message}", (name, answer)
        else:
            assert not name.startswith("combiner"), f"{name}: Python accepted it"
            assert answer.startswith("ok ModelScorer(hist_gradient_boosting hgb, "), (name, answer)
    refused = got[len(cases) :]
    assert all(answer.startswith("error ") for answer in refused), refused
    assert "Fortran" in refused[0] and "'>f8'" in refused[1], refused
    assert "'value' is <f4" in refused[2] and "'threshold' is <f4" in refused[3], refused
    assert refused[4] == "error unreadable model artifact: not a zip archive", refused
    assert hgb_path.exists()


def _save(path: Path, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> Path:
    """Write an artifact as to_bytes does, whatever the arrays (no validation)."""
    model = CompiledModel.__new__(CompiledModel)
    model.meta, model.arrays = meta, arrays
    path.write_bytes(model.to_bytes())
    return path


def _with_object_array(good: bytes) -> bytes:
    """The good artifact plus an object array (which needs a pickle to load)."""
    buffer = io.BytesIO(good)
    with zipfile.ZipFile(buffer, "a") as archive:
        inner = io.BytesIO()
        np.lib.format.write_array(inner, np.array([{"a": 1}], dtype=object), allow_pickle=True)  # type: ignore[no-untyped-call]
        archive.writestr("extra.npy", inner.getvalue())
    return buffer.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]


def test_portable_math_equals_java(models: dict[str, tuple[CompiledModel, Path]]) -> None:
    """fdlibm's exp and log in numpy against StrictMath's, and exp2 and the sigmoid built on exp, on about
    400,000 doubles: random bit patterns (NaN, infinities, subnormals), the scorer's ranges and the branch
    edges; for log also the combiner's odds (p / (1 - p) of scores in (0, 1)) and neighbours of sqrt(2)."""
    rng = np.random.default_rng(11)
    edges = [709.782712893384, -745.1332191019411, -708.3964185322641, 0.34657359027997264,
             1.0397207708399179, 2.0**-28, 1000.5, -1021.5, -1074.5, 1100.0, -1100.0]  # fmt: skip
    x = np.concatenate(
        [
            rng.integers(0, 2**64, 100_000, dtype=np.uint64).view(np.float64),
            rng.uniform(-800, 800, 60_000),
            rng.uniform(-40, 40, 60_000),
            rng.uniform(-3, 0, 60_000),
            rng.uniform(-1e-6, 1e-6, 20_000),
            rng.uniform(-1200, 1200, 49_000),
            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e308, -1e308]),
            np.array([np.nextafter(e * s, d) for e in edges for s in (1, -1) for d in (np.inf, -np.inf)]),
            np.array([e * s for e in edges for s in (1, -1)]),
            (lambda p: p / (1.0 - p))(rng.uniform(1e-9, 1.0 - 1e-9, 40_000)),
            np.sqrt(2.0)
            * 2.0 ** rng.integers(-1060, 1020, 2_000)
            * (1.0 + rng.uniform(-1e-12, 1e-12, 2_000)),
            1.0 + rng.uniform(-2e-6, 2e-6, 5_000),
        ]
    )
    text = "\n".join(f"{b:016x}" for b in x.view(np.uint64).tolist()).encode()
    functions: dict[str, Callable[[Float64Array], Float64Array]] = {
        "exp": exp_array, "exp2": exp2_array, "sigmoid": sigmoid_array, "log": log_array,
    }  # fmt: skip
    for name, function in functions.items():
        out = java_main(_MAIN, "--math", name, stdin=text).decode().split()
        java = np.array([int(v, 16) for v in out], dtype=np.uint64).view(np.float64)
        assert np.array_equal(_bits(java), _bits(function(x))), name
    # What numpy does instead: within 1 ulp of fdlibm, not equal to it (SVML or the C library).
    finite = x[np.isfinite(x) & (np.abs(x) < 700)]
    assert int(_ulps(np.exp(finite), exp_array(finite)).max()) <= 1
    assert int(_ulps(2.0 ** finite[np.abs(finite) < 3], exp2_array(finite[np.abs(finite) < 3])).max()) <= 1
