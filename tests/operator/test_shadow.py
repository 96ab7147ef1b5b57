"""Shaping a shadow comparison into status (pure): what is written, kept and skipped."""

from __future__ import annotations

from typing import Any

from fraud_operator.shadow import (
    COMPARED,
    COMPARISON_FAILED,
    WAITING_FOR_SCORES,
    ShadowOutcome,
    model_comparison,
    pipeline_summary,
    same_figures,
)

FIGURES: dict[str, Any] = {
    "pairedEvents": 20,
    "labeledEvents": 13,
    "agreementAtThreshold": 0.8,
    "meanScoreDelta": -0.01,
    "active": {"version": "a", "auc": 0.7, "averagePrecision": None},
    "shadow": {"version": "b", "auc": 0.9},
    "computedAt": "2026-11-30T01:00:00Z",
}


def test_compared_summary_and_model_comparison() -> None:
    outcome = ShadowOutcome(COMPARED, "20 events", FIGURES)
    summary = pipeline_summary(outcome, shadow_model="b", active_model="a", previous=None)
    assert summary == {
        "model": "b",
        "activeModel": "a",
        "reason": COMPARED,
        "message": "20 events",
        "pairedEvents": 20,
        "labeledEvents": 13,
        "agreementAtThreshold": 0.8,
        "activeAuc": 0.7,
        "shadowAuc": 0.9,
        "meanScoreDelta": -0.01,
        "computedAt": "2026-11-30T01:00:00Z",
    }
    comparison = model_comparison(outcome, pipeline="payments", active_model="a")
    assert comparison is not None
    assert (comparison["pipeline"], comparison["activeModel"], comparison["pairedEvents"]) == (
        "payments",
        "a",
        20,
    )
    assert model_comparison(ShadowOutcome(WAITING_FOR_SCORES, "w"), pipeline="p", active_model="a") is None


def test_a_failure_keeps_the_figures_of_the_same_models_only() -> None:
    previous = pipeline_summary(
        ShadowOutcome(COMPARED, "20 events", FIGURES), shadow_model="b", active_model="a", previous=None
    )
    failed = ShadowOutcome(COMPARISON_FAILED, "database down")
    kept = pipeline_summary(failed, shadow_model="b", active_model="a", previous=previous)
    assert (kept["reason"], kept["message"], kept["pairedEvents"]) == (COMPARISON_FAILED, "database down", 20)
    rolled = pipeline_summary(failed, shadow_model="b", active_model="c", previous=previous)
    assert rolled["pairedEvents"] is None, "figures of another active model are not kept"
    waiting = pipeline_summary(
        ShadowOutcome(WAITING_FOR_SCORES, "w"), shadow_model="b", active_model="a", previous=previous
    )
    assert waiting["pairedEvents"] is None, "waiting means no paired scores any more: no figures"
    assert failed.failed and not ShadowOutcome(WAITING_FOR_SCORES, "w").failed


def test_same_figures_ignores_the_computation_time_and_absent_nulls() -> None:
    stored = {**FIGURES, "active": {"version": "a", "auc": 0.7}, "computedAt": "2026-11-30T02:00:00Z"}
    assert same_figures(stored, FIGURES), "a merge patch stores null as absent; the time alone is no change"
    assert not same_figures(stored, {**FIGURES, "pairedEvents": 21})
    assert not same_figures(None, FIGURES)
