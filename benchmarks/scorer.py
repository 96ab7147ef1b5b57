"""Compiled scorer vs scikit-learn, one row and batched, in one run; writes benchmarks/results/scorer.json.

Targets (issue 5): one row >= 100x faster than scikit-learn's ``score_samples`` (IsolationForest), and a
batched per-row cost <= 2x scikit-learn's. Both run single-threaded (native thread pools limited to 1, as
in one Flink task slot). Each figure is taken with two clocks: wall time, and this process's CPU time,
which the other work on shared cores does not inflate; targets are judged on CPU time. Medians of many
calls for one row, best of 3 for a 10,000-row batch; the load average is recorded.
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
from threadpoolctl import threadpool_limits

OUT = Path(__file__).resolve().parent / "results" / "scorer.json"
BATCH_ROWS = 10_000


def _timed(func: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def _median_s(func: Callable[[], object], calls: int) -> tuple[float, float]:
    samples = [_timed(func) for _ in range(calls)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def _best_s(func: Callable[[], object], repeats: int = 3) -> tuple[float, float]:
    samples = [_timed(func) for _ in range(repeats)]
    return min(s[0] for s in samples), min(s[1] for s in samples)


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
    with threadpool_limits(limits=1):
        sk_single = _median_s(lambda: sklearn_scores(estimator, algorithm, one), 300)
        ours_single = _median_s(lambda: model.score(row), 3000)
        sk_batch = _best_s(lambda: sklearn_scores(estimator, algorithm, rows))
        ours_batch = _best_s(lambda: model.score_batch(rows))
    diff = float(np.max(np.abs(model.score_batch(rows) - sklearn_scores(estimator, algorithm, rows))))
    out: dict[str, Any] = {"params": params, "max_abs_diff": diff}
    for clock, i in (("cpu", 1), ("wall", 0)):
        sk_b, ours_b = sk_batch[i] / len(rows), ours_batch[i] / len(rows)
        out[clock] = {
            "sklearn_single_row_us": round(sk_single[i] * 1e6, 2),
            "compiled_single_row_us": round(ours_single[i] * 1e6, 2),
            "single_row_speedup": round(sk_single[i] / ours_single[i], 1),
            "sklearn_batched_per_row_us": round(sk_b * 1e6, 3),
            "compiled_batched_per_row_us": round(ours_b * 1e6, 3),
            "batched_cost_ratio": round(ours_b / sk_b, 2),
        }
    cpu = out["cpu"]
    out["targets_met_cpu"] = {
        "single_row_speedup_>=100": cpu["single_row_speedup"] >= 100,
        "batched_ratio_<=2": cpu["batched_cost_ratio"] <= 2,
    }
    return out


def main() -> int:
    rng = np.random.default_rng(0)
    n_features = len(FEATURE_NAMES)
    X = rng.normal(size=(20_000, n_features)) * rng.uniform(0.1, 100, size=n_features)
    y = (X[:, 0] / 40 + X[:, 5] / 30 + rng.normal(size=len(X)) > 2.0).astype(np.int8)
    load_before = os.getloadavg()
    results = {
        "isolation_forest": bench("isolation_forest", {"n_estimators": 100, "max_samples": 256}, X, y),
        "logistic_regression": bench("logistic_regression", {}, X, y),
        "hist_gradient_boosting": bench(
            "hist_gradient_boosting", {"max_iter": 300, "max_leaf_nodes": 15}, X, y
        ),
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
