"""A savepoint of the detector whose keyed stages ran in Python, restored into the JVM-stage detector.

``data/savepoint-python-detector`` holds a savepoint taken by the job of git 2c4a474 (Python terminal and
customer stages in thread mode, a pickled ``bytes`` ValueState per key; its README says how it was made)
after it read ``inputs.json``: a customer with 5 transactions within 10 minutes, one with 12 amounts over 12
days, a terminal with a delivered fraud label, a control message that blocks a terminal and lowers the alert
threshold to 0.2, and an active and a shadow model whose ``gold.model_scores`` rows still waited in the
writer's state. The current job starts from it on topics of the same names holding the same records at the
same offsets.

Kept in either Python execution mode:

* the JVM stages' keyed history: the 6th transaction within 10 minutes fires FR-002, 900.00 against the 12
  amounts fires FR-001 with their mean, a new customer at the labelled terminal gets FR-007, each reason
  exactly as the Python logic gives it over the whole history (PickledState unwraps the old values);
* the live controls in the stages' broadcast state: the blocked terminal fires FR-005 and FR-007 alone
  (score < 0.4) alerts under the threshold 0.2;
* the Kafka offsets: no transaction read before the savepoint is scored again; nothing goes to the DLQ.

The two *Python* keyed states, the control manager's accepted document (``accepted-controls``) and the
model-score writer's waiting rows (``model-score-rows``), are kept only when the job runs in thread mode, the
mode the savepoint was taken in. In process mode (not the default) PyFlink keeps a Python function's
keyed state on the JVM as ``python-state-<name>``, a LIST of Beam-coded bytes, while thread mode keeps it as
``<name>`` with the declared type (VALUE of STRING, LIST of pickled bytes): Flink restores the old entries
but nothing reads them, with no error. So in process mode the next control message's document, folded over
an empty one, replaces every restored override (the test shows the restored blocklist entry gone), and the
waiting model-score rows are never written.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import re
import shutil
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from fraud_jobs.config import DetectorConfig, apply_control
from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.logic import apply_label_customer, apply_label_terminal, customer_step, terminal_step
from fraud_jobs.schemas import ControlMessage, Label, Transaction, parse_transaction
from fraud_jobs.state import CustomerState, TerminalState
from fraud_models.features import FEATURE_NAMES
from fraud_models.scorer import compile_model
from fraud_operator.db.migrations import migrate
from sklearn.ensemble import IsolationForest

from tests.conftest import wait_for
from tests.jobs.flink.streams import TopicReader, produce

pytestmark = [pytest.mark.flink, pytest.mark.kafka, pytest.mark.postgres]

DATA = Path(__file__).parent / "data" / "savepoint-python-detector"
INPUTS: dict[str, Any] = json.loads((DATA / "inputs.json").read_text(encoding="utf-8"))
DSN_ENV = "SAVEPOINT_UPGRADE_PG_DSN"
MODELS = ("golden-active", "golden-shadow")


def _raw(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def _tx(tx_id: str, customer: str, terminal: str, when: datetime) -> dict[str, Any]:
    return {
        "transaction_id": tx_id,
        "customer_id": customer,
        "terminal_id": terminal,
        "amount": 35.0,
        "event_time": when.isoformat(),
    }


class _Logic:
    """The Python definition over the same history: the hits each probe must get (FR-006 aside, since it
    depends on the model)."""

    def __init__(self) -> None:
        self.cfg = DetectorConfig.model_validate(INPUTS["detector"])
        self.terminals: dict[str, bytes] = {}
        self.customers: dict[str, bytes] = {}

    def feed(self, topic: str, record: dict[str, Any]) -> list[tuple[str, str]]:
        if topic == "control":
            self.cfg = apply_control(self.cfg, ControlMessage.model_validate(record))
            return []
        if topic == "labels":
            label = Label.model_validate(record)
            self.terminals[label.terminal_id] = apply_label_terminal(
                self.terminals.get(label.terminal_id), label, self.cfg
            )
            self.customers[label.customer_id] = apply_label_customer(
                self.customers.get(label.customer_id), label, self.cfg
            )
            return []
        tx = parse_transaction(_raw(record))
        assert isinstance(tx, Transaction)
        self.terminals[tx.terminal_id], enriched = terminal_step(
            self.terminals.get(tx.terminal_id), tx, self.cfg
        )
        self.customers[tx.customer_id], _, alert = customer_step(
            self.customers.get(tx.customer_id), enriched, self.cfg, None, tx.event_time
        )
        return [] if alert is None else [(h.code, h.reason) for h in alert.rule_hits]


def _hits(alert: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["code"], h["reason"]) for h in alert["rule_hits"] if h["code"] != "FR-006"]


def _fixed_topics(bootstrap: str, names: Iterable[str]) -> AdminClient:
    """The topics of the savepoint, by their stored names, created empty (deleted first if a reused stack
    still has them)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = list(names)
    existing = set(admin.list_topics(timeout=30).topics) & set(names)
    if existing:
        for future in admin.delete_topics(sorted(existing), operation_timeout=30).values():
            future.result(timeout=30)

    def created() -> bool:
        missing = [n for n in names if n not in admin.list_topics(timeout=30).topics]
        if not missing:
            return True
        for future in admin.create_topics([NewTopic(n, 1, 1) for n in missing]).values():
            try:
                future.result(timeout=30)
            except Exception:  # still marked for deletion: try again
                return False
        return True

    wait_for(created, timeout=60, interval=1, what="the savepoint's topics")
    return admin


