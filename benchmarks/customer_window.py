"""What one customer's feature window costs the customer stage per event, by the window's size; writes
benchmarks/results/customer-window.json.

The JVM tool ``WindowCost`` (in the detector jar) decodes a state of N payments, computes its features,
observes the payment and encodes the state, as the stage does for each event of the key, and reports the
wall-clock nanoseconds per event of its one thread. Sizes above ``MAX_CUSTOMER_PAYMENTS`` no longer arise;
there the state is decoded and its features computed in full, but the encoding is of the capped state, so
the figure is a lower bound of what such a key cost before the cap. Each size is
measured in every round, rounds one after the other in one JVM (the first is its warm-up); the result is
the median of the later rounds. The figures are per event of one key, not a rate of the job.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path

from fraud_jobs.flink.jvm import java_main
from fraud_models.features import MAX_CUSTOMER_PAYMENTS

OUT = Path(__file__).resolve().parent / "results" / "customer-window.json"
SIZES = (30, 155, 500, MAX_CUSTOMER_PAYMENTS, 4_000, 17_000)
"""155: the most payments a handbook card makes in 30 days; 17,000: what the latency run's blocklisted
customer reached in a minute before the cap."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per size and round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds, the first a warm-up")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    lines = java_main(
        "io.streamflow.detector.tools.WindowCost", str(args.events), str(args.rounds), *map(str, SIZES)
    )
    per_round: dict[int, list[float]] = {}
    encoded: dict[int, int] = {}
    for line in lines.decode("ascii").splitlines():
        size, _round, ns, nbytes = map(int, line.split("\t"))
        per_round.setdefault(size, []).append(round(ns / 1000, 2))
        encoded[size] = nbytes
    by_size = {}
    for size, rounds in per_round.items():
        us = statistics.median(rounds[1:] or rounds)
        by_size[str(size)] = {
            "us_per_event": us,
            "us_per_event_by_round": rounds,
            "encoded_bytes": encoded[size],
            "above_cap": size > MAX_CUSTOMER_PAYMENTS,
        }
        print(f"{size:>6} payments: {us:8.1f} µs an event, {encoded[size]:,} bytes")
    result = {
        "benchmark": "customer_window",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "max_customer_payments": MAX_CUSTOMER_PAYMENTS,
        "events_per_size": args.events,
        "rounds": args.rounds,
        "sizes": by_size,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
