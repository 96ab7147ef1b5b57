"""``streamflow model quality``: what the detector emits, fold by fold, beside its model and the handbook's.

What users get is the detector's emitted score (rules and model combined as the job runs them), not the
model's own score, so that is the figure to judge. On the ten prequential folds of ``model select`` and on
the ch3 week, each with a one-week fit, 7-day label delay and known-compromised cards removed, this compares
four scores on the same evaluation rows: the default model alone, the score the detector emits with that
model (replayed through ``fraud_jobs`` via the ``detector`` hook, as ``model evaluate`` does), and the
handbook's random forest and logistic regression on its 15 features, refitted on each fold.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fraud_models.data import DataError, Transactions, load_transactions
from fraud_models.evaluate import DetectorRun, detector_figures
from fraud_models.features import DAY_S, FEATURE_SCHEMA_ID
from fraud_models.metrics import evaluate_scores
from fraud_models.offline import build_features
from fraud_models.selection import fold_windows
from fraud_models.training import (
    RuleHitsRun,
    Split,
    Window,
    feature_columns,
    fit_model,
    fit_with_combiner,
    history_start,
    longer_fit,
    split_rows,
)

__all__ = ["SERIES", "Figures", "FoldQuality", "QualityReport", "handbook_random_forest", "run_quality"]

#: The compared scores, in table order: key and what it is.
SERIES: tuple[tuple[str, str], ...] = (
    ("model", "model alone (default gradient boosting, 24 features)"),
    ("detector", "detector emitted (rules + that model, as the job runs)"),
    ("rf", "handbook random forest (15 features, refitted)"),
    ("lr", "handbook logistic regression (15 features, refitted)"),
)


@dataclass(frozen=True)
class Figures:
    """AUC-ROC, average precision and card precision@100/day of one score on one fold."""

    auc: float
    ap: float
    cp: float

    @classmethod
    def of(cls, m: dict[str, float]) -> Figures:
        return cls(m["auc_roc"], m["average_precision"], m["card_precision_at_100"])

    def cell(self) -> str:
        return f"{self.auc:.3f} / {self.ap:.3f} / {self.cp:.3f}"


@dataclass(frozen=True)
class FoldQuality:
    """The four scores' figures on one fold; ``model_gap``: the largest difference between the figures of
    the detector's own model score and the model alone's (0 when serving computes the training features)."""

    name: str
    fit: Window
    test: Window
    figures: dict[str, Figures]
    model_gap: float


@dataclass(frozen=True)
class QualityReport:
    """The folds (earliest test week last, as `model select` numbers them), then the ch3 week."""

    folds: tuple[FoldQuality, ...]
    ch3: FoldQuality
    settings: str
    label_delay_s: float

    def mean(self, key: str) -> Figures:
        """The mean over the prequential folds (the ch3 week is reported apart, never averaged in)."""
        f = [fold.figures[key] for fold in self.folds]
        return Figures(*(float(np.mean([getattr(x, a) for x in f])) for a in ("auc", "ap", "cp")))

    def wins(self, key: str, other: str) -> tuple[int, int, int]:
        """Folds where ``key`` is at least as good as ``other``: on AUC, on AP, on CP@100."""
        pairs = [(fold.figures[key], fold.figures[other]) for fold in self.folds]
        return (
            sum(a.auc >= b.auc for a, b in pairs),
            sum(a.ap >= b.ap for a, b in pairs),
            sum(a.cp >= b.cp for a, b in pairs),
        )

    def markdown(self) -> str:
        head = "| fold | fit → test | " + " | ".join(label for _, label in SERIES) + " |"
        lines = [head, "|---|---|" + "---|" * len(SERIES)]
        for fold in (*self.folds, self.ch3):
            cells = " | ".join(fold.figures[key].cell() for key, _ in SERIES)
            lines.append(f"| {fold.name} | {_span(fold.fit)} → {_span(fold.test)} | {cells} |")
        means = " | ".join(f"**{self.mean(key).cell()}**" for key, _ in SERIES)
        lines.append(f"| mean of the {len(self.folds)} folds | | {means} |")
        n = len(self.folds)
        won = " | ".join(
            "—" if key == "detector" else "{} / {} / {} of {}".format(*self.wins("detector", key), n)
            for key, _ in SERIES
        )
        lines.append(f"| folds where the detector is at least as good | | {won} |")
        gap = max(f.model_gap for f in (*self.folds, self.ch3))
        lines += [
            "",
            "Each cell: AUC-ROC / average precision / card precision@100 a day, on the fold's test week,",
            "known-compromised cards removed (the handbook's protocol); labels arrive "
            f"{self.label_delay_s / DAY_S:g} days late. Detector: {self.settings}. The figures of its own "
            f"model score (FR-006) differ from the model alone's by at most {gap:.3g}. Feature schema "
            f"`{FEATURE_SCHEMA_ID}`.",
        ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        def fold(f: FoldQuality) -> dict[str, Any]:
            return {
                "fold": f.name,
                "fit": f.fit.iso(),
                "test": f.test.iso(),
                "modelGap": f.model_gap,
                **{k: vars(f.figures[k]) for k, _ in SERIES},
            }

        return {
            "settings": self.settings,
            "labelDelaySeconds": self.label_delay_s,
            "folds": [fold(f) for f in self.folds],
            "ch3": fold(self.ch3),
            "mean": {k: vars(self.mean(k)) for k, _ in SERIES},
        }


def handbook_random_forest(
    features: npt.NDArray[np.float64], tx: Transactions, split: Split
) -> dict[str, float]:
    """The handbook's chapter-3 random forest (scikit-learn defaults, 100 trees, random_state 0, scaled
    inputs) on its 15 features. It is a baseline only: the compiled scorer does not ship forests, so it
    is scored by scikit-learn, not through ``fit_model``. One job: the machine is shared."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if tx.label is None:
        raise DataError(f"{tx.source}: no labels")
    columns = feature_columns("book")
    forest = RandomForestClassifier(random_state=0, n_jobs=1)
    estimator = Pipeline([("scaler", StandardScaler()), ("model", forest)])
    estimator.fit(features[split.fit][:, columns], tx.label[split.fit])
    ev = split.evaluate
    scores = np.asarray(estimator.predict_proba(features[ev][:, columns])[:, 1], dtype=np.float64)
    return evaluate_scores(tx.event_time[ev], tx.customer_id[ev], tx.label[ev], scores)


