"""Train a fraud model on a time window and judge it on a later one, the way it will be used.

The features come from the online feature code replayed in event-time order (labels delivered after
the label delay), the model is compiled to the arrays the detector scores with, and the metrics are
computed from the compiled scores — so the figures in the model card describe exactly what ships.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from fraud_models.alerting import alerting_table, emitted_scores
from fraud_models.combiner import Combiner, fit_combiner
from fraud_models.data import DataError, Transactions
from fraud_models.durations import parse_duration
from fraud_models.features import DAY_S, FEATURE_NAMES, LABEL_DERIVED_FEATURES
from fraud_models.metrics import evaluate_scores, known_compromised_mask
from fraud_models.scorer import CompiledModel, compile_model

__all__ = [
    "ALGORITHMS",
    "FEATURE_SETS",
    "SUPERVISED",
    "RuleHitsRun",
    "Split",
    "TrainedModel",
    "Window",
    "feature_columns",
    "fit_model",
    "fit_with_combiner",
    "history_start",
    "longer_fit",
    "make_estimator",
    "parse_duration",
    "parse_window",
    "sklearn_scores",
    "split_rows",
]

ALGORITHMS = ("isolation_forest", "logistic_regression", "hist_gradient_boosting")
SUPERVISED = ("logistic_regression", "hist_gradient_boosting")
FEATURE_SETS = ("full", "book", "label_free", "schema_v1")


@dataclass(frozen=True)
class Window:
    """A half-open interval of event time ``[start, end)`` in epoch seconds (UTC)."""

    start: float
    end: float

    def mask(self, event_time: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        return (event_time >= self.start) & (event_time < self.end)

    def iso(self) -> dict[str, str]:
        return {
            "start": datetime.fromtimestamp(self.start, UTC).isoformat().replace("+00:00", "Z"),
            "end": datetime.fromtimestamp(self.end, UTC).isoformat().replace("+00:00", "Z"),
        }


def _moment(text: str, *, end: bool) -> float:
    text = text.strip()
    if len(text) == 10:  # a calendar day: the window includes all of it
        day = date.fromisoformat(text)
        if end:
            day += timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_window(text: str) -> Window:
    """``START..END`` with dates (END day included) or ISO-8601 datetimes (END excluded)."""
    parts = text.split("..")
    if len(parts) != 2:
        raise ValueError(f"invalid window {text!r} (expected START..END, e.g. 2018-07-25..2018-07-31)")
    try:
        window = Window(_moment(parts[0], end=False), _moment(parts[1], end=True))
    except ValueError as exc:
        raise ValueError(f"invalid window {text!r}: {exc}") from exc
    if window.end <= window.start:
        raise ValueError(f"window {text!r} is empty or reversed")
    return window


def history_start(window_start: float, label_delay_s: float) -> float:
    """Earliest event time that can still influence features inside a window starting at ``window_start``.

    Customer windows look back 30 days, terminal windows ``ceil(delay) + 30`` whole days before the
    current day; replaying from this moment gives the same features as replaying from the beginning.
    """
    return float((window_start // DAY_S - _history_days(label_delay_s)) * DAY_S)


def _history_days(label_delay_s: float) -> int:
    return math.ceil(label_delay_s / DAY_S) + 32


def longer_fit(fit: Window, days: int, first_event_time: float, label_delay_s: float) -> Window:
    """``days`` of fit window up to ``fit.end``, or as many as the data's warmed-up history allows (rows
    earlier than :func:`history_start` needs would have features computed from a truncated history); never
    less than ``fit`` itself. A bank's "all labelled history the delay allows", capped at ``days``."""
    warm = float((first_event_time // DAY_S + _history_days(label_delay_s)) * DAY_S)
    return Window(min(fit.start, max(fit.end - days * DAY_S, warm)), fit.end)


def feature_columns(feature_set: str) -> list[int]:
    """Indices into FEATURE_NAMES of a named feature set."""
    from fraud_models.features import BOOK_FEATURES, SCHEMA_V1_FEATURES

    if feature_set == "full":
        names = FEATURE_NAMES
    elif feature_set == "book":
        names = BOOK_FEATURES
    elif feature_set == "schema_v1":
        names = SCHEMA_V1_FEATURES
    elif feature_set == "label_free":
        names = tuple(n for n in FEATURE_NAMES if n not in LABEL_DERIVED_FEATURES)
    else:
        raise ValueError(f"unknown feature set {feature_set!r} (one of {', '.join(FEATURE_SETS)})")
    return [FEATURE_NAMES.index(n) for n in names]


def make_estimator(algorithm: str, params: dict[str, Any] | None = None) -> Any:
    """A fresh scikit-learn estimator with our defaults (overridden by ``params``)."""
    params = dict(params or {})
    try:
        return _build(algorithm, params)
    except TypeError as exc:  # an unknown keyword
        raise ValueError(f"invalid parameter for {algorithm}: {exc}") from exc


def _build(algorithm: str, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if algorithm == "isolation_forest":
        defaults: dict[str, Any] = {"n_estimators": 100, "max_samples": 256, "random_state": 0}
        return IsolationForest(**(defaults | params))
    if algorithm == "logistic_regression":
        defaults = {"C": 1.0, "max_iter": 2000, "random_state": 0}
        return Pipeline([("scaler", StandardScaler()), ("model", LogisticRegression(**(defaults | params)))])
    if algorithm == "hist_gradient_boosting":
        defaults = {
            "learning_rate": 0.05,
            "max_iter": 300,
            "max_leaf_nodes": 7,
            "min_samples_leaf": 50,
            "l2_regularization": 1.0,
            "early_stopping": False,
            "random_state": 0,
        }
        return HistGradientBoostingClassifier(**(defaults | params))
    raise ValueError(f"unsupported algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")


def sklearn_scores(estimator: Any, algorithm: str, X: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """scikit-learn's own scores mapped like the compiled scorer's (higher = more fraudulent, in [0, 1])."""
    if algorithm == "isolation_forest":
        return np.asarray(-estimator.score_samples(X), dtype=np.float64)
    return np.asarray(estimator.predict_proba(X)[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class Split:
    """Row masks of one experiment: rows to fit on and rows to judge on (known-compromised cards removed)."""

    fit: npt.NDArray[np.bool_]
    evaluate: npt.NDArray[np.bool_]
    fit_window: Window
    eval_window: Window
    dropped_known_compromised: int


def split_rows(tx: Transactions, train: Window, test: Window | None, label_delay_s: float) -> Split:
    """Time-based split: ``test`` if given, else the last quarter of the training window's days."""
    t = tx.event_time
    if test is None:
        days = max(1, round((train.end - train.start) / DAY_S))
        held = max(1, round(days / 4))
        # Whole days when there are several, else the last quarter of the window's time.
        cut = train.end - held * DAY_S if days >= 2 else train.start + 0.75 * (train.end - train.start)
        fit_window, eval_window = Window(train.start, cut), Window(cut, train.end)
    else:
        if test.start < train.end:
            raise ValueError("the test window must start after the training window ends")
        fit_window, eval_window = train, test
    fit = fit_window.mask(t)
    evaluate = eval_window.mask(t)
    for name, mask, window in (("training", fit, fit_window), ("evaluation", evaluate, eval_window)):
        if not mask.any():
            iso = window.iso()
            raise DataError(
                f"{tx.source}: the {name} window {iso['start']}..{iso['end']} has no transactions"
            )
    dropped = 0
    if tx.label is not None:
        known = known_compromised_mask(t, tx.customer_id, tx.label, evaluate, fit_window.start, label_delay_s)
        dropped = int(known.sum())
        evaluate &= ~known
    return Split(fit, evaluate, fit_window, eval_window, dropped)


@dataclass
class TrainedModel:
    """A fitted estimator, its compiled form and its figures on the evaluation rows."""

    algorithm: str
    feature_set: str
    estimator: Any
    compiled: CompiledModel
    params: dict[str, Any]
    metrics: dict[str, float]
    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[np.int8]
    compiled_max_abs_diff: float
    extra: dict[str, Any] = field(default_factory=dict)


def fit_model(
    algorithm: str,
    features: npt.NDArray[np.float64],
    tx: Transactions,
    split: Split,
    *,
    feature_set: str = "full",
    params: dict[str, Any] | None = None,
    version: str = "dev",
) -> TrainedModel:
    """Fit on ``split.fit``, compile, and score ``split.evaluate`` with the compiled model."""
    if tx.label is None:
        raise DataError(
            f"{tx.source}: no labels: metrics (and supervised training) need TX_FRAUD/is_fraud/label"
        )
    columns = feature_columns(feature_set)
    X_fit = features[split.fit][:, columns]
    y_fit = tx.label[split.fit]
    if algorithm in SUPERVISED:
        positives = int(y_fit.sum())
        if positives == 0:
            raise DataError(f"{tx.source}: the training rows contain no frauds: cannot train {algorithm}")
        if positives == len(y_fit):
            raise DataError(f"{tx.source}: the training rows are all frauds: cannot train {algorithm}")
    estimator = make_estimator(algorithm, params)
    if algorithm in SUPERVISED:
        estimator.fit(X_fit, y_fit)
    else:
        estimator.fit(X_fit)
    compiled = compile_model(estimator, algorithm=algorithm, columns=columns, version=version)
    X_eval = features[split.evaluate]
    y_eval = tx.label[split.evaluate]
    if not y_eval.any():
        raise DataError(f"{tx.source}: the evaluation rows contain no frauds: the metrics are undefined")
    scores = compiled.score_batch(X_eval)
    reference = sklearn_scores(estimator, algorithm, X_eval[:, columns])
    diff = float(np.max(np.abs(scores - reference))) if len(scores) else 0.0
    metrics = evaluate_scores(tx.event_time[split.evaluate], tx.customer_id[split.evaluate], y_eval, scores)
    used = (
        estimator.get_params(deep=False)
        if algorithm != "logistic_regression"
        else estimator.steps[-1][1].get_params()
    )
    return TrainedModel(
        algorithm,
        feature_set,
        estimator,
        compiled,
        {k: v for k, v in used.items() if isinstance(v, (int, float, str, bool)) or v is None},
        metrics,
        scores,
        y_eval,
        diff,
    )


class RuleHitsRun(Protocol):
    """Which rules fire on each row, as the detector runs them (``fraud_jobs.replay.detector_rule_hits``):
    the codes, a (rows, codes) boolean matrix and each rule's configured weight. A hook, since the rules
    live in the layer above."""

    def __call__(
        self, tx: Transactions, label_delay_s: float
    ) -> tuple[list[str], npt.NDArray[np.bool_], list[float]]: ...


def fit_with_combiner(
    algorithm: str,
    features: npt.NDArray[np.float64],
    tx: Transactions,
    split: Split,
    rule_hits: RuleHitsRun,
    label_delay_s: float,
    *,
    feature_set: str = "full",
    params: dict[str, Any] | None = None,
    version: str = "dev",
) -> TrainedModel:
    """:func:`fit_model` with a learned combiner of its score and the rules' hits in the artifact.

    The combiner needs scores the model did not train on, so a probe model is fitted on the training
    window without its last quarter of days (at least one), and the combiner on the probe's scores and
    the rules' hits over that held-out tail (known-compromised cards removed, as in every evaluation).
    The shipped model is then fitted on the whole window; everything stays inside the training window.
    ``extra["combiner"]`` says what the combiner learned and from which rows; ``extra["alerting"]`` is the
    threshold per alert budget, measured on the emitted scores of every row of the tail
    (:func:`fraud_models.alerting.alerting_table`), with the alerts a day each gave on the evaluation window.
    """
    fit, ev = split.fit_window, split.eval_window
    days = max(1, round((fit.end - fit.start) / DAY_S))
    if days < 2:
        raise DataError(f"{tx.source}: a learned combiner needs a training window of at least 2 days")
    cut = fit.end - max(1, round(days / 4)) * DAY_S
    probe_split = split_rows(tx, Window(fit.start, cut), Window(cut, fit.end), label_delay_s)
    probe = fit_model(
        algorithm,
        features,
        tx,
        probe_split,
        feature_set=feature_set,
        params=params,
        version=f"{version}-probe",
    )
    t = tx.event_time
    keep = (t >= history_start(fit.start, label_delay_s)) & (t < max(fit.end, ev.end))
    codes, kept_hits, weights = rule_hits(tx.select(keep), label_delay_s)
    hits = np.zeros((len(tx), len(codes)), dtype=bool)
    hits[keep] = kept_hits
    rows = probe_split.evaluate
    combiner: Combiner = fit_combiner(probe.scores, hits[rows], codes, probe.labels)
    model = fit_model(algorithm, features, tx, split, feature_set=feature_set, params=params, version=version)
    model.compiled = model.compiled.with_combiner(combiner)
    model.extra["combiner"] = {
        **combiner.to_meta(),
        "probe_window": probe_split.fit_window.iso(),
        "fitted_on": probe_split.eval_window.iso(),
        "rows": int(rows.sum()),
        "frauds": int(probe.labels.sum()),
        "rule_hits": {code: int(hits[rows][:, j].sum()) for j, code in enumerate(codes)},
    }
    tail, evaluation = probe_split.eval_window.mask(t), ev.mask(t)
    model.extra["alerting"] = alerting_table(
        emitted_scores(combiner, probe.compiled.score_batch(features[tail]), hits[tail], codes, weights),
        (fit.end - cut) / DAY_S,
        emitted_scores(
            combiner, model.compiled.score_batch(features[evaluation]), hits[evaluation], codes, weights
        ),
        (ev.end - ev.start) / DAY_S,
    )
    return model
