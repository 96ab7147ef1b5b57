"""Active vs shadow model on the same events: what `streamflow model compare` and FraudModel status show.

A shadow model scores every event without affecting alerts, so the question before rolling it out is
"would it have done better on exactly these events?". Only events scored by both models are compared
(paired by transaction id); label metrics use the labeled subset of those, so both models are judged on
the same rows. Metrics reuse :mod:`fraud_models.metrics` so the figures match the model cards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from fraud_models.metrics import card_precision_at_k
from fraud_models.ranking import average_precision, roc_auc

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CP_K",
    "PSI_BINS",
    "SCORE_COLUMNS",
    "Comparison",
    "ModelFigures",
    "ScoredEvent",
    "compare",
    "compare_database",
    "population_stability_index",
]

#: Cards a day reviewed by card precision@k.
CP_K = 100
#: Quantile bins of the active model's scores for the population stability index.
PSI_BINS = 10
#: Columns of gold.model_scores that can be compared: the combined detector score or the model's own.
SCORE_COLUMNS = ("score", "ml_score")
_PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class ScoredEvent:
    """One model's score of one event (a row of gold.model_scores or of a replay's scores file)."""

    transaction_id: str
    customer_id: str | None
    event_time: datetime
    score: float
    alert: bool | None


@dataclass(frozen=True)
class ModelFigures:
    """One model's figures on the paired events; label metrics are None when the labels cannot define them."""

    version: str
    auc: float | None
    average_precision: float | None
    card_precision_at_100: float | None
    mean_score: float
    alerts_at_threshold: int
    recorded_alerts: int | None

    def to_status(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "auc": _round(self.auc),
            "averagePrecision": _round(self.average_precision),
            "cardPrecisionAt100": _round(self.card_precision_at_100),
            "meanScore": _round(self.mean_score),
            "alertsAtThreshold": self.alerts_at_threshold,
            "recordedAlerts": self.recorded_alerts,
        }


