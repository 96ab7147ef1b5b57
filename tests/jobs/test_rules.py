"""Rule predicates (fire with the right code and reason, quiet on normal values), combination, control."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from fraud_jobs.config import ControlError, DetectorConfig, apply_control
from fraud_jobs.rules import (
    AnomalyRule,
    BlocklistRule,
    HighValueRule,
    ImpossibleTravelRule,
    TerminalRiskRule,
    UnusualHourRule,
    VelocityRule,
    combine,
)
from fraud_jobs.schemas import BlocklistPatch, ControlMessage, RuleHit
from fraud_models.features import haversine_km


def test_haversine_known_distance() -> None:
    # Brussels -> Paris is about 264 km.
    assert haversine_km(50.85, 4.35, 48.86, 2.35) == pytest.approx(264, abs=3)
    assert haversine_km(10.0, 10.0, 10.0, 10.0) == 0.0


def test_high_value() -> None:
    rule = HighValueRule()
    hit = rule.check(amount=900.0, n=20, mean=50.0, std=10.0)
    assert hit is not None and hit.code == "FR-001"
    assert "900.00" in hit.reason and "mean 50.00" in hit.reason
    assert rule.check(amount=70.0, n=20, mean=50.0, std=10.0) is None
    assert rule.check(amount=900.0, n=rule.min_history - 1, mean=50.0, std=10.0) is None  # too little history
    # a customer who always pays exactly 50: the std floor stops 60 from looking like infinite sigma
    assert rule.check(amount=60.0, n=50, mean=50.0, std=0.0) is None
    assert HighValueRule(enabled=False).check(amount=900.0, n=20, mean=50.0, std=10.0) is None


def test_velocity() -> None:
    rule = VelocityRule(max_count=5)
    assert rule.check(5) is None
    hit = rule.check(6)
    assert hit is not None and hit.code == "FR-002" and "6 transactions" in hit.reason


def test_impossible_travel() -> None:
    rule = ImpossibleTravelRule()
    hit = rule.check(distance_km=1500.0, hours=0.5)
    assert hit is not None and hit.code == "FR-003" and "3000 km/h" in hit.reason
    assert rule.check(distance_km=1500.0, hours=3.0) is None  # 500 km/h: a plane
    assert rule.check(distance_km=20.0, hours=0.0) is None  # next-door terminals, GPS noise
    instant = rule.check(distance_km=500.0, hours=0.0)
    assert instant is not None and "instantly" in instant.reason


def test_unusual_hour() -> None:
    rule = UnusualHourRule()
    hit = rule.check(hour=3, share=0.0, n=60)
    assert hit is not None and hit.code == "FR-004" and "03:00" in hit.reason
    assert rule.check(hour=14, share=0.3, n=60) is None
    assert rule.check(hour=3, share=0.0, n=rule.min_history - 1) is None


def test_blocklist() -> None:
    rule = BlocklistRule(customers=frozenset({"C9"}), terminals=frozenset({"T9"}))
    by_customer = rule.check("C9", "T1")
    by_terminal = rule.check("C1", "T9")
    assert by_customer is not None and by_customer.code == "FR-005" and "customer C9" in by_customer.reason
    assert by_terminal is not None and "terminal T9" in by_terminal.reason
    assert rule.check("C1", "T1") is None


def test_anomaly_and_terminal_risk() -> None:
    hit = AnomalyRule(threshold=0.8).check(0.93, "if-2026-03")
    assert hit is not None and hit.code == "FR-006" and "if-2026-03" in hit.reason
    assert AnomalyRule(threshold=0.8).check(0.5, "v") is None
    assert AnomalyRule().check(None, None) is None
    risk = TerminalRiskRule().check(2)
    assert risk is not None and risk.code == "FR-007"
    assert TerminalRiskRule().check(0) is None


def test_combine_is_exactly_the_documented_formula() -> None:
    hits = [
        RuleHit(code="FR-001", reason="r", weight=0.6),
        RuleHit(code="FR-004", reason="r", weight=0.55),
    ]
    assert combine([], None, 0.2) == (0.0, 0.0)
    assert combine(hits[:1], None, 0.2) == (0.6, 0.6)
    assert combine(hits, None, 0.2) == (1.0, 1.0)  # capped at 1
    score, rule_score = combine(hits[:1], 0.5, 0.2)
    assert rule_score == 0.6
    assert score == pytest.approx(0.8 * 0.6 + 0.2 * 0.5)
    assert combine([], 1.0, 1.0) == (1.0, 0.0)
    assert all(0.0 <= s <= 1.0 for s in combine(hits, 1.0, 0.5))


def _control(**kwargs: object) -> ControlMessage:
    return ControlMessage.model_validate(
        {"message_id": "m", "issued_at": datetime(2026, 3, 2, tzinfo=UTC), **kwargs}
    )


def test_apply_control_changes_thresholds_weights_and_blocklists() -> None:
    cfg = DetectorConfig()
    cfg2 = apply_control(
        cfg,
        _control(
            rules={"FR-002": {"max_count": 3, "weight": 0.9}, "FR-004": {"enabled": False}},
            alpha=0.5,
            alert_threshold=0.7,
            blocklist_add=BlocklistPatch(customers=("C1", "C2"), terminals=("T1",)),
        ),
    )
    assert (cfg2.velocity.max_count, cfg2.velocity.weight) == (3, 0.9)
    assert cfg2.velocity.window_s == cfg.velocity.window_s  # untouched fields stay
    assert not cfg2.unusual_hour.enabled
    assert (cfg2.alpha, cfg2.alert_threshold) == (0.5, 0.7)
    assert cfg2.blocklist.customers == frozenset({"C1", "C2"})
    cfg3 = apply_control(
        cfg2, _control(blocklist_remove=BlocklistPatch(customers=("C1",), terminals=("T1",)))
    )
    assert cfg3.blocklist.customers == frozenset({"C2"}) and not cfg3.blocklist.terminals
    assert cfg.velocity.max_count == 5  # the original is immutable


@pytest.mark.parametrize(
    ("rules", "needle"),
    [
        ({"FR-099": {"weight": 0.1}}, "unknown rule code"),
        ({"FR-001": {"weight": 2.0}}, "weight"),
        ({"FR-002": {"max_count": 64}}, "max_count"),
        ({"FR-003": {"speed": 100}}, "speed"),
        ({"FR-001": {"z_threshold": -1.0}}, "z_threshold"),
    ],
)
def test_apply_control_refuses_bad_changes_with_a_clear_error(rules: dict[str, object], needle: str) -> None:
    with pytest.raises(ControlError, match=needle):
        apply_control(DetectorConfig(), _control(rules=rules))


def test_non_finite_thresholds_are_refused_when_the_message_is_parsed() -> None:
    with pytest.raises(ValueError, match="finite"):
        _control(rules={"FR-001": {"z_threshold": math.inf}})
