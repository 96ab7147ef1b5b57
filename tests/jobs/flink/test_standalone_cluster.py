"""The detector on a real Flink standalone cluster (JobManager + TaskManager JVMs), submitted by `bin/flink`.

This is how a FlinkDeployment runs it (PythonDriver ``-pym fraud_jobs.detector --config FILE``, connectors in
the cluster's lib/, Python functions in the TaskManager's embedded interpreter, RocksDB with state TTL), and
it catches what the in-client mini-cluster hides, e.g. a function that needs the client's Py4J gateway fails
in the TaskManager. The submitting client is detached and has exited before any event is produced, so what
is scored was scored in the TaskManager.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.generator import PATTERN_RULE, generate
from fraud_jobs.logic import customer_step, terminal_step
from fraud_jobs.schemas import DeadLetterRecord, Transaction
from streamflow_dev.flink_cluster import (
    FlinkCluster,
    cluster_config,
    ensure_flink_home,
    start_flink_cluster,
)
from streamflow_dev.procs import ComponentError, pid_alive, stop_pid

from tests.conftest import wait_for
from tests.jobs.flink.streams import (
    ROLES,
    TopicReader,
    assert_scored_as_replayed,
    detector_settings,
    job_metrics,
    produce,
    tx,
)

CUSTOMER, TERMINAL = "C-SA", "T-SA"
BEFORE = 5
"""Velocity allows 5 transactions in 10 min: the first after the restore fires FR-002 only if the 5
before the savepoint still count."""


def _submit(cluster: FlinkCluster, settings: JobSettings, config: Path, *extra: str) -> str:
    """``flink run -d`` the detector as the FlinkDeployment does; the job id the client printed."""
    config.write_text(settings.model_dump_json(), encoding="utf-8")
    python = sys.executable
    result = cluster.flink(
        "run", "-d", "-m", cluster.address, *extra,
        "-pyexec", python, "-pyclientexec", python,
        "-pym", "fraud_jobs.detector", "--config", str(config),
    )  # fmt: skip
    found = re.search(r"JobID ([0-9a-f]{32})", result.stdout)
    assert result.returncode == 0 and found, f"flink run failed:\n{result.stdout}\n{result.stderr}"
    return found.group(1)


def _job(cluster: FlinkCluster, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = cluster.rest(f"/jobs/{job_id}")
    return job


def _restarts(cluster: FlinkCluster, job_id: str) -> float | None:
    """The job's numRestarts metric; None until the JobManager has reported it (just after a submit)."""
    metrics = cluster.rest(f"/jobs/{job_id}/metrics?get=numRestarts")
    return float(metrics[0]["value"]) if metrics else None


def _reported_restarts(cluster: FlinkCluster, job_id: str) -> float:
    """numRestarts once the JobManager reports it (it does not for a moment after a submit)."""
    seen: list[float] = []

    def reported() -> bool:
        value = _restarts(cluster, job_id)
        if value is not None:
            seen.append(value)
        return value is not None

    wait_for(reported, 30, what="the numRestarts metric")
    return seen[-1]


def _healthy(cluster: FlinkCluster, job_id: str) -> None:
    """Fail at once, with the task's exception, when the job failed or restarted (instead of timing out)."""
    state = _job(cluster, job_id)["state"]
    entries = cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    if state in ("FAILED", "FAILING", "RESTARTING") or entries or (_restarts(cluster, job_id) or 0) > 0:
        trace = entries[0]["stacktrace"][:4000] if entries else "(no exception recorded)"
        raise AssertionError(f"job {job_id} is {state} or restarted on the cluster:\n{trace}")


def _watching(cluster: FlinkCluster, job_id: str, predicate: Callable[[list[dict[str, Any]]], Any]) -> Any:
    """``predicate`` for TopicReader.wait that first checks the job is still healthy."""

    def check(records: list[dict[str, Any]]) -> Any:
        _healthy(cluster, job_id)
        return predicate(records)

    return check