@dataclass(frozen=True)
class Comparison:
    """Side-by-side figures of an active and a shadow model on the events both scored."""

    active: ModelFigures
    shadow: ModelFigures
    paired: int
    active_unpaired: int
    shadow_unpaired: int
    labeled: int
    frauds: int
    threshold: float
    agreement_at_threshold: float
    both_alert: int
    active_only_alert: int
    shadow_only_alert: int
    mean_score_delta: float
    psi: float
    window_start: datetime
    window_end: datetime
    computed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def active_version(self) -> str:
        return self.active.version

    @property
    def shadow_version(self) -> str:
        return self.shadow.version

    def to_status(self) -> dict[str, Any]:
        """A small JSON-ready dict for FraudModel.status.comparison (camelCase, floats to 6 digits)."""
        return {
            "activeVersion": self.active.version,
            "shadowVersion": self.shadow.version,
            "pairedEvents": self.paired,
            "unpairedActive": self.active_unpaired,
            "unpairedShadow": self.shadow_unpaired,
            "labeledEvents": self.labeled,
            "frauds": self.frauds,
            "threshold": self.threshold,
            "agreementAtThreshold": _round(self.agreement_at_threshold),
            "bothAlert": self.both_alert,
            "activeOnlyAlert": self.active_only_alert,
            "shadowOnlyAlert": self.shadow_only_alert,
            "meanScoreDelta": _round(self.mean_score_delta),
            "psi": _round(self.psi),
            "active": self.active.to_status(),
            "shadow": self.shadow.to_status(),
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "computedAt": _iso(self.computed_at),
        }

    def to_table(self) -> str:
        """The side-by-side text the CLI prints."""
        a, s = self.active, self.shadow
        rows = [
            ("", "active", "shadow"),
            ("version", a.version, s.version),
            ("AUC-ROC", _fmt(a.auc), _fmt(s.auc)),
            ("average precision", _fmt(a.average_precision), _fmt(s.average_precision)),
            (f"card precision@{CP_K}/day", _fmt(a.card_precision_at_100), _fmt(s.card_precision_at_100)),
            ("mean score", _fmt(a.mean_score), _fmt(s.mean_score)),
            (f"alerts at {self.threshold:g}", str(a.alerts_at_threshold), str(s.alerts_at_threshold)),
            (
                "alerts recorded",
                "—" if a.recorded_alerts is None else str(a.recorded_alerts),
                "—" if s.recorded_alerts is None else str(s.recorded_alerts),
            ),
        ]
        width = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}" for r in rows]
        lines.insert(1, "-" * (sum(width) + 4))
        no_labels = " (label metrics need both classes)" if self.labeled == 0 or self.frauds == 0 else ""
        lines += [
            "",
            f"paired events      {self.paired} (unpaired: {self.active_unpaired} active only, "
            f"{self.shadow_unpaired} shadow only)",
            f"labeled events     {self.labeled}, {self.frauds} fraud(s){no_labels}",
            f"agreement at {self.threshold:g}   {self.agreement_at_threshold:.4f} (both alert "
            f"{self.both_alert}, active only {self.active_only_alert}, shadow only {self.shadow_only_alert})",
            f"score drift        mean shadow - active {self.mean_score_delta:+.4f}, PSI {self.psi:.4f}",
            f"window             {_iso(self.window_start)} .. {_iso(self.window_end)}",
        ]
        return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _iso(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware(moment: datetime) -> datetime:
    """Naive times are UTC (the handbook's and our files' convention)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def population_stability_index(
    expected: npt.NDArray[np.float64], actual: npt.NDArray[np.float64], bins: int = PSI_BINS
) -> float:
    """PSI of ``actual`` against ``expected`` over quantile bins of ``expected``.

    Bins are the ``bins``-quantiles of the expected scores (duplicate edges merged, so a score mass on one
    value is one bin); empty-bin shares are floored at 1e-4 so the logarithm stays finite. 0 means the
    same distribution; above ~0.25 is the usual "shifted" reading.
    """
    if len(expected) == 0 or len(actual) == 0:
        raise ValueError("population stability index needs scores on both sides")
    inner = np.unique(np.quantile(expected, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(inner, expected, side="right"), minlength=len(inner) + 1) / len(expected)
    a = np.bincount(np.searchsorted(inner, actual, side="right"), minlength=len(inner) + 1) / len(actual)
    e = np.maximum(e, _PSI_FLOOR)
    a = np.maximum(a, _PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _index(events: Sequence[ScoredEvent], version: str) -> dict[str, ScoredEvent]:
    out: dict[str, ScoredEvent] = {}
    for ev in events:
        if not ev.transaction_id:
            raise ValueError(f"model {version}: an event has an empty transaction_id")
        if not (isinstance(ev.score, (int, float)) and 0.0 <= ev.score <= 1.0):
            raise ValueError(
                f"model {version}: transaction {ev.transaction_id} has score {ev.score!r} outside [0, 1]"
            )
        if ev.transaction_id in out:
            raise ValueError(f"model {version}: transaction {ev.transaction_id} is scored twice")
        out[ev.transaction_id] = ev
    return out


def _label_figures(
    event_time: npt.NDArray[np.float64],
    customers: list[str | None],
    label: npt.NDArray[np.int8],
    score: npt.NDArray[np.float64],
) -> tuple[float | None, float | None, float | None]:
    """AUC, AP and CP@100 on labeled rows; None when undefined.

    AUC/AP need both classes. Card precision needs customer ids and at least one day with ``CP_K`` cards:
    with fewer cards a day even a perfect ranking cannot reach 1, so the figure would not compare.
    """
    frauds = int(label.sum())
    if frauds == 0 or frauds == len(label):
        return None, None, None
    auc = float(roc_auc(label, score))
    ap = float(average_precision(label, score))
    has_card = np.array([c is not None for c in customers], dtype=bool)
    cp: float | None = None
    if has_card.any():
        cards = np.array([c for c in customers if c is not None], dtype=object)
        t = event_time[has_card]
        days = (t // 86_400.0).astype(np.int64)
        busiest = max(len(set(cards[days == d].tolist())) for d in np.unique(days))
        if busiest >= CP_K and label[has_card].any():
            cp = card_precision_at_k(t, cards, label[has_card], score[has_card], CP_K)
    return auc, ap, cp


def compare(
    active: Sequence[ScoredEvent],
    shadow: Sequence[ScoredEvent],
    labels: Mapping[str, bool],
    *,
    threshold: float,
    active_version: str,
    shadow_version: str,
) -> Comparison:
    """Compare two models on the events both scored (by transaction id).

    ``labels`` maps transaction ids to fraud labels (missing = unlabeled); with no usable labels the label
    metrics are None. A model alerts on an event when its score is >= ``threshold``. Raises ValueError
    naming both versions when no event was scored by both, and for malformed events.
    """
    if not (0.0 <= threshold <= 1.0) or math.isnan(threshold):
        raise ValueError(f"threshold {threshold} is outside [0, 1]")
    a_idx = _index(active, active_version)
    s_idx = _index(shadow, shadow_version)
    ids = sorted(a_idx.keys() & s_idx.keys(), key=lambda i: (_aware(a_idx[i].event_time), i))
    if not ids:
        raise ValueError(
            f"no events scored by both the active model {active_version} ({len(a_idx)} events) and the "
            f"shadow model {shadow_version} ({len(s_idx)} events): nothing to compare"
        )
    a_ev = [a_idx[i] for i in ids]
    s_ev = [s_idx[i] for i in ids]
    a_score = np.array([e.score for e in a_ev], dtype=np.float64)
    s_score = np.array([e.score for e in s_ev], dtype=np.float64)
    times = np.array([_aware(e.event_time).timestamp() for e in a_ev], dtype=np.float64)
    a_alert = a_score >= threshold
    s_alert = s_score >= threshold

    labeled = np.array([i in labels for i in ids], dtype=bool)
    y = np.array([bool(labels[i]) for i in ids if i in labels], dtype=np.int8)
    customers = [
        a.customer_id or s.customer_id for a, s, keep in zip(a_ev, s_ev, labeled, strict=True) if keep
    ]

    def figures(version: str, score: npt.NDArray[np.float64], events: list[ScoredEvent]) -> ModelFigures:
        auc, ap, cp = _label_figures(times[labeled], customers, y, score[labeled])
        recorded = [e.alert for e in events]
        return ModelFigures(
            version=version,
            auc=auc,
            average_precision=ap,
            card_precision_at_100=cp,
            mean_score=float(score.mean()),
            alerts_at_threshold=int((score >= threshold).sum()),
            recorded_alerts=None if any(r is None for r in recorded) else sum(1 for r in recorded if r),
        )

    return Comparison(
        active=figures(active_version, a_score, a_ev),
        shadow=figures(shadow_version, s_score, s_ev),
        paired=len(ids),
        active_unpaired=len(a_idx) - len(ids),
        shadow_unpaired=len(s_idx) - len(ids),
        labeled=int(labeled.sum()),
        frauds=int(y.sum()),
        threshold=threshold,
        agreement_at_threshold=float(np.mean(a_alert == s_alert)),
        both_alert=int((a_alert & s_alert).sum()),
        active_only_alert=int((a_alert & ~s_alert).sum()),
        shadow_only_alert=int((~a_alert & s_alert).sum()),
        mean_score_delta=float(s_score.mean() - a_score.mean()),
        psi=population_stability_index(a_score, s_score),
        window_start=_aware(a_ev[0].event_time),
        window_end=_aware(a_ev[-1].event_time),
    )


_SCORES_SQL = """
SELECT transaction_id, customer_id, event_time, {column}, alert
FROM gold.model_scores
WHERE model_version = %(version)s AND {column} IS NOT NULL
  AND (%(since)s::timestamptz IS NULL OR event_time >= %(since)s::timestamptz)
"""
# The newest confirmed label per transaction (a revised label is a new row), else the gold fact's label;
# only for transactions the active model scored in the window.
_LABELS_SQL = """
WITH scored AS (
    SELECT transaction_id FROM gold.model_scores
    WHERE model_version = %(version)s
      AND (%(since)s::timestamptz IS NULL OR event_time >= %(since)s::timestamptz)
), bronze AS (
    SELECT DISTINCT ON (l.transaction_id) l.transaction_id, l.is_fraud
    FROM bronze.fraud_labels l JOIN scored USING (transaction_id)
    ORDER BY l.transaction_id, l.confirmed_at DESC
)
SELECT transaction_id, is_fraud FROM bronze
UNION ALL
SELECT f.transaction_id, f.is_fraud
FROM gold.fact_transactions f JOIN scored USING (transaction_id)
WHERE f.is_fraud IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bronze b WHERE b.transaction_id = f.transaction_id)
"""


def compare_database(
    conn: psycopg.Connection[Any],
    active_version: str,
    shadow_version: str,
    *,
    threshold: float,
    since: datetime | None = None,
    score_column: str = "score",
) -> Comparison:
    """:func:`compare` over gold.model_scores, labels from bronze.fraud_labels / gold.fact_transactions.

    ``score_column`` is ``score`` (the combined rules + model score the alert decision uses, the default)
    or ``ml_score`` (the model's own score; rows without one are left out).
    """
    if score_column not in SCORE_COLUMNS:
        raise ValueError(f"unknown score column {score_column!r} (one of {', '.join(SCORE_COLUMNS)})")
    if since is not None:
        since = _aware(since)

    def scores(version: str) -> list[ScoredEvent]:
        query = _SCORES_SQL.format(column=score_column).encode()
        rows = conn.execute(query, {"version": version, "since": since}).fetchall()
        return [ScoredEvent(str(r[0]), r[1], r[2], float(r[3]), r[4]) for r in rows]

    active = scores(active_version)
    shadow = scores(shadow_version)
    label_rows = conn.execute(_LABELS_SQL.encode(), {"version": active_version, "since": since}).fetchall()
    labels = {str(tid): bool(fraud) for tid, fraud in label_rows}
    return compare(
        active,
        shadow,
        labels,
        threshold=threshold,
        active_version=active_version,
        shadow_version=shadow_version,
    )
