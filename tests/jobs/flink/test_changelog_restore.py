"""The detector on Flink's changelog state backend: a retained checkpoint restores every customer's history.

With ``changelog`` a checkpoint uploads the state changes since the previous one instead of a snapshot of
all of it; the full snapshot is materialized in the background. Materialization is pushed out to an hour
here, so the checkpoint the job restores from holds the history only as changelog: the restore has to
replay it onto the heap state. The restore runs in CLAIM mode: in Flink's default NO_CLAIM mode the first
checkpoint after a restore must be a full one, which the changelog backend cannot take, and every
checkpoint fails (the job then never commits an alert).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.flink.topology import build, flink_configuration

from tests.jobs.flink.streams import ROLES, TopicReader, detector_settings, latest_checkpoint, produce, tx

pytestmark = [pytest.mark.flink, pytest.mark.kafka]


def _start(settings: JobSettings) -> Any:
    return build(settings, environ={}).execute_async(settings.job_name)


def _completed(checkpoints: Path, job_id: str) -> set[int]:
    return {
        int(p.name.split("-")[1]) for p in (checkpoints / job_id).glob("chk-*") if (p / "_metadata").exists()
    }


def test_the_job_configuration_turns_the_changelog_on_beside_the_checkpoints(tmp_path: Path) -> None:
    topics = {role: f"cl-{role}" for role in ROLES}
    settings = detector_settings("localhost:9092", topics, "file:///jars.jar", tmp_path / "ck")
    assert flink_configuration(settings).to_dict().get("state.changelog.enabled") is None  # the cluster's
    conf = flink_configuration(settings.with_flink(changelog=True)).to_dict()
    assert conf["state.changelog.enabled"] == "true"
    assert conf["state.changelog.storage"] == "filesystem"
    assert conf["state.changelog.dstl.dfs.base-path"] == f"{(tmp_path / 'ck').as_uri()}/changelog"
    assert conf["execution.state-recovery.claim-mode"] == "CLAIM"
    assert (
        flink_configuration(settings.with_flink(changelog=False)).to_dict()["state.changelog.enabled"]
        == "false"
    )


def test_a_changelog_checkpoint_restores_the_customer_history(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, tmp_path: Path
) -> None:
    topics = {role: kafka_topic_factory(role) for role in ROLES}
    checkpoints = tmp_path / "checkpoints"
    settings = detector_settings(kafka_bootstrap, topics, flink_jars, checkpoints).with_flink(
        state_backend="hashmap",
        changelog=True,
        extra={"state.changelog.periodic-materialize.interval": "1h"},
    )
    scores = TopicReader(kafka_bootstrap, topics["scores"])
    job = _start(settings)
    job_id = str(job.get_job_id())
    start = datetime.now(UTC)
    history = [tx(f"cl-{i}", "CCL", "TCL", 100.0 + i, start + timedelta(minutes=i)) for i in range(6)]
    produce(kafka_bootstrap, topics["transactions"], history)
    scores.wait(lambda s: "cl-5" in {x["transaction_id"] for x in s}, 120, "the customer's history scored")
    scored_by = max(_completed(checkpoints, job_id), default=0)
    deadline = time.monotonic() + 60
    while max(_completed(checkpoints, job_id), default=0) <= scored_by + 1:  # one begun after the scores
        assert time.monotonic() < deadline, "no checkpoint completed after the history was scored"
        time.sleep(0.5)
    job.cancel().result()

    changelog = [p for p in (checkpoints / "changelog").rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert changelog, "the job wrote no changelog under <checkpoint_dir>/changelog"
    checkpoint = latest_checkpoint(checkpoints, job_id)
    job = _start(settings.with_flink(restore_from=checkpoint.as_uri()))
    produce(
        kafka_bootstrap,
        topics["transactions"],
        [tx("cl-big", "CCL", "TCL", 5000.0, start + timedelta(hours=1))],
    )
    big = scores.wait(
        lambda s: next((x for x in s if x["transaction_id"] == "cl-big"), None),
        120,
        "score after the restore",
    )
    assert "FR-001" in big["rule_codes"], big  # needs the six amounts, restored from the changelog
    assert [x["transaction_id"] for x in scores.records].count("cl-5") == 1  # offsets restored too
    job.cancel().result()
    scores.close()
