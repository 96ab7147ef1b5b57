"""Per-event cost of the detector's pure logic (terminal_step + customer_step), without Flink.

The Flink job adds the Python/JVM boundary on top of this; this figure is the floor the job cannot beat.
It replays a generated stream (realistic key cardinality, 30 days, every rule's pattern injected) through
the two keyed stages with state kept as bytes per key, exactly as Flink's ValueState would hold it, in five
setups: rules only; rules + ML feature state; + a constant scorer (feature assembly); + a compiled
IsolationForest (100 trees) scored per event; + a second forest as shadow model. It also prices what
crossing the operators costs in Python (old JSON + pydantic hops vs the pickled wire tuple). Medians of 3
runs. The machine is shared, so a calibration loop (``sum(range(1000))``) and the load average are
recorded to compare runs.

    python benchmarks/logic.py [--events 50000] [--out benchmarks/results/logic.json]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fraud_jobs.config import DetectorConfig
from fraud_jobs.generator import generate
from fraud_jobs.logic import EnrichedTransaction, customer_step, terminal_step
from fraud_jobs.schemas import Transaction, parse_transaction
from fraud_jobs.scoring import ConstantScorer, Scorer


def _compiled_iforest(seed: int = 0, version: str = "bench-iforest") -> Scorer:
    import numpy as np
    from fraud_models.features import FEATURE_NAMES
    from fraud_models.scorer import compile_model
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4_000, len(FEATURE_NAMES)))
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(X)
    model: Scorer = compile_model(
        forest, algorithm="isolation_forest", columns=list(range(len(FEATURE_NAMES))), version=version
    )
    return model


def _run(
    txs: list[Transaction], cfg: DetectorConfig, scorer: Scorer | None, shadow: Scorer | None = None
) -> tuple[float, dict[str, bytes]]:
    """Both keyed steps over ``txs``; with ``shadow``, a second model scores every event (issue 7)."""
    terminals: dict[str, bytes] = {}
    customers: dict[str, bytes] = {}
    detection = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    for tx in txs:
        terminals[tx.terminal_id], enriched = terminal_step(terminals.get(tx.terminal_id), tx, cfg)
        customers[tx.customer_id], _, _ = customer_step(
            customers.get(tx.customer_id), enriched, cfg, scorer, detection, shadow
        )
    return time.perf_counter() - started, customers | {"__terminals__": b"".join(terminals.values())}


def _wire_costs(txs: list[Transaction], cfg: DetectorConfig) -> dict[str, float]:
    """Per event, what crossing the operators costs in Python: the old JSON hops (parse -> stage 1 and
    stage 1 -> stage 2, each re-validated by pydantic) vs the pickled primitive tuple between the stages."""
    terminals: dict[str, bytes] = {}
    enriched = []
    for tx in txs:
        terminals[tx.terminal_id], e = terminal_step(terminals.get(tx.terminal_id), tx, cfg)
        enriched.append(e)
    started = time.perf_counter()
    for e in enriched:
        Transaction.model_validate_json(e.tx.model_dump_json())
        EnrichedTransaction.from_json(e.to_json())
    json_us = (time.perf_counter() - started) / len(enriched) * 1e6
    started = time.perf_counter()
    for e in enriched:
        EnrichedTransaction.from_wire(pickle.loads(pickle.dumps(e.to_wire())))
    wire_us = (time.perf_counter() - started) / len(enriched) * 1e6
    return {"json_pydantic_us_per_event": round(json_us, 2), "pickled_wire_us_per_event": round(wire_us, 2)}


def _median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def _calibrate() -> float:
    """Microseconds of ``sum(range(1000))`` (median of 3): how fast this shared core is right now."""
    return _median(lambda: timeit.timeit("sum(range(1000))", number=2_000) / 2_000 * 1e6, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "logic.json")
    args = parser.parse_args()

    calibration_before = _calibrate()
    gen = generate(args.events, seed=1)
    payloads = [r.payload for r in gen.records]
    started = time.perf_counter()
    txs = [parse_transaction(p) for p in payloads]
    parse_us = (time.perf_counter() - started) / len(payloads) * 1e6
    assert all(isinstance(t, Transaction) for t in txs)
    valid = [t for t in txs if isinstance(t, Transaction)]

    setups: dict[str, tuple[DetectorConfig, Scorer | None]] = {
        "rules_only": (DetectorConfig(ml_features=False), None),
        "rules_and_feature_state": (DetectorConfig(), None),
        "with_constant_scorer": (DetectorConfig(), ConstantScorer(0.1)),
        "with_compiled_iforest_100_trees": (DetectorConfig(), _compiled_iforest()),
    }
    results: dict[str, Any] = {}
    for name, (cfg, scorer) in setups.items():
        times = []
        sizes: dict[str, bytes] = {}
        for _ in range(args.repeats):
            elapsed, sizes = _run(valid, cfg, scorer)
            times.append(elapsed)
        terminals_blob = sizes.pop("__terminals__")
        per_event = statistics.median(times) / len(valid) * 1e6
        results[name] = {
            "us_per_event": round(per_event, 2),
            "events_per_s": round(1e6 / per_event),
            "runs_s": [round(t, 3) for t in times],
            "customer_state_bytes_avg": round(sum(map(len, sizes.values())) / len(sizes)),
            "customer_state_bytes_max": max(map(len, sizes.values())),
            "terminal_state_bytes_total": len(terminals_blob),
        }
        print(f"{name:34s} {per_event:8.2f} us/event  {1e6 / per_event:9.0f} events/s")

    active, shadow = _compiled_iforest(), _compiled_iforest(seed=1, version="bench-iforest-shadow")
    shadow_s = [_run(valid, DetectorConfig(), active, shadow)[0] for _ in range(args.repeats)]
    per_event = statistics.median(shadow_s) / len(valid) * 1e6
    results["with_active_and_shadow_iforest"] = {
        "us_per_event": round(per_event, 2),
        "events_per_s": round(1e6 / per_event),
        "runs_s": [round(t, 3) for t in shadow_s],
    }
    print(
        f"{'with_active_and_shadow_iforest':34s} {per_event:8.2f} us/event  {1e6 / per_event:9.0f} events/s"
    )
    wire = _wire_costs(valid, DetectorConfig())
    print(
        f"between operators: JSON+pydantic {wire['json_pydantic_us_per_event']} us, pickled wire "
        f"{wire['pickled_wire_us_per_event']} us per event"
    )

    calibration = (calibration_before + _calibrate()) / 2
    for entry in results.values():
        # Load-independent-ish: cost in units of the calibration loop (~7-8 us on an idle core).
        entry["calibration_units_per_event"] = round(entry["us_per_event"] / calibration, 3)
    report = {
        "benchmark": "fraud_jobs logic: terminal_step + customer_step per event (no Flink)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": len(valid),
        "customers": len({t.customer_id for t in valid}),
        "terminals": len({t.terminal_id for t in valid}),
        "parse_transaction_us_per_event": round(parse_us, 2),
        "setups": results,
        "between_operators": wire,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "calibration_sum_range_1000_us": round(calibration, 2),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"parse_transaction {parse_us:.2f} us/event; calibration {calibration:.1f} us; wrote {args.out}")


if __name__ == "__main__":
    main()
