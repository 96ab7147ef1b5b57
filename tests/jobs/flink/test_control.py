"""Live config from control messages: accepted once, folded in order, bad ones refused with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fraud_jobs.config import ControlError, DetectorConfig
from fraud_jobs.flink.control import RECENT_IDS, accept_control, fold_controls
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
    assert len(json.loads(accepted)["recent"]) == 3


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


# ----------------------------------------------------------------------------------------------------------
# compaction: the accepted state follows the live config, not the history


def _history(messages: list[ControlMessage]) -> str:
    """The uncompacted format-1 state an older job kept: every accepted message, in order."""
    return json.dumps([m.model_dump_json() for m in messages])


def _churn(n: int) -> list[ControlMessage]:
    """``n`` valid messages: thresholds, weights and velocity limits changing, customers blocked and
    unblocked again, a few terminals blocked for good."""
    out: list[ControlMessage] = []
    for i in range(n):
        step = i % 5
        if step == 0:
            out.append(_msg(f"m{i}", alert_threshold=round(0.3 + (i % 40) / 100, 2)))
        elif step == 1:
            out.append(_msg(f"m{i}", rules={"FR-002": {"max_count": 3 + i % 7, "weight": (i % 10) / 10}}))
        elif step == 2:
            out.append(_msg(f"m{i}", blocklist_add=BlocklistPatch(customers=(f"C{i}", f"C{i - 1}"))))
        elif step == 3:
            out.append(_msg(f"m{i}", blocklist_remove=BlocklistPatch(customers=(f"C{i - 1}", f"C{i - 2}"))))
        else:
            out.append(
                _msg(f"m{i}", alpha=(i % 9) / 10, blocklist_add=BlocklistPatch(terminals=(f"T{i % 3}",)))
            )
    return out


def test_ten_thousand_messages_compact_to_the_live_config() -> None:
    base = DetectorConfig(blocklist={"customers": {"C2", "C3", "KEEP"}})  # type: ignore[arg-type]
    messages = _churn(10_000)
    accepted: str | None = None
    sizes: dict[int, int] = {}
    for i, msg in enumerate(messages, start=1):
        accepted = accept_control(base, accepted, msg)
        if i in (1_000, 10_000):
            sizes[i] = len(accepted.encode())
    assert accepted is not None
    assert sizes[10_000] <= sizes[1_000] * 1.05, sizes  # bounded: 9,000 more messages add nothing
    compact, problems = fold_controls(base, accepted)
    uncompacted, history_problems = fold_controls(base, _history(messages))
    assert problems == [] and history_problems == []
    assert compact == uncompacted
    assert compact.blocklist.customers == {"C3", "KEEP"}  # every churned customer was unblocked again
    assert compact.blocklist.terminals == {"T0", "T1", "T2"}
    assert compact.velocity.max_count == 3 + 9_996 % 7
    size = len(accepted.encode())
    history_size = len(_history(messages).encode())
    assert size < 20_000, size  # the remembered ids dominate; the overrides are a few hundred bytes
    assert history_size > 50 * size
    doc = json.loads(accepted)
    assert doc["format"] == 2 and len(doc["recent"]) == RECENT_IDS
    assert doc["blocklist_remove"]["customers"] == ["C2"]  # a file entry unblocked: kept while on file


def test_removal_of_a_file_blocklist_entry_is_kept() -> None:
    base = DetectorConfig(blocklist={"customers": {"C1", "C2"}})  # type: ignore[arg-type]
    accepted = accept_control(base, None, _msg("r", blocklist_remove=BlocklistPatch(customers=("C1", "C9"))))
    doc = json.loads(accepted)
    assert doc["blocklist_remove"]["customers"] == ["C1"]  # C9 was never blocked: no tombstone
    cfg, _ = fold_controls(base, accepted)
    assert cfg.blocklist.customers == {"C2"}
    readded = accept_control(base, accepted, _msg("a", blocklist_add=BlocklistPatch(customers=("C1",))))
    cfg, _ = fold_controls(base, readded)
    assert cfg.blocklist.customers == {"C1", "C2"}
    assert json.loads(readded)["blocklist_remove"]["customers"] == []


def test_folding_the_compacted_state_equals_folding_the_history_at_every_step() -> None:
    base = DetectorConfig(blocklist={"terminals": {"T1"}})  # type: ignore[arg-type]
    messages = [
        *_churn(60),
        _msg("x1", blocklist_remove=BlocklistPatch(terminals=("T1",))),
        _msg("x2", rules={"FR-001": {"enabled": False}, "FR-002": {"window_s": 120.0}}),
        _msg(
            "x3",
            blocklist_add=BlocklistPatch(terminals=("T1",)),
            blocklist_remove=BlocklistPatch(terminals=("T1",)),
        ),
    ]
    accepted: str | None = None
    for i, msg in enumerate(messages):
        accepted = accept_control(base, accepted, msg)
        assert fold_controls(base, accepted) == fold_controls(base, _history(messages[: i + 1])), msg
    cfg, _ = fold_controls(base, accepted)
    assert "T1" not in cfg.blocklist.terminals and cfg.high_value.enabled is False
    assert cfg.velocity.window_s == 120.0


def test_redelivery_is_recognised_within_the_window_and_refused_beyond_it() -> None:
    base = DetectorConfig()
    first = _msg("first", alert_threshold=0.9)
    accepted = accept_control(base, None, first)
    later = [
        ControlMessage.model_validate(
            {
                "message_id": f"n{i}",
                "issued_at": NOW.replace(hour=1, second=i % 60, minute=i // 60),
                "alert_threshold": 0.5,
            }
        )
        for i in range(300)
    ]
    for msg in later[:100]:
        accepted = accept_control(base, accepted, msg)
    assert accept_control(base, accepted, first) == accepted  # still remembered: changes nothing
    for msg in later[100:]:
        accepted = accept_control(base, accepted, msg)
    assert fold_controls(base, accepted)[0].alert_threshold == 0.5
    with pytest.raises(ControlError, match="re-issue"):
        accept_control(base, accepted, first)  # forgotten and older: would undo newer changes
    fresh = _msg("first", alert_threshold=0.9).model_copy(update={"issued_at": NOW.replace(hour=5)})
    assert fold_controls(base, accept_control(base, accepted, fresh))[0].alert_threshold == 0.9


def test_old_format_state_from_a_savepoint_is_read_and_converted() -> None:
    base = DetectorConfig()
    old = _history(
        [
            _msg("a", alert_threshold=0.3),
            _msg("b", blocklist_add=BlocklistPatch(customers=("C1",))),
            _msg("stale", rules={"FR-002": {"max_count": 99}}),  # no longer applies: skipped, named
        ]
    )
    cfg, problems = fold_controls(base, old)
    assert cfg.alert_threshold == 0.3 and cfg.blocklist.customers == {"C1"}
    assert len(problems) == 1 and "max_count" in problems[0]
    assert accept_control(base, old, _msg("a", alert_threshold=0.3)) == accept_control(
        base,
        old,
        _msg("b", alert_threshold=0.1),  # both are redeliveries of old ids
    )
    upgraded = accept_control(base, old, _msg("c", alert_threshold=0.35))
    assert json.loads(upgraded)["format"] == 2
    cfg, problems = fold_controls(base, upgraded)
    assert problems == [] and cfg.alert_threshold == 0.35 and cfg.blocklist.customers == {"C1"}


def test_unreadable_state_is_named_not_guessed() -> None:
    base = DetectorConfig()
    for bad, needle in (
        ("{", "not JSON"),
        ('{"format": 7}', "unknown format 7"),
        ('{"format": 2}', "damaged"),
    ):
        cfg, problems = fold_controls(base, bad)
        assert cfg == base and len(problems) == 1 and needle in problems[0]
        with pytest.raises(ControlError, match=needle):
            accept_control(base, bad, _msg("a", alert_threshold=0.3))


def test_a_compacted_part_that_no_longer_applies_is_skipped_alone() -> None:
    """E.g. a rule field a newer DetectorConfig no longer accepts: the rest of the overrides still apply."""
    base = DetectorConfig()
    accepted = json.loads(accept_control(base, None, _msg("a", alert_threshold=0.3, alpha=0.5)))
    accepted["rules"] = {"FR-002": {"max_count": 99}, "FR-001": {"weight": 0.9}}
    cfg, problems = fold_controls(base, json.dumps(accepted))
    assert (cfg.alert_threshold, cfg.alpha, cfg.high_value.weight) == (0.3, 0.5, 0.9)
    assert cfg.velocity == base.velocity
    assert len(problems) == 1 and "FR-002" in problems[0] and "max_count" in problems[0]
