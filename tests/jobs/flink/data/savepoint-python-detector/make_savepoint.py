"""Makes ``savepoint/`` of this directory: a savepoint of the detector whose keyed stages ran in Python.

Run from the repository root of the current checkout, with the old job's tree checked out aside::

    git worktree add /tmp/old-detector 2c4a474
    python tests/jobs/flink/data/savepoint-python-detector/make_savepoint.py --old-tree /tmp/old-detector
    git worktree remove /tmp/old-detector

The parent (current code) starts Kafka and PostgreSQL from the dev stack, creates the fixed topics of
``inputs.json`` and the database schema, then runs the old job in a child process whose ``PYTHONPATH`` maps
``fraud_jobs`` and ``fraud_models`` to the old tree (as the editable install's ``package-dir`` does), so no
module of the current code is loaded next to the old ones. The child produces the phases of ``inputs.json``,
waits for every transaction's score (and for the label and the control message to be in force), then stops
the job with a canonical savepoint, which the parent copies here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "inputs.json"
SAVEPOINT = HERE / "savepoint"
DSN_ENV = "GOLDEN_PG_DSN"
TIMEOUT_S = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-tree", type=Path, help="checkout of the old job (git worktree)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
    elif args.old_tree:
        _parent(args.old_tree.resolve())
    else:
        parser.error("--old-tree is required")


# ------------------------------------------------------------------ parent: current code, the dev stack


def _parent(old_tree: Path) -> None:
    import psycopg
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
    from fraud_operator.db.migrations import migrate
    from streamflow_dev import stack
    from streamflow_dev.flink import flink_jar_urls
    from streamflow_dev.paths import runs_root

    inputs = json.loads(INPUTS.read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="golden-savepoint-", dir=runs_root()))
    work.chmod(0o755)  # PostgreSQL runs as its own user
    paths = work / "pythonpath"
    paths.mkdir()
    (paths / "fraud_jobs").symlink_to(old_tree / "jobs")
    (paths / "fraud_models").symlink_to(old_tree / "models")
    info = stack.up(work / "stack", ["kafka", "postgres"], tied_to_parent=True, remember=False)
    try:
        assert info.kafka_bootstrap and info.pg_dsn
        admin = AdminClient({"bootstrap.servers": info.kafka_bootstrap})
        names = list(inputs["topics"].values())
        for future in admin.create_topics([NewTopic(n, 1, 1) for n in names]).values():
            future.result(timeout=30)
        database = f"golden_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(info.pg_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        dsn = info.pg_dsn.rsplit("/", 1)[0] + f"/{database}"
        migrate(dsn)
        request = {
            "bootstrap": info.kafka_bootstrap,
            "jars": flink_jar_urls(),
            "work": str(work),
            "inputs": str(INPUTS),
        }
        env = {**os.environ, "PYTHONPATH": str(paths), DSN_ENV: dsn}
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(request)],
            env=env,
            cwd=work,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        source = Path(result["savepoint"].removeprefix("file:"))
        if SAVEPOINT.exists():
            shutil.rmtree(SAVEPOINT)
        shutil.copytree(source, SAVEPOINT)
        with psycopg.connect(dsn) as conn:
            written = conn.execute("SELECT count(*) FROM gold.model_scores").fetchone()
        print(json.dumps({**result, "model_score_rows_written": written[0] if written else None}, indent=1))
    finally:
        stack.down(info)
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ child: the old job only


def _child(request: dict[str, Any]) -> None:
    import fraud_jobs
    import fraud_models

    for module in (fraud_jobs, fraud_models):  # the old tree, never the editable install
        assert str(Path(module.__file__ or "").parent).startswith(os.environ["PYTHONPATH"]), module.__file__
    import numpy as np
    from confluent_kafka import Consumer, Producer, TopicPartition
    from fraud_jobs.flink.lifecycle import stop_with_savepoint
    from fraud_jobs.flink.settings import JobSettings
    from fraud_jobs.flink.topology import build
    from fraud_models.features import FEATURE_NAMES
    from fraud_models.scorer import compile_model
    from sklearn.ensemble import IsolationForest

    inputs = json.loads(Path(request["inputs"]).read_text(encoding="utf-8"))
    work = Path(request["work"])
    bootstrap = request["bootstrap"]
    topics = inputs["topics"]

    def model(seed: int, scale: float, version: str) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        forest = IsolationForest(n_estimators=20, random_state=seed).fit(
            rng.normal(size=(500, len(FEATURE_NAMES))) * scale
        )
        path = work / f"{version}.model"
        columns = list(range(len(FEATURE_NAMES)))
        sha256 = compile_model(forest, algorithm="isolation_forest", columns=columns, version=version).save(
            path
        )
        return {"name": version, "version": version, "uri": str(path), "sha256": sha256}

    settings = JobSettings.model_validate(
        {
            "pipeline": {"name": "savepoint-golden", "namespace": "tests"},
            "kafka": {
                "bootstrap_servers": bootstrap,
                "consumer_group": "savepoint-golden",
                "transactional_id_prefix": "savepoint-golden",
            },
            "topics": topics,
            "database": {
                "dsn_env": DSN_ENV,
                "model_scores_batch_rows": 100_000,
                "model_scores_flush_ms": 900_000,
            },
            "model": model(1, 1.0, "golden-active"),
            "shadow_model": model(2, 3.0, "golden-shadow"),
            "detector": inputs["detector"],
            "checkpointing": {"interval_seconds": 1},
            "flink": {
                "jars": request["jars"],
                "parallelism": 1,
                "starting_offsets": "earliest",
                "checkpoint_dir": (work / "checkpoints").as_uri(),
                "state_backend": "rocksdb",
            },
        }
    )
    assert settings.flink.execution_mode == "thread"  # the old default: what a deployed job ran

    scores = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"golden-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    scores.assign([TopicPartition(topics["scores"], 0, 0)])
    scored: dict[str, dict[str, Any]] = {}

    def wait_scored(ids: set[str]) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not ids <= scored.keys():
            if time.monotonic() > deadline:
                raise AssertionError(f"not scored in {TIMEOUT_S:.0f}s: {sorted(ids - scored.keys())}")
            msg = scores.poll(0.5)
            value = None if msg is None or msg.error() else msg.value()
            if value is not None:
                record = json.loads(value)
                scored[record["transaction_id"]] = record

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    job = build(settings, environ=os.environ).execute_async(settings.job_name)
    try:
        for phase in inputs["phases"]:
            for record in phase["records"]:
                producer.produce(topics[phase["topic"]], json.dumps(record).encode())
            assert producer.flush(30) == 0
            if phase["topic"] == "transactions":
                wait_scored({r["transaction_id"] for r in phase["records"]})
            else:
                time.sleep(5)  # the label / control reaches both keyed stages (checked by the next phase)
            for tx_id, code in phase.get("expect", {}).items():
                assert code in scored[tx_id]["rule_codes"], scored[tx_id]
        time.sleep(2)  # the last scores' transactions committed; the model-score rows stay in state
        savepoint = stop_with_savepoint(job, (work / "savepoints").as_uri())
    except BaseException:
        job.cancel().result()
        raise
    finally:
        scores.close()
    print(json.dumps({"savepoint": savepoint, "scored": sorted(scored), "job_id": str(job.get_job_id())}))


if __name__ == "__main__":
    main()
