"""Scaling of the detector over parallelism, on a standalone Flink cluster with one slot per TaskManager.

One command starts a JobManager and ``max(--parallelism)`` one-slot TaskManagers (the cluster of
``tests/jobs/flink/test_standalone_cluster.py``, from ``streamflow_dev.flink_cluster``), fills a
transactions topic of as many partitions once, and then, each round, submits the detector for every
parallelism ``p`` as a FlinkDeployment runs it (``flink run -pym fraud_jobs.detector``, connectors from the
cluster's lib/), reading that topic to its end. Throughput is score records / (last - first score
timestamp), so start-up is excluded; rates are the medians of ``--repeat`` rounds (3), after one unmeasured
round at the first parallelism that warms the TaskManagers up. The speed-up is each median over p=1's.

Every TaskManager runs the whole pipeline for its share of the keys (parse, both keyed stages, the model,
the sinks), so each added slot needs about one more core: on a machine with fewer cores than the largest
``p``, the run measures contention for those cores, not the detector's scaling. ``machine`` in the JSON says
how many cores there were.

Needs the local stack's Kafka and Flink jars: ``eval "$(streamflow dev env)"``.

    python benchmarks/detector_scaling.py [--parallelism 1,2,4] [--events 60000] [--repeat 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import detector as bench  # benchmarks/detector.py: the same model, settings and Kafka helpers
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.generator import generate
from streamflow_dev.flink_cluster import FlinkCluster, start_flink_cluster, stop_flink_cluster


def _topics(bootstrap: str, run: str, partitions: int) -> dict[str, str]:
    """The job's topics; transactions with ``partitions`` partitions (one per source subtask at most)."""
    names = {role: f"bench-scale-{run}-{role}" for role in bench.ROLES}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(n, partitions if role == "transactions" else 1, 1) for role, n in names.items()]
    for future in admin.create_topics(new).values():
        future.result(timeout=30)
    return names


def _submit(cluster: FlinkCluster, settings: JobSettings, config: Path) -> str:
    """``flink run -d`` the detector as the FlinkDeployment does; the job id the client printed."""
    config.write_text(settings.model_dump_json(), encoding="utf-8")
    python = sys.executable
    result = cluster.flink(
        "run", "-d", "-m", cluster.address,
        "-pyexec", python, "-pyclientexec", python,
        "-pym", "fraud_jobs.detector", "--config", str(config),
    )  # fmt: skip
    found = re.search(r"JobID ([0-9a-f]{32})", result.stdout)
    if result.returncode != 0 or not found:
        raise SystemExit(f"flink run failed:\n{result.stdout}\n{result.stderr}")
    return found.group(1)


def _finished(cluster: FlinkCluster, job_id: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        state = cluster.rest(f"/jobs/{job_id}")["state"]
        if state == "FINISHED":
            return
        if state in ("FAILED", "CANCELED") or time.monotonic() > deadline:
            entries = cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
            trace = entries[0]["stacktrace"][:4000] if entries else "(no exception recorded)"
            raise SystemExit(f"job {job_id} is {state}, not FINISHED:\n{trace}")
        time.sleep(1)


def _run(
    cluster: FlinkCluster,
    bootstrap: str,
    topics: dict[str, str],
    work: Path,
    model: dict[str, Any] | None,
    parallelism: int,
    expected: int,
) -> float:
    """One detector job over the whole transactions topic at ``parallelism``; its scores per second."""
    scores = f"{topics['scores']}-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(scores, 1, 1)]).values():
        future.result(timeout=30)
    try:
        settings = bench._settings(
            bootstrap, {**topics, "scores": scores}, "", work, model, bounded=True, parallelism=parallelism
        ).with_flink(jars=None)  # the connectors come from the cluster's lib/, as in production
        job_id = _submit(cluster, settings, work / f"detector-{parallelism}.json")
        _finished(cluster, job_id, 600)
        got = bench._consume(bootstrap, scores, expected, 120)
        if len(got) != expected:
            raise SystemExit(f"parallelism {parallelism}: {len(got)} score records, expected {expected}")
        return bench._rate(got)
    finally:
        bench._drop_topics(bootstrap, [scores])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parallelism", default="1,2,4", help="comma-separated parallelisms")
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; rates are their medians")
    parser.add_argument(
        "--model",
        choices=("hist_gradient_boosting", "isolation_forest", "none"),
        default="hist_gradient_boosting",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "detector-scaling.json"
    )
    args = parser.parse_args()
    parallelisms = [int(p) for p in args.parallelism.split(",")]
    bootstrap = os.environ.get("STREAMFLOW_KAFKA_BOOTSTRAP")
    if not bootstrap:
        raise SystemExit('error: needs the local stack: eval "$(streamflow dev env)"')
    run = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    started: list[Any] = []
    rounds: list[dict[int, float]] = []
    load: list[tuple[float, float, float]] = []
    cluster = start_flink_cluster(
        work / "cluster", started, taskmanagers=max(parallelisms), tied_to_parent=True
    )
    topics = _topics(bootstrap, run, max(parallelisms))
    try:
        payloads = [r.payload for r in generate(args.events, seed=11, days=30).records]
        bench._produce(bootstrap, topics["transactions"], payloads)
        model = bench._model(work, args.model)
        _run(cluster, bootstrap, topics, work, model, parallelisms[0], len(payloads))  # warm-up
        for n in range(args.repeat):
            rates = {p: _run(cluster, bootstrap, topics, work, model, p, len(payloads)) for p in parallelisms}
            rounds.append(rates)
            load.append(os.getloadavg())
            print(f"round {n + 1}: " + ", ".join(f"p={p} {r:,.0f} ev/s" for p, r in rates.items()))
    finally:
        bench._drop_topics(bootstrap, list(topics.values()))
        stop_flink_cluster(cluster)
        shutil.rmtree(work, ignore_errors=True)
    medians = {p: statistics.median(r[p] for r in rounds) for p in parallelisms}
    base = medians[parallelisms[0]]
    print("medians: " + ", ".join(f"p={p} {m:,.0f} ev/s ({m / base:.2f}x)" for p, m in medians.items()))
    result = {
        "benchmark": "detector-scaling",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_avg_after_each_round": [[round(x, 2) for x in entry] for entry in load],
        "cluster": f"standalone: 1 JobManager, {max(parallelisms)} TaskManagers of 1 slot",
        "events": args.events,
        "transaction_partitions": max(parallelisms),
        "model": args.model,
        "rounds": [{str(p): round(r, 1) for p, r in entry.items()} for entry in rounds],
        "detector_eps": {str(p): round(m, 1) for p, m in medians.items()},
        "speedup": {str(p): round(m / base, 3) for p, m in medians.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