def _rule_codes_from_empty_state(raw: bytes, settings: JobSettings) -> list[str]:
    """What the job's pure steps decide for one transaction of a customer and terminal never seen."""
    txn = Transaction.model_validate_json(raw)
    _, enriched = terminal_step(None, txn, settings.detector)
    _, record, _ = customer_step(None, enriched, settings.detector, None, datetime.now(UTC))
    return list(record.rule_codes)


def _stop_with_savepoint(cluster: FlinkCluster, job_id: str, target: Path) -> str:
    """The REST API's stop-with-savepoint; the savepoint's location once the job is FINISHED."""
    trigger = cluster.rest(f"/jobs/{job_id}/stop", {"targetDirectory": target.as_uri(), "drain": False})

    def done() -> dict[str, Any] | None:
        answer: dict[str, Any] = cluster.rest(f"/jobs/{job_id}/savepoints/{trigger['request-id']}")
        return answer if answer["status"]["id"] == "COMPLETED" else None

    operation = wait_for(done, timeout=60, what="the savepoint")["operation"]
    assert "location" in operation, f"stop-with-savepoint failed: {operation}"
    wait_for(lambda: _job(cluster, job_id)["state"] == "FINISHED", 30, what="the stopped job")
    location: str = operation["location"]
    return location


@pytest.mark.flink
@pytest.mark.kafka
def test_detector_on_standalone_cluster(
    flink_cluster: FlinkCluster, kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    cluster = flink_cluster
    gen = generate(500, seed=11, malformed_ratio=0.04, days=8)
    valid = [r for r in gen.records if r.malformed is None]
    malformed = [r for r in gen.records if r.malformed is not None]
    assert malformed and any(r.pattern for r in valid)
    topics = {role: kafka_topic_factory(role) for role in ROLES}
    blocked = gen.control.blocklist_add
    blocklist = {"customers": list(blocked.customers), "terminals": list(blocked.terminals)}
    settings = detector_settings(kafka_bootstrap, topics, "", tmp_path / "checkpoints", blocklist=blocklist)
    settings = settings.with_flink(jars=None)  # the connectors come from the cluster's lib/, as in production
    assert settings.flink.state_backend == "rocksdb" and settings.detector.state_ttl_s > 0
    job_id = _submit(cluster, settings, tmp_path / "detector.json")
    wait_for(lambda: _job(cluster, job_id)["state"] == "RUNNING", 60, what="the job RUNNING")
    _healthy(cluster, job_id)

    scores = TopicReader(kafka_bootstrap, topics["scores"])
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    dlq = TopicReader(kafka_bootstrap, topics["dlq"])
    produce(
        kafka_bootstrap,
        topics["transactions"],
        [r.payload for r in gen.records],
        [r.key for r in gen.records],
    )

    # --- every valid record scored, as the pure replay decides; patterns alert with their rule; DLQ complete
    scores.wait(
        _watching(cluster, job_id, lambda s: len(s) >= len(valid)), 120, f"{len(valid)} score records"
    )
    by_tx = {s["transaction_id"]: s for s in scores.records}
    assert len(scores.records) == len(valid)
    assert set(by_tx) == {json.loads(r.payload)["transaction_id"] for r in valid}
    replayed = assert_scored_as_replayed(by_tx, valid, settings.detector, tmp_path)
    should_alert = {r.transaction_id for r in replayed if r.alert}
    assert should_alert
    # alerts commit in their own Kafka transaction, possibly a moment after the scores' one
    alerts.wait(lambda a: should_alert <= {x["transaction_id"] for x in a}, 30, "every alert committed")
    alerted = {a["transaction_id"]: a for a in alerts.poll(1)}
    assert set(alerted) == should_alert
    for rec in valid:
        if rec.pattern is None:
            continue
        tx_id = json.loads(rec.payload)["transaction_id"]
        assert tx_id in alerted, f"{rec.pattern} transaction {tx_id} raised no alert"
        codes = [h["code"] for h in alerted[tx_id]["rule_hits"]]
        assert PATTERN_RULE[rec.pattern] in codes, f"{tx_id} ({rec.pattern}): {codes}"
    dead = dlq.wait(lambda d: len(d) >= len(malformed) and d, 60, f"{len(malformed)} DLQ records")
    assert len(dead) == len(malformed)
    for entry in dead:
        record = DeadLetterRecord.model_validate(entry)
        assert record.source_topic == topics["transactions"] and record.error_message

    # --- RUNNING without a restart; the counters come from the subtasks the TaskManager runs
    assert _job(cluster, job_id)["state"] == "RUNNING"
    assert _reported_restarts(cluster, job_id) == 0
    taskmanagers = {tm["id"] for tm in cluster.rest("/taskmanagers")["taskmanagers"]}
    for vertex in _job(cluster, job_id)["vertices"]:
        subtasks = cluster.rest(f"/jobs/{job_id}/vertices/{vertex['id']}")["subtasks"]
        assert {s["taskmanager-id"] for s in subtasks} <= taskmanagers, vertex["name"]
        assert all(s["status"] == "RUNNING" for s in subtasks), vertex["name"]

    def settled() -> dict[str, float] | None:
        metrics = job_metrics(cluster.rest_port, job_id)
        return metrics if metrics.get("decide.events_scored") == len(valid) else None

    metrics = wait_for(settled, timeout=60, interval=2, what="the TaskManager's metrics")
    assert metrics["parse-transactions.events_in"] == len(gen.records)
    tm_log = "".join(p.read_text(errors="replace") for p in cluster.taskmanager_logs())
    assert "terminal-stage" in tm_log and "customer-stage" in tm_log
    assert "EmbeddedPythonEnvironmentManager" in tm_log  # thread mode: the interpreter inside the TM
    assert "EmbeddedRocksDBStateBackend" in tm_log

    # --- stop with a savepoint (REST API), resubmit from it: the customer's velocity window survives
    start = datetime.now(UTC)
    history = [tx(f"sa-{i}", CUSTOMER, TERMINAL, 20.0, start + timedelta(seconds=i)) for i in range(BEFORE)]
    produce(kafka_bootstrap, topics["transactions"], history)
    scores.wait(
        lambda s: f"sa-{BEFORE - 1}" in {x["transaction_id"] for x in s}, 60, "the customer's history"
    )
    assert not any(
        "FR-002" in s["rule_codes"] for s in scores.records if s["transaction_id"].startswith("sa-")
    )
    savepoint = _stop_with_savepoint(cluster, job_id, tmp_path / "savepoints")
    job_id = _submit(cluster, settings, tmp_path / "restored.json", "-s", savepoint)
    sa_next = tx("sa-next", CUSTOMER, TERMINAL, 20.0, start + timedelta(seconds=30))
    produce(kafka_bootstrap, topics["transactions"], [sa_next])
    restored = _watching(
        cluster, job_id, lambda s: next((x for x in s if x["transaction_id"] == "sa-next"), None)
    )
    after = scores.wait(restored, 90, "a score after the restore")
    assert "FR-002" in after["rule_codes"], after
    assert "FR-002" not in _rule_codes_from_empty_state(sa_next, settings)  # so only the savepoint's state
    assert len([s for s in scores.records if s["transaction_id"] in by_tx]) == len(valid)  # none replayed
    assert _job(cluster, job_id)["state"] == "RUNNING" and _reported_restarts(cluster, job_id) == 0
    cluster.rest(f"/jobs/{job_id}?mode=cancel", method="PATCH")
    wait_for(lambda: _job(cluster, job_id)["state"] == "CANCELED", 60, what="the job canceled")
    for reader in (scores, alerts, dlq):
        reader.close()


@pytest.mark.flink
def test_default_ttl_state_fails_in_a_taskmanager(flink_cluster: FlinkCluster) -> None:
    """The bug class the mini-cluster hides: state with PyFlink's default TTL cleanup asks for the Py4J
    gateway when a thread-mode TaskManager creates it, and the task fails in ``open()`` (FLINK-40628)."""
    cluster = flink_cluster
    python = sys.executable
    result = cluster.flink(
        "run", "-d", "-m", cluster.address, "-pyexec", python, "-pyclientexec", python,
        "-py", str(Path(__file__).with_name("ttl_default_job.py")), "default-ttl-probe",
    )  # fmt: skip
    found = re.search(r"JobID ([0-9a-f]{32})", result.stdout)
    assert result.returncode == 0 and found, f"flink run failed:\n{result.stdout}\n{result.stderr}"
    job_id = found.group(1)

    def ended() -> str | None:
        state: str = _job(cluster, job_id)["state"]
        return state if state in ("FAILED", "FINISHED", "CANCELED") else None

    state = wait_for(ended, 90, what="the probe job to end")
    entries = cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
    trace = entries[0]["stacktrace"] if entries else ""
    assert state == "FAILED", (
        f"default TTL state worked in the TaskManager ({state}): the probe proves nothing"
    )
    assert "ttl_default_job" in trace, trace[-3000:]  # our function's open(), in the TaskManager
    assert "get_gateway" in trace and "to_java_state_ttl_config" in trace, trace[-3000:]


# ---------------------------------------------------------------- assembling the cluster (no JVM started)


def test_flink_home_links_the_wheel_flink_python_and_the_connectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMFLOW_CACHE", str(tmp_path / "cache"))
    connector = tmp_path / "some-connector-1.0.jar"
    connector.write_bytes(b"PK")
    home = ensure_flink_home([connector])
    assert (home / "lib" / connector.name).resolve() == connector.resolve()
    libs = {p.name for p in (home / "lib").iterdir()}
    assert {"flink-dist-2.2.1.jar", "flink-python-2.2.1.jar", connector.name} <= libs
    assert (home / "opt" / "flink-python-2.2.1.jar").is_file()
    assert (home / "bin" / "config.sh").is_file() and not (home / "bin").is_symlink()
    assert ensure_flink_home([connector]) == home  # cached
    assert ensure_flink_home([]) != home  # keyed by the jar set


def test_a_missing_connector_jar_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMFLOW_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ComponentError, match=r"gone-1\.0\.jar"):
        ensure_flink_home([tmp_path / "gone-1.0.jar"])


