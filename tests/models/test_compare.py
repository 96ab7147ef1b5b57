"""fraud_models.compare: known values, the metrics the model cards use, and clear errors."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fraud_models.compare import ScoredEvent, compare, population_stability_index
from fraud_models.metrics import card_precision_at_k
from sklearn.metrics import average_precision_score, roc_auc_score

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _events(scores: list[float], *, customers: list[str | None] | None = None) -> list[ScoredEvent]:
    return [
        ScoredEvent(f"tx{i}", customers[i] if customers else f"c{i}", T0 + timedelta(minutes=i), s, None)
        for i, s in enumerate(scores)
    ]


def test_psi_has_the_hand_computed_value() -> None:
    expected = np.array([0.1, 0.2, 0.3, 0.4])  # two quantile bins split at 0.25: shares 1/2, 1/2
    actual = np.array([0.1, 0.3, 0.35, 0.4])  # shares 1/4, 3/4
    # (1/4 - 1/2) ln(1/2) + (3/4 - 1/2) ln(3/2) = ln(3) / 4
    assert population_stability_index(expected, actual, bins=2) == pytest.approx(math.log(3) / 4, abs=1e-12)
    assert population_stability_index(expected, expected, bins=2) == 0.0


def test_psi_grows_with_a_shift_and_merges_tied_edges() -> None:
    rng = np.random.default_rng(1)
    base = rng.beta(1, 20, size=5000)
    assert population_stability_index(base, rng.beta(1, 20, size=5000)) < 0.02
    assert population_stability_index(base, np.minimum(base * 3, 1.0)) > 0.25
    ties = np.array([0.0] * 90 + [0.5] * 10)  # nine of ten decile edges are 0: merged into one
    assert population_stability_index(ties, ties) == 0.0
    with pytest.raises(ValueError, match="both sides"):
        population_stability_index(base, np.array([]))


def test_label_metrics_match_sklearn_and_the_handbook_card_precision() -> None:
    rng = np.random.default_rng(7)
    n = 600  # 2 days x 300 cards: enough cards a day for card precision@100
    y = (rng.random(n) < 0.1).astype(np.int8)
    a = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    s = np.clip(0.5 * y + rng.random(n) * 0.5, 0, 1)
    customers = [f"c{i % 300}" for i in range(n)]
    times = [T0 + timedelta(hours=i * 48 / n) for i in range(n)]
    active = [ScoredEvent(f"t{i}", customers[i], times[i], float(a[i]), None) for i in range(n)]
    shadow = [ScoredEvent(f"t{i}", customers[i], times[i], float(s[i]), None) for i in range(n)]
    labels = {f"t{i}": bool(y[i]) for i in range(n)}

    result = compare(active, shadow, labels, threshold=0.5, active_version="v1", shadow_version="v2")

    assert result.paired == result.labeled == n
    assert result.frauds == int(y.sum())
    assert result.active.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result.shadow.auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert result.active.average_precision == pytest.approx(average_precision_score(y, a), abs=1e-12)
    assert result.shadow.average_precision == pytest.approx(average_precision_score(y, s), abs=1e-12)
    t = np.array([x.timestamp() for x in times])
    cust = np.array(customers, dtype=object)
    assert result.shadow.card_precision_at_100 == pytest.approx(card_precision_at_k(t, cust, y, s, 100))
    assert result.active.card_precision_at_100 == pytest.approx(card_precision_at_k(t, cust, y, a, 100))
    assert result.shadow.auc is not None and result.active.auc is not None
    assert result.shadow.auc > result.active.auc  # the shadow separates the classes better by construction


def test_agreement_alert_counts_and_drift_at_the_threshold() -> None:
    active = _events([0.1, 0.6, 0.7, 0.2, 0.9])
    shadow = _events([0.1, 0.4, 0.8, 0.6, 0.9])
    result = compare(active, shadow, {}, threshold=0.5, active_version="v1", shadow_version="v2")
    assert result.agreement_at_threshold == pytest.approx(3 / 5)
    assert (result.both_alert, result.active_only_alert, result.shadow_only_alert) == (2, 1, 1)
    assert result.active.alerts_at_threshold == result.shadow.alerts_at_threshold == 3
    assert result.mean_score_delta == pytest.approx((2.8 - 2.5) / 5)
    assert result.active.recorded_alerts is None  # no event carried its recorded alert decision
    assert result.window_start == T0 and result.window_end == T0 + timedelta(minutes=4)


def test_only_paired_events_count_and_recorded_alerts_are_summed() -> None:
    active = [
        ScoredEvent("a", "c1", T0, 0.9, True),
        ScoredEvent("b", "c2", T0 + timedelta(seconds=1), 0.1, False),
        ScoredEvent("only-active", "c3", T0, 0.5, True),
    ]
    shadow = [
        ScoredEvent("b", "c2", T0 + timedelta(seconds=1), 0.2, False),
        ScoredEvent("a", "c1", T0, 0.8, True),
        ScoredEvent("only-shadow", "c4", T0, 0.5, False),
    ]
    labels = {"a": True, "b": False, "only-active": False}
    result = compare(active, shadow, labels, threshold=0.5, active_version="v1", shadow_version="v2")
    assert (result.paired, result.active_unpaired, result.shadow_unpaired) == (2, 1, 1)
    assert (result.labeled, result.frauds) == (2, 1)
    assert result.active.auc == result.shadow.auc == 1.0
    assert result.active.card_precision_at_100 is None  # two cards a day cannot fill a top 100
    assert result.active.recorded_alerts == result.shadow.recorded_alerts == 1


def test_without_labels_label_metrics_are_none_not_an_error() -> None:
    result = compare(
        _events([0.1, 0.9]), _events([0.2, 0.8]), {}, threshold=0.5, active_version="v1", shadow_version="v2"
    )
    assert result.labeled == 0
    assert result.active.auc is None and result.shadow.average_precision is None
    one_class = compare(
        _events([0.1, 0.9]),
        _events([0.2, 0.8]),
        {"tx0": False, "tx1": False},
        threshold=0.5,
        active_version="v1",
        shadow_version="v2",
    )
    assert one_class.labeled == 2 and one_class.active.auc is None
    assert "label metrics need both classes" in one_class.to_table()


def test_no_paired_events_names_both_versions() -> None:
    active = [ScoredEvent("x", None, T0, 0.1, None)]
    shadow = [ScoredEvent("y", None, T0, 0.1, None)]
    with pytest.raises(ValueError, match=r"hgb-1 .*iforest-2|iforest-2.*hgb-1") as err:
        compare(active, shadow, {}, threshold=0.5, active_version="hgb-1", shadow_version="iforest-2")
    assert "hgb-1" in str(err.value) and "iforest-2" in str(err.value)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([ScoredEvent("x", None, T0, 0.1, None)] * 2, "transaction x is scored twice"),
        ([ScoredEvent("x", None, T0, 1.5, None)], "outside"),
        ([ScoredEvent("x", None, T0, math.nan, None)], "outside"),
        ([ScoredEvent("", None, T0, 0.1, None)], "empty transaction_id"),
    ],
)
def test_malformed_events_are_named(events: list[ScoredEvent], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare(events, _events([0.1]), {}, threshold=0.5, active_version="v1", shadow_version="v2")


def test_a_threshold_outside_zero_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="threshold"):
        compare(_events([0.1]), _events([0.1]), {}, threshold=1.5, active_version="v1", shadow_version="v2")


def test_status_is_small_camel_case_json() -> None:
    result = compare(
        _events([0.1, 0.6, 0.7]),
        _events([0.5, 0.4, 0.8]),
        {"tx0": False, "tx1": True},
        threshold=0.5,
        active_version="v1",
        shadow_version="v2",
    )
    status = json.loads(json.dumps(result.to_status()))
    assert status["activeVersion"] == "v1" and status["shadowVersion"] == "v2"
    assert status["pairedEvents"] == 3 and status["labeledEvents"] == 2 and status["frauds"] == 1
    assert status["agreementAtThreshold"] == pytest.approx(1 / 3, abs=1e-6)
    assert status["active"]["auc"] == 1.0 and status["shadow"]["auc"] == 0.0
    assert status["active"]["cardPrecisionAt100"] is None
    assert status["window"] == {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:02:00Z"}
    assert status["computedAt"].endswith("Z")
    assert all("_" not in key for key in status)
    table = result.to_table()
    assert "v1" in table and "v2" in table and "AUC-ROC" in table and "PSI" in table
