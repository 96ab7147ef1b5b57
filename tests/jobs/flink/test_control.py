"""Live config from control messages: accepted once, folded in order, bad ones refused with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fraud_jobs.config import ControlError, DetectorConfig
from fraud_jobs.flink.control import accept_control, fold_controls
from fraud_jobs.schemas import BlocklistPatch, ControlMessage

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _msg(message_id: str, **fields: object) -> ControlMessage:
    return ControlMessage.model_validate({"message_id": message_id, "issued_at": NOW, **fields})


def test_accepted_messages_fold_in_order() -> None:
    base = DetectorConfig()
    accepted = accept_control(base, None, _msg("a", alert_threshold=0.3))
    accepted = accept_control(base, accepted, _msg("b", rules={"FR-002": {"max_count": 3}}))
    accepted = accept_control(base, accepted, _msg("c", alert_threshold=0.7))
    cfg, problems = fold_controls(base, accepted)
    assert problems == []
    assert cfg.alert_threshold == 0.7
    assert cfg.velocity.max_count == 3
    assert len(json.loads(accepted)) == 3


def test_redelivered_message_changes_nothing() -> None:
    base = DetectorConfig()
    msg = _msg("block", blocklist_add=BlocklistPatch(customers=("C1",)))
    once = accept_control(base, None, msg)
    assert accept_control(base, once, msg) == once
    cfg, _ = fold_controls(base, once)
    assert cfg.blocklist.customers == frozenset({"C1"})


def test_invalid_message_is_refused_and_config_kept() -> None:
    base = DetectorConfig()
    accepted = accept_control(base, None, _msg("a", alert_threshold=0.3))
    with pytest.raises(ControlError, match="FR-999"):
        accept_control(base, accepted, _msg("bad", rules={"FR-999": {"weight": 0.1}}))
    with pytest.raises(ControlError, match="max_count"):
        accept_control(base, accepted, _msg("bad2", rules={"FR-002": {"max_count": 99}}))
    cfg, _ = fold_controls(base, accepted)
    assert cfg.alert_threshold == 0.3


def test_fold_skips_messages_that_no_longer_apply() -> None:
    stale = json.dumps([_msg("x", rules={"FR-002": {"max_count": 99}}).model_dump_json()])
    cfg, problems = fold_controls(DetectorConfig(), stale)
    assert cfg == DetectorConfig()
    assert len(problems) == 1 and "max_count" in problems[0]
