"""Compiled scorer vs scikit-learn, one row and batched, in one run; writes benchmarks/results/scorer.json.

Targets (issue 5): one row >= 100x faster than scikit-learn's ``score_samples`` (IsolationForest), and a
batched per-row cost <= 2x scikit-learn's. Medians of many calls; the machine's load average is recorded
because the cores are shared.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from fraud_models.features import FEATURE_NAMES
from fraud_models.scorer import CompiledModel, compile_model
from fraud_models.training import make_estimator, sklearn_scores

OUT = Path(__file__).resolve().parent / "results" / "scorer.json"
BATCH_ROWS = 10_000


def _median_s(func: Callable[[], object], calls: int) -> float:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _best_s(func: Callable[[], object], repeats: int = 3) -> float:
    return min(_median_s(func, 1) for _ in range(repeats))


def bench(algorithm: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    columns = list(range(X.shape[1]))
    estimator = make_estimator(algorithm, params)
    estimator.fit(X, y) if algorithm != "isolation_forest" else estimator.fit(X)
    model = CompiledModel.from_bytes(
        compile_model(estimator, algorithm=algorithm, columns=columns, version="b").to_bytes()
    )
    rows = X[:BATCH_ROWS]
    row = rows[0].tolist()
    one = rows[:1]
    model.score(row)  # builds the generated tree function once, as a job does in open()
    sk_single = _median_s(lambda: sklearn_scores(estimator, algorithm, one), 200)
    ours_single = _median_s(lambda: model.score(row), 2000)
    sk_batch = _best_s(lambda: sklearn_scores(estimator, algorithm, rows)) / len(rows)
    ours_batch = _best_s(lambda: model.score_batch(rows)) / len(rows)
    diff = float(np.max(np.abs(model.score_batch(rows) - sklearn_scores(estimator, algorithm, rows))))
    return {
        "params": params,
        "sklearn_single_row_us": round(sk_single * 1e6, 2),
        "compiled_single_row_us": round(ours_single * 1e6, 2),
        "single_row_speedup": round(sk_single / ours_single, 1),
        "sklearn_batched_per_row_us": round(sk_batch * 1e6, 3),
        "compiled_batched_per_row_us": round(ours_batch * 1e6, 3),
        "batched_cost_ratio": round(ours_batch / sk_batch, 2),
        "max_abs_diff": diff,
        "targets_met": {
            "single_row_speedup_>=100": sk_single / ours_single >= 100,
            "batched_ratio_<=2": ours_batch <= 2 * sk_batch,
        },
    }


def main() -> int:
    rng = np.random.default_rng(0)
    n_features = len(FEATURE_NAMES)
    X = rng.normal(size=(20_000, n_features)) * rng.uniform(0.1, 100, size=n_features)
    y = (X[:, 0] / 40 + X[:, 5] / 30 + rng.normal(size=len(X)) > 2.0).astype(np.int8)
    load_before = os.getloadavg()
    results = {
        "isolation_forest": bench("isolation_forest", {"n_estimators": 100, "max_samples": 256}, X, y),
        "logistic_regression": bench("logistic_regression", {}, X, y),
        "hist_gradient_boosting": bench("hist_gradient_boosting", {"max_iter": 300}, X, y),
    }
    report = {
        "benchmark": "compiled vs scikit-learn: one row = median of calls; 10,000-row batch = best of 3",
        "features": n_features,
        "python": sys.version.split()[0],
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before_after": [load_before, os.getloadavg()],
        "results": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
