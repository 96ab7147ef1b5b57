"""spec.detector.alertDelivery on the mini-cluster: at-least-once alerts do not wait for a checkpoint.

The job checkpoints every 10 minutes, so nothing exactly-once is committed while the test runs: a
read_committed consumer sees the at-least-once alert at once, and no score record (those stay exactly-once).
Flink starts the periodic checkpoints after a random delay between the minimum pause and the interval, so the
minimum pause is set to the interval too: otherwise a first checkpoint within the test's seconds is possible.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fraud_jobs.flink.settings import CheckpointSettings
from fraud_jobs.flink.topology import build
from fraud_jobs.schemas import alert_id_for

from tests.jobs.flink.streams import ROLES, TopicReader, detector_settings, produce, tx

pytestmark = [pytest.mark.flink, pytest.mark.kafka]


def test_at_least_once_alerts_are_visible_before_any_checkpoint(
    kafka_bootstrap: str, kafka_topic_factory: Any, flink_jars: str, tmp_path: Path
) -> None:
    topics = {role: kafka_topic_factory(role) for role in ROLES}
    settings = detector_settings(
        kafka_bootstrap, topics, flink_jars, tmp_path / "ck", blocklist={"customers": ["C-BLOCKED"]}
    )
    settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"alert_delivery": "at-least-once"}),
            "checkpointing": CheckpointSettings(interval_seconds=600),
            "flink": settings.flink.model_copy(
                update={"extra": {"execution.checkpointing.min-pause": "600s"}}
            ),
        }
    )
    alerts = TopicReader(kafka_bootstrap, topics["alerts"])
    scores = TopicReader(kafka_bootstrap, topics["scores"])
    client = build(settings, environ={}).execute_async(settings.job_name)
    try:
        produce(kafka_bootstrap, topics["transactions"], [tx("tx-blocked", "C-BLOCKED", "T1", 12.5)])
        started = time.monotonic()
        found = alerts.wait(lambda a: a, 120, "the at-least-once alert")
        waited = time.monotonic() - started
        assert [a["transaction_id"] for a in found] == ["tx-blocked"]
        assert found[0]["alert_id"] == alert_id_for("tx-blocked")  # stable: a repeat de-duplicates
        assert [h["code"] for h in found[0]["rule_hits"]] == ["FR-005"]
        assert waited < 600  # long before the first checkpoint could have committed anything
        assert scores.poll(3) == [], "an exactly-once record was committed: a checkpoint completed"
    finally:
        client.cancel().result()