def run_quality(
    data: Path,
    label_delay_s: float,
    train: Window,
    test: Window,
    detector: DetectorRun,
    *,
    folds: int = 10,
    rule_hits: RuleHitsRun | None = None,
    fit_days: int | None = None,
    progress: bool = True,
) -> QualityReport:
    """Replay the features once (to the end of ``test``), then judge the four scores on every fold.

    ``rule_hits``: the model is trained with a learned combiner (:func:`fit_with_combiner`), as
    `model train` does, and the detector emits its combination; without it, the pipeline's fixed blend.
    ``fit_days``: our model fits on up to that many days before each fold's fit-window end, as far as the
    data's warmed-up history reaches (:func:`longer_fit`); the handbook's baselines keep the one-week
    protocol."""
    windows = [*fold_windows(train, test, folds), (train, test)]
    if fit_days is not None and fit_days < 1:
        raise ValueError("fit_days must be at least 1")
    tx = load_transactions(data, require_labels=True)
    first_day = float(tx.event_time.min() // DAY_S * DAY_S)
    ours = [
        (f if fit_days is None else longer_fit(f, fit_days, first_day, label_delay_s), ev)
        for f, ev in windows
    ]
    needed = history_start(windows[-2][0].start, label_delay_s)
    if needed < first_day:
        raise DataError(
            f"{tx.source}: fold {folds} needs feature history from {_day(needed)}, "
            f"but the data starts {_day(first_day)}: use fewer folds"
        )
    tx = tx.select((tx.event_time >= needed) & (tx.event_time < test.end))
    features = build_features(tx, label_delay_s, progress=progress, desc="replay features")
    results: list[FoldQuality] = []
    settings = ""
    for k, ((fit, ev), (our_fit, _)) in enumerate(zip(windows, ours, strict=True), start=1):
        name = "ch3" if k == len(windows) else f"f{k}"
        split = split_rows(tx, fit, ev, label_delay_s)
        # Judged on the protocol's rows: the same known-compromised cards removed for every score.
        our_split = replace(split_rows(tx, our_fit, ev, label_delay_s), evaluate=split.evaluate)
        if rule_hits is not None:
            model = fit_with_combiner(
                "hist_gradient_boosting", features, tx, our_split, rule_hits, label_delay_s, version=name
            )
        else:
            model = fit_model("hist_gradient_boosting", features, tx, our_split, version=f"quality-{name}")
        emitted, model_score, settings = detector_figures(
            detector, tx, our_split, model.compiled, label_delay_s
        )
        metrics = ("auc_roc", "average_precision", "card_precision_at_100")
        gap = max(abs(model_score[m] - model.metrics[m]) for m in metrics)
        lr = fit_model("logistic_regression", features, tx, split, feature_set="book", version="book-lr")
        figures = {
            "model": Figures.of(model.metrics),
            "detector": Figures.of(emitted),
            "rf": Figures.of(handbook_random_forest(features, tx, split)),
            "lr": Figures.of(lr.metrics),
        }
        results.append(FoldQuality(name, fit, ev, figures, gap))
        if progress:
            cells = "  ".join(f"{key} {figures[key].cell()}" for key, _ in SERIES)
            print(f"{name}: {cells}", file=sys.stderr, flush=True)
    if fit_days is None:
        settings += (
            f"; our model fits on each fold's {round((train.end - train.start) / DAY_S)}-day fit window"
        )
    else:
        spans = [round((f.end - f.start) / DAY_S) for f, _ in ours]
        settings += (
            f"; our model fits on up to {fit_days} days before each fold's fit-window end, as far as the "
            f"data's history reaches ({min(spans)}..{max(spans)} days)"
        )
    return QualityReport(tuple(results[:-1]), results[-1], settings, label_delay_s)


def _day(t: float) -> str:
    return Window(t, t + 1).iso()["start"][:10]


def _span(w: Window) -> str:
    return f"{_day(w.start)}..{_day(w.end - 1)[5:]}"
