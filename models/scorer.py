"""Trained models compiled to plain numpy arrays, scored per event without scikit-learn.

The detector cannot call scikit-learn per event (about 10 ms a row, and PyFlink's thread mode hangs
loading it), so training compiles the model into flat arrays: every tree of an ensemble becomes rows
of one node table, a linear model becomes its coefficients. ``score`` walks the tables in plain Python
for one row (tens of microseconds); ``score_batch`` walks all trees level by level with numpy gathers. Scores
equal scikit-learn's to rounding (a test holds them to 1e-9):

- ``isolation_forest``: the anomaly score ``2 ** (-mean path length / c(max_samples))`` = ``-score_samples``;
- ``logistic_regression`` (with its StandardScaler) and ``hist_gradient_boosting``: ``predict_proba[:, 1]``.

Every score is in [0, 1], higher meaning more likely fraud. A compiled model takes the full feature
vector in ``FEATURE_NAMES`` order and picks its own columns, so every model shares one schema id.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fraud_models.combiner import Combiner, CombinerError
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID
from fraud_models.model_check import SUPPORTED_ALGORITHMS
from fraud_models.portable_math import exp2_array, sigmoid_array

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "CompiledModel",
    "ModelLoadError",
    "compile_model",
    "load_model",
    "sha256_file",
]

_FIXED_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)

_FORMAT = "streamflow-compiled-model/1"
_TREE_ARRAYS = ("feature", "threshold", "children", "missing_left", "value", "roots")
_LINEAR_ARRAYS = ("columns", "mean", "scale", "coef")
_BATCH_ROWS = 1024

Float64Array = npt.NDArray[np.float64]


class ModelLoadError(Exception):
    """A model artifact that must not be scored with: the message says why."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class CompiledModel:
    """A model as arrays: ``score`` one row, ``score_batch`` many; identical results either way."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.meta = meta
        self.arrays = arrays
        self.algorithm: str = meta["algorithm"]
        self.version: str = meta["version"]
        self.feature_schema_id: str = meta["feature_schema_id"]
        self.n_features: int = int(meta["n_features"])
        self.input_float32: bool = bool(meta.get("input_float32", False))
        self.offset: float = float(meta["offset"])
        try:
            self.combiner: Combiner | None = (
                Combiner.from_meta(meta["combiner"]) if "combiner" in meta else None
            )
        except CombinerError as exc:
            raise ModelLoadError(f"artifact's {exc}") from None
        if self.algorithm not in SUPPORTED_ALGORITHMS:
            raise ModelLoadError(
                f"unsupported algorithm {self.algorithm!r} (supported: {', '.join(SUPPORTED_ALGORITHMS)})"
            )
        self._is_linear = self.algorithm == "logistic_regression"
        self._validate()
        if self._is_linear:
            self._columns = arrays["columns"].astype(np.intp)
            self._lin = list(
                zip(
                    arrays["columns"].tolist(),
                    arrays["mean"].tolist(),
                    arrays["scale"].tolist(),
                    arrays["coef"].tolist(),
                    strict=True,
                )
            )
        else:
            feature = arrays["feature"]
            children = arrays["children"]
            leaf = feature < 0
            # Per node (feature, threshold, left, right, NaN goes left); leaves have feature -1.
            self._nodes = list(
                zip(
                    feature.tolist(),
                    arrays["threshold"].tolist(),
                    children[:, 0].tolist(),
                    children[:, 1].tolist(),
                    arrays["missing_left"].astype(bool).tolist(),
                    strict=True,
                )
            )
            self._values: list[float] = arrays["value"].tolist()
            self._roots: list[int] = arrays["roots"].tolist()
            self._tree_sum: Callable[[Sequence[float]], float] | None = None
            # Batch tables indexed by 2 * node + (goes right): one gather finds the next node, and leaves
            # loop to themselves on feature 0 with threshold +inf. Doubling the per-node tables spares an
            # index computation per level.
            self._b_feature = np.repeat(np.where(leaf, 0, feature), 2).astype(np.intp)
            self._b_threshold = np.repeat(np.where(leaf, np.inf, arrays["threshold"]), 2)
            self._b_children = (2 * children.astype(np.intp)).ravel()
            self._b_missing_right = np.repeat(~arrays["missing_left"].astype(bool), 2)
            self._b_value = np.repeat(arrays["value"], 2)
            # Trees grouped by depth: a batch walks each group only as many levels as its trees have.
            roots = arrays["roots"].astype(np.intp)
            tree_depth = _tree_depths(children, leaf, roots)
            self._b_groups = [(int(d), 2 * roots[tree_depth == d]) for d in np.unique(tree_depth)]

    # -- validation -------------------------------------------------------------------------------------
    def _validate(self) -> None:
        names = _LINEAR_ARRAYS if self._is_linear else _TREE_ARRAYS
        missing = [n for n in names if n not in self.arrays]
        if missing:
            raise ModelLoadError(f"artifact lacks array(s) {', '.join(missing)}")
        if self._is_linear:
            cols = self.arrays["columns"]
            sizes = {len(self.arrays[n]) for n in _LINEAR_ARRAYS}
            if len(sizes) != 1 or (len(cols) and (cols.min() < 0 or cols.max() >= self.n_features)):
                raise ModelLoadError("artifact's linear arrays are inconsistent (corrupt artifact)")
            return
        feature, children = self.arrays["feature"], self.arrays["children"]
        n = len(feature)
        if (
            children.shape != (n, 2)
            or any(len(self.arrays[a]) != n for a in ("threshold", "missing_left", "value"))
            or (n and (feature.max() >= self.n_features or children.min() < 0 or children.max() >= n))
            or (
                len(self.arrays["roots"])
                and (self.arrays["roots"].min() < 0 or self.arrays["roots"].max() >= n)
            )
            # Children come after their parent (as scikit-learn numbers them): every walk ends at a leaf.
            or bool(np.any((feature >= 0)[:, None] & (children <= np.arange(n)[:, None])))
        ):
            raise ModelLoadError("artifact's tree arrays are inconsistent (corrupt artifact)")

    # -- scoring ----------------------------------------------------------------------------------------
    def _post(self, total: float) -> float:
        if self.algorithm == "isolation_forest":
            if self.offset == 0:  # a forest of one-sample trees: sklearn's score is 1 too
                return 1.0
            return float(2.0 ** (-total / self.offset))
        return _sigmoid(self.offset + total)

    def score(self, x: Sequence[float]) -> float:
        """Score one feature vector (FEATURE_NAMES order); raises ValueError on a wrong length or NaN."""
        if len(x) != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {len(x)}")
        if self._is_linear:
            z = self.offset
            for col, mean, scale, coef in self._lin:
                v = x[col]
                if v != v:
                    raise ValueError(f"feature {FEATURE_NAMES[col]!r} is NaN")
                z += (v - mean) / scale * coef
            return _sigmoid(z)
        if self._tree_sum is None:
            self._tree_sum = _generate_tree_sum(self._nodes, self._values, self._roots)
        if self.input_float32:
            x = array("f", x).tolist()
        if self.algorithm == "isolation_forest":
            for f, v in enumerate(x):
                if v != v:
                    raise ValueError(f"feature {FEATURE_NAMES[f]!r} is NaN")
        return self._post(self._tree_sum(x))

    def score_batch(self, X: npt.ArrayLike) -> Float64Array:
        """Score the rows of a 2-D array; identical to :meth:`score` row by row (to rounding)."""
        data = np.asarray(X, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.n_features:
            raise ValueError(f"expected an array of shape (n, {self.n_features}), got {data.shape}")
        if self._is_linear:
            sub = data[:, self._columns]
            if np.isnan(sub).any():
                raise ValueError("NaN in the model's input features")
            terms = (sub - self.arrays["mean"]) / self.arrays["scale"] * self.arrays["coef"]
            # Left to right after the intercept, as ``score`` sums (BLAS ``@`` sums in a CPU-dependent order).
            z = np.full(len(sub), self.offset)
            for j in range(terms.shape[1]):
                z += terms[:, j]
            return sigmoid_array(z)
        if self.input_float32:
            data = data.astype(np.float32).astype(np.float64)
            if self.algorithm == "isolation_forest" and np.isnan(data).any():
                raise ValueError("NaN in the model's input features")
        out = np.empty(len(data), dtype=np.float64)
        for start in range(0, len(data), _BATCH_ROWS):
            out[start : start + _BATCH_ROWS] = self._batch_totals(data[start : start + _BATCH_ROWS])
        # portable_math, not np.exp / np.power, whose last bit depends on the CPU (SVML with AVX-512).
        if self.algorithm == "isolation_forest":
            return exp2_array(-out / self.offset)
        return sigmoid_array(self.offset + out)

    def _batch_totals(self, chunk: Float64Array) -> Float64Array:
        """Sum of leaf values per row: all rows and all trees of a depth group step one level at a time.

        Every step is a handful of ``np.take`` into preallocated buffers (``mode="clip"`` avoids the
        buffered copy the default mode makes; indices are in range by construction), which is what
        brings the batch cost near scikit-learn's compiled loop. NaN handling costs extra passes, so it
        runs only for chunks that contain a NaN.
        """
        flat = np.ascontiguousarray(chunk).ravel()
        rows = len(chunk)
        base = (np.arange(rows, dtype=np.intp) * self.n_features)[:, None]
        with_nan = bool(np.isnan(flat).any())
        feature, threshold, children = self._b_feature, self._b_threshold, self._b_children
        totals: Float64Array = np.zeros(rows, dtype=np.float64)
        for depth, roots in self._b_groups:
            node = np.empty((rows, len(roots)), dtype=np.intp)
            node[:] = roots
            index = np.empty_like(node)
            value = np.empty(node.shape, dtype=np.float64)
            limit = np.empty(node.shape, dtype=np.float64)
            right = np.empty(node.shape, dtype=bool)
            for _ in range(depth):
                np.take(feature, node, out=index, mode="clip")
                index += base
                np.take(flat, index, out=value, mode="clip")
                np.take(threshold, node, out=limit, mode="clip")
                np.greater(value, limit, out=right)  # NaN compares False: left unless the node sends it right
                if with_nan:
                    right |= np.isnan(value) & self._b_missing_right[node]
                node += right
                np.take(children, node, out=node, mode="clip")
            totals += np.take(self._b_value, node).sum(axis=1)
        return totals

    def with_combiner(self, combiner: Combiner | None) -> CompiledModel:
        """The same model with ``combiner`` in its metadata (None: without one)."""
        meta = {k: v for k, v in self.meta.items() if k != "combiner"}
        if combiner is not None:
            meta["combiner"] = combiner.to_meta()
        return CompiledModel(meta, self.arrays)

    # -- persistence ------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The artifact: an uncompressed npz with a JSON metadata entry (no pickles).

        Written as ``np.savez`` writes it but with a fixed entry time, so the same model always has the same
        bytes and sha256: a published digest can be reproduced by training again.
        """
        buffer = io.BytesIO()
        payload: dict[str, Any] = {
            "meta": np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), np.uint8)
        }
        payload.update(self.arrays)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in payload.items():
                entry = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_ENTRY_TIME)
                with archive.open(entry, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)  # type: ignore[no-untyped-call]
        return buffer.getvalue()

    def save(self, path: str | Path) -> str:
        """Write the artifact to ``path`` and return its sha256."""
        data = self.to_bytes()
        Path(path).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> CompiledModel:
        """Parse an artifact; raises :class:`ModelLoadError` when it is not one."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
        except (ValueError, OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"unreadable model artifact: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ModelLoadError(f"not a compiled model (format {_FORMAT!r} expected)")
        try:
            return cls(meta, arrays)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelLoadError(f"incomplete or corrupt model artifact: {exc!r}") from exc


def _tree_depths(children: npt.NDArray[Any], leaf: npt.NDArray[np.bool_], roots: npt.NDArray[np.intp]) -> Any:
    """Depth of every tree of the node table (validated: children come after their parent)."""
    depth = [0] * len(leaf)
    is_leaf = leaf.tolist()
    left, right = children[:, 0].tolist(), children[:, 1].tolist()
    for node in range(len(depth)):
        if not is_leaf[node]:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    return (
        np.maximum.reduceat(np.asarray(depth, dtype=np.int64), roots) if len(roots) else np.zeros(0, np.int64)
    )


def _generate_tree_sum(
    nodes: Sequence[tuple[int, float, int, int, bool]], values: Sequence[float], roots: Sequence[int]
) -> Callable[[Sequence[float]], float]:
    """Turn the node table into one Python function of nested comparisons (built from numbers only).

    Walking a table costs an index and an unpack per node; straight-line code compares local variables,
    which makes one row about five times faster. The source is generated from the validated integer and
    float arrays alone (``repr`` of a float round-trips exactly), never from text in the artifact.
    """
    used = sorted({f for f, *_ in nodes if f >= 0})
    lines = ["def tree_sum(x):"]
    lines += [f"    x{f} = x[{f}]" for f in used]
    lines.append("    t = 0.0")
    for root in roots:
        stack: list[tuple[int, int]] = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            pad = "    " * depth
            if node < 0:  # marker for an ``else:`` line; the real node is ``~node``
                lines.append(f"{pad}else:")
                stack.append((~node, depth + 1))
                continue
            f, thr, left, right, nan_left = nodes[node]
            if f < 0:
                lines.append(f"{pad}t += {float(values[node])!r}")
                continue
            limit = repr(float(thr)) if math.isfinite(thr) else ("INF" if thr > 0 else "-INF")
            test = f"x{f} <= {limit}" + (f" or x{f} != x{f}" if nan_left else "")
            lines.append(f"{pad}if {test}:")
            stack.append((~right, depth))
            stack.append((left, depth + 1))
    lines.append("    return t")
    namespace: dict[str, Any] = {"INF": math.inf}
    exec(compile("\n".join(lines), "<compiled-trees>", "exec"), namespace)
    func: Callable[[Sequence[float]], float] = namespace["tree_sum"]
    return func


def _tree_tables(
    trees: Sequence[tuple[Any, npt.NDArray[Any], npt.NDArray[np.intp]]],
) -> tuple[dict[str, npt.NDArray[Any]], int]:
    """Concatenate per-tree (sklearn-like node table, leaf values, column map) into one node table."""
    features, thresholds, children, missing, values, roots = [], [], [], [], [], []
    offset = 0
    max_depth = 0
    for table, leaf_value, column_map in trees:
        feature = np.asarray(table["feature"], dtype=np.int64)
        left = np.asarray(table["left"], dtype=np.int64)
        right = np.asarray(table["right"], dtype=np.int64)
        n = len(feature)
        leaf = left < 0
        own = np.arange(n, dtype=np.int64)
        features.append(np.where(leaf, -1, column_map[np.where(leaf, 0, feature)]))
        thresholds.append(np.where(leaf, 0.0, np.asarray(table["threshold"], dtype=np.float64)))
        kids = np.stack([np.where(leaf, own, left), np.where(leaf, own, right)], axis=1) + offset
        children.append(kids)
        missing.append(np.asarray(table["missing_left"], dtype=np.uint8))
        values.append(np.where(leaf, np.asarray(leaf_value, dtype=np.float64), 0.0))
        roots.append(offset)
        max_depth = max(max_depth, int(table["depth"]))
        offset += n
    arrays = {
        "feature": np.concatenate(features).astype(np.int32),
        "threshold": np.concatenate(thresholds),
        "children": np.concatenate(children).astype(np.int32),
        "missing_left": np.concatenate(missing),
        "value": np.concatenate(values),
        "roots": np.asarray(roots, dtype=np.int32),
    }
    return arrays, max_depth


def _tree_depth(left: npt.NDArray[Any], right: npt.NDArray[Any]) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    for node in range(len(left)):  # sklearn numbers children after their parent
        if left[node] >= 0:
            depth[left[node]] = depth[node] + 1
            depth[right[node]] = depth[node] + 1
    return int(depth.max()) if len(depth) else 0


def _average_path_length(n: int) -> float:
    """``c(n)``, the mean path length of an unsuccessful search in a binary tree of ``n`` samples (Liu et al.;
    scikit-learn's ``_average_path_length``, same formula and order of operations), with the C library's
    scalar ``log``. scikit-learn takes it with numpy's vectorised log, whose code path depends on the CPU
    (AVX-512 or not) and may differ in the last bit: the artifact's bytes, and so the sha256 a FraudModel
    publishes, would then depend on the machine that trained it."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def compile_model(estimator: Any, *, algorithm: str, columns: Sequence[int], version: str) -> CompiledModel:
    """Compile a fitted scikit-learn model that reads the FEATURE_NAMES columns ``columns``."""
    column_map = np.asarray(columns, dtype=np.intp)
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "algorithm": algorithm,
        "version": version,
        "feature_schema_id": FEATURE_SCHEMA_ID,
        "feature_names": list(FEATURE_NAMES),
        "n_features": len(FEATURE_NAMES),
        "columns": [FEATURE_NAMES[c] for c in column_map.tolist()],
    }
    arrays: dict[str, npt.NDArray[Any]]
    if algorithm == "isolation_forest":
        trees = []
        subsample = estimator._max_features != estimator.n_features_in_
        for i, (tree, feats) in enumerate(
            zip(estimator.estimators_, estimator.estimators_features_, strict=True)
        ):
            t = tree.tree_
            tree_cols = column_map[np.asarray(feats)] if subsample else column_map
            leaf_value = (
                estimator._decision_path_lengths[i]
                + np.array([_average_path_length(int(n)) for n in t.n_node_samples])
                - 1.0
            )
            table = {
                "feature": t.feature,
                "threshold": t.threshold,
                "left": t.children_left,
                "right": t.children_right,
                "missing_left": np.zeros(t.node_count, dtype=np.uint8),
                "depth": _tree_depth(t.children_left, t.children_right),
            }
            trees.append((table, leaf_value, tree_cols))
        arrays, max_depth = _tree_tables(trees)
        meta["offset"] = float(len(estimator.estimators_) * _average_path_length(int(estimator._max_samples)))
        meta["input_float32"] = True
        meta["max_depth"] = max_depth
    elif algorithm == "hist_gradient_boosting":
        if estimator.n_trees_per_iteration_ != 1:
            raise ValueError("only binary HistGradientBoostingClassifier models are supported")
        trees = []
        for (predictor,) in estimator._predictors:
            nodes = predictor.nodes
            table = {
                "feature": nodes["feature_idx"],
                "threshold": nodes["num_threshold"],
                "left": np.where(nodes["is_leaf"], -1, nodes["left"].astype(np.int64)),
                "right": np.where(nodes["is_leaf"], -1, nodes["right"].astype(np.int64)),
                "missing_left": nodes["missing_go_to_left"],
                "depth": int(nodes["depth"].max()),
            }
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported by the compiled scorer")
            trees.append((table, nodes["value"], column_map))
        arrays, max_depth = _tree_tables(trees)
        meta["offset"] = float(np.asarray(estimator._baseline_prediction).ravel()[0])
        meta["input_float32"] = False
        meta["max_depth"] = max_depth
    elif algorithm == "logistic_regression":
        scaler, lr = estimator.steps[0][1], estimator.steps[-1][1]
        arrays = {
            "columns": column_map.astype(np.int32),
            "mean": np.asarray(scaler.mean_, dtype=np.float64),
            "scale": np.asarray(scaler.scale_, dtype=np.float64),
            "coef": np.asarray(lr.coef_, dtype=np.float64).ravel(),
        }
        meta["offset"] = float(np.asarray(lr.intercept_).ravel()[0])
    else:
        raise ValueError(
            f"unsupported algorithm {algorithm!r} (supported: {', '.join(SUPPORTED_ALGORITHMS)})"
        )
    return CompiledModel(meta, arrays)


def load_model(path_or_uri: str, *, expected_sha256: str | None, expected_schema_id: str) -> CompiledModel:
    """Fetch, verify and parse an artifact; refuses a sha256 or schema id mismatch with ModelLoadError."""
    from fraud_models.artifacts import ArtifactError, fetch

    try:
        path = fetch(path_or_uri, expected_sha256=expected_sha256)
        data = path.read_bytes()
    except ArtifactError as exc:
        raise ModelLoadError(str(exc)) from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot read model artifact {path_or_uri}: {exc}") from exc
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise ModelLoadError(
                f"sha256 mismatch for {path_or_uri}: expected {expected_sha256}, "
                f"got {actual} (tampered or stale)"
            )
    model = CompiledModel.from_bytes(data)
    if model.feature_schema_id != expected_schema_id:
        raise ModelLoadError(
            f"feature schema mismatch: model {model.version!r} was trained on schema "
            f"{model.feature_schema_id!r}, this job computes {expected_schema_id!r}"
        )
    if model.n_features != len(FEATURE_NAMES) and expected_schema_id == FEATURE_SCHEMA_ID:
        raise ModelLoadError(f"model expects {model.n_features} features, schema has {len(FEATURE_NAMES)}")
    return model