def test_cluster_config_keeps_the_java17_options_and_sets_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMFLOW_CACHE", str(tmp_path / "cache"))
    home = ensure_flink_home([])
    config = cluster_config(
        home, rpc_port=1111, rest_port=2222, tmp_dir=tmp_path / "tmp", extra={"parallelism.default": "2"}
    )
    assert config["rest.port"] == 2222 and config["jobmanager.rpc.port"] == 1111
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in config["env.java.opts.all"]
    assert config["env.java.opts.all"].endswith(f"-Djava.io.tmpdir={tmp_path / 'tmp'}")
    assert "TieredStopAtLevel" not in config["env.java.opts.all"]  # only the CLI client's JVM is tuned
    assert config["python.executable"] == sys.executable == config["python.client.executable"]
    assert config["taskmanager.numberOfTaskSlots"] == 1 and config["parallelism.default"] == "2"
    assert all(not isinstance(v, dict) for v in config.values())  # flat keys only
    assert yaml.safe_load("".join(f"{k}: {json.dumps(v)}\n" for k, v in config.items())) == config


def test_no_taskmanager_is_refused_before_anything_starts(tmp_path: Path) -> None:
    started: list[Any] = []
    with pytest.raises(ComponentError, match="at least 1"):
        start_flink_cluster(tmp_path, started, taskmanagers=0)
    assert started == []


def test_a_taskmanager_that_cannot_start_is_named_with_its_log(tmp_path: Path) -> None:
    started: list[Any] = []
    try:
        with pytest.raises(ComponentError) as failure:
            start_flink_cluster(
                tmp_path, started, jars=[], extra_config={"taskmanager.memory.process.size": "1m"}
            )
    finally:
        for process in reversed(started):
            stop_pid(process.pid)
    message = str(failure.value)
    assert failure.value.component == "flink-taskmanager-0", message
    assert "exited while the cluster started" in message and "taskmanager-0.out" in message
    assert "memory" in message.lower()  # the log's tail says why
    assert not any(pid_alive(p.pid) for p in started)