def _model(work: Path, seed: int, scale: float, version: str) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    forest = IsolationForest(n_estimators=20, random_state=seed).fit(
        rng.normal(size=(500, len(FEATURE_NAMES))) * scale
    )
    path = work / f"{version}.model"
    model = compile_model(
        forest, algorithm="isolation_forest", columns=list(range(len(FEATURE_NAMES))), version=version
    )
    return {"name": version, "version": version, "uri": str(path), "sha256": model.save(path)}


def _settings(bootstrap: str, jars: str, work: Path, savepoint: Path) -> JobSettings:
    return JobSettings.model_validate(
        {
            "pipeline": {"name": "savepoint-upgrade", "namespace": "tests"},
            "kafka": {
                "bootstrap_servers": bootstrap,
                "consumer_group": "savepoint-golden",
                "transactional_id_prefix": "savepoint-golden",
            },
            "topics": INPUTS["topics"],
            "database": {"dsn_env": DSN_ENV},
            "model": _model(work, 1, 1.0, MODELS[0]),
            "shadow_model": _model(work, 2, 3.0, MODELS[1]),
            "detector": INPUTS["detector"],
            "checkpointing": {"interval_seconds": 1},
            "flink": {
                "jars": jars,
                "parallelism": 1,
                "starting_offsets": "earliest",
                "checkpoint_dir": (work / "checkpoints").as_uri(),
                "state_backend": "rocksdb",
                "restore_from": savepoint.as_uri(),
            },
        }
    )


def _model_score_rows(dsn: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT transaction_id, model_version, role FROM gold.model_scores").fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_golden_savepoint_holds_the_python_layout() -> None:
    """What the JVM stages unwrap (PickledState): each value of the Python stages' ValueState is a protocol-4
    pickle of one ``bytes`` object (PROTO, FRAME, SHORT_BINBYTES or BINBYTES, MEMOIZE, STOP), and that
    object is, byte for byte, what fraud_jobs.state gives over the same records. The savepoint keeps its
    keyed state inline in ``_metadata``: each value follows its key (the id) and its TTL timestamp."""
    metadata = (DATA / "savepoint" / "_metadata").read_bytes()
    stored: dict[str, bytes] = {}
    opcodes: set[tuple[str, ...]] = set()
    for match in re.finditer(rb"\x80\x04\x95", metadata):
        value = pickle.loads(metadata[match.start() :])
        if not isinstance(value, bytes):
            assert isinstance(value, tuple)  # a pending row group of the model-score writer
            continue
        opcodes.add(tuple(op.name for op, _, _ in pickletools.genops(metadata[match.start() :])))
        key = re.findall(rb"[CT]-[A-Z0-9-]+", metadata[match.start() - 32 : match.start()])[-1].decode()
        stored[key] = value
    assert opcodes == {
        ("PROTO", "FRAME", "SHORT_BINBYTES", "MEMOIZE", "STOP"),
        ("PROTO", "FRAME", "BINBYTES", "MEMOIZE", "STOP"),
    }
    logic = _Logic()
    for phase in INPUTS["phases"]:
        for record in phase["records"]:
            logic.feed(phase["topic"], record)
    assert stored == {**logic.customers, **logic.terminals}
    assert CustomerState.from_bytes(stored["C-HIST"]).n == 12
    assert TerminalState.from_bytes(stored["T-LBL"]).fraud_labels == 1


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_python_detector_savepoint_restores(
    mode: str, kafka_bootstrap: str, flink_jars: str, postgres_dsn: str, tmp_path: Path
) -> None:
    """``thread``: the savepoint's own Python execution mode, everything is kept. ``process`` (the current
    default): the JVM stages' state, the broadcast controls and the offsets are kept, the two Python keyed
    states are not (module docstring)."""
    kept_by_python = mode == "thread"
    topics: dict[str, str] = INPUTS["topics"]
    admin = _fixed_topics(kafka_bootstrap, topics.values())
    migrate(postgres_dsn)
    logic = _Logic()
    saved: list[str] = []
    for phase in INPUTS["phases"]:  # the same records at the same offsets as when the savepoint was taken
        produce(kafka_bootstrap, topics[phase["topic"]], [_raw(r) for r in phase["records"]])
        for record in phase["records"]:
            logic.feed(phase["topic"], record)
            if phase["topic"] == "transactions":
                saved.append(record["transaction_id"])
    savepoint = tmp_path / "savepoint"  # elsewhere than where it was taken: relocatable
    shutil.copytree(DATA / "savepoint", savepoint)
    settings = _settings(kafka_bootstrap, flink_jars, tmp_path, savepoint).with_flink(execution_mode=mode)

    scores = TopicReader(kafka_bootstrap, topics["scores"])
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    dlq = TopicReader(kafka_bootstrap, topics["dlq"])
    started = time.monotonic()
    job = build(settings, environ={DSN_ENV: postgres_dsn}).execute_async(settings.job_name)
    try:
        # --- keyed history and live controls, read by the JVM stages
        probes = list(INPUTS["probes"])
        produce(kafka_bootstrap, topics["transactions"], [_raw(p) for p in probes])
        expected = {p["transaction_id"]: logic.feed("transactions", p) for p in probes}
        got = alerts.wait(
            lambda a: (by := {r["transaction_id"]: r for r in a}).keys() >= expected.keys() and by,
            120,
            "the probes' alerts",
        )
        restored_s = time.monotonic() - started
        for tx_id, hits in expected.items():
            assert _hits(got[tx_id]) == hits, (tx_id, got[tx_id]["rule_hits"])
        assert ("FR-002", "6 transactions within 10 min (more than 5 allowed)") in expected["p-vel"]
        assert any(c == "FR-001" and "mean 45.90 (std" in r for c, r in expected["p-hist"]), expected
        assert expected["p-lbl"] == [("FR-007", "1 confirmed fraud(s) at this terminal within 28 days")]
        assert expected["p-blk"] == [("FR-005", "terminal T-BLK is blocklisted")]
        by_tx = {
            s["transaction_id"]: s for s in scores.wait(lambda s: len(s) >= len(probes) and s, 30, "scores")
        }
        assert by_tx["p-lbl"]["alert"] and by_tx["p-lbl"]["score"] < 0.4  # under the restored threshold 0.2
        assert all(by_tx[p["transaction_id"]]["ml_score"] is not None for p in probes)  # the model scored

        # --- a new control message: folded over the restored accepted ones only if the control manager's
        # state was kept; otherwise its document replaces them in the stages
        t0 = datetime.fromisoformat(INPUTS["t0"])
        control: dict[str, Any] = {
            "message_id": "after-restore",
            "issued_at": (t0 + timedelta(minutes=30)).isoformat(),
            "blocklist_add": {"terminals": ["T-BLK2"]},
        }
        produce(kafka_bootstrap, topics["control"], [_raw(control)])
        rounds = iter(range(100))

        def one_round(_: Any) -> Any:
            """One probe at the newly blocked terminal, then one at the restored one: the first tells
            whether the new message is in force for the second (one partition, one keyed path)."""
            i = next(rounds)
            when = t0 + timedelta(minutes=40, seconds=i)
            pair = [
                _tx(f"r{i}-new", f"C-R{i}-N", "T-BLK2", when),
                _tx(f"r{i}-old", f"C-R{i}-O", "T-BLK", when),
            ]
            produce(kafka_bootstrap, topics["transactions"], [_raw(r) for r in pair])
            probes.extend(pair)
            ids = {p["transaction_id"] for p in pair}
            seen = scores.wait(
                lambda s: (by := {r["transaction_id"]: r for r in s}).keys() >= ids and by, 30, "a round"
            )
            return (
                (seen[f"r{i}-new"], seen[f"r{i}-old"])
                if "FR-005" in seen[f"r{i}-new"]["rule_codes"]
                else None
            )

        new, old = scores.wait(one_round, 60, "the new control message in force")
        alerted = alerts.wait(
            lambda a: (by := {r["transaction_id"]: r for r in a}).get(new["transaction_id"]) and by,
            30,
            "the round's alert",
        )
        assert _hits(alerted[new["transaction_id"]]) == [("FR-005", "terminal T-BLK2 is blocklisted")]
        restored_entry_kept = "FR-005" in old["rule_codes"]
        assert restored_entry_kept == kept_by_python, (mode, old)

        # --- offsets kept: only what was produced after the savepoint is scored, each once
        probe_ids = [p["transaction_id"] for p in probes]
        time.sleep(3)
        scored_ids = [s["transaction_id"] for s in scores.poll(1)]
        assert sorted(scored_ids) == sorted(probe_ids), scored_ids

        # --- the model-score rows that waited in the savepoint's writer state: written once, or lost
        want = {(t, v) for t in (saved if kept_by_python else []) + probe_ids for v in MODELS}

        def all_rows() -> list[tuple[str, str, str]] | None:
            rows = _model_score_rows(postgres_dsn)
            return rows if {(t, v) for t, v, _ in rows} >= want else None

        rows = wait_for(all_rows, timeout=60, what="the model-score rows in PostgreSQL")
        time.sleep(1)  # a restored row group would be written by the same flush
        rows = _model_score_rows(postgres_dsn)
        assert sorted((t, v) for t, v, _ in rows) == sorted(want)
        assert {(v, role) for _, v, role in rows} == {(MODELS[0], "active"), (MODELS[1], "shadow")}

        assert dlq.poll(2) == []  # every restored state value was read
        assert job.get_job_status().result().name == "RUNNING"
        print(
            f"\n{mode}: first alerts {restored_s:.1f}s after submission; {len(probe_ids)} transactions scored"
            f" after the restore, none of the {len(saved)} before it; restored blocklist entry kept after a"
            f" new control message: {restored_entry_kept}; model-score rows: {len(rows)}"
            f" ({len(rows) - 2 * len(probe_ids)} from the savepoint)"
        )
    finally:
        job.cancel().result()
        for reader in (scores, alerts, dlq):
            reader.close()
        for future in admin.delete_topics(list(topics.values()), operation_timeout=30).values():
            future.result(timeout=30)
