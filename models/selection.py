"""Prequential model selection: candidates are judged on earlier weeks, never on the test week.

One test week holds a few hundred fraud card-days, so a change of model that moves card precision@100 by
a card or two cannot be told from noise on it, and choosing on that week makes its figure meaningless.
``streamflow model select`` shifts the protocol's split back by one test-window length at a time (the
handbook's prequential validation, chapter 5), fits and scores every candidate on each fold, and keeps
the incumbent (the first candidate, our default) unless a challenger wins clearly: a mean paired gain
above a margin *and* a win on most folds. The test window's own transactions are dropped before the
features are replayed, so nothing here can look at them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from fraud_models.data import DataError, load_transactions
from fraud_models.features import DAY_S, FEATURE_NAMES
from fraud_models.metrics import card_precision_scenario_references
from fraud_models.offline import build_features
from fraud_models.training import (
    ALGORITHMS,
    FEATURE_SETS,
    Window,
    feature_columns,
    fit_model,
    history_start,
    longer_fit,
    split_rows,
)

__all__ = [
    "DEFAULT_CANDIDATES",
    "Candidate",
    "CandidateResult",
    "FoldFigures",
    "Selection",
    "choose",
    "fold_windows",
    "load_candidates",
    "run_selection",
]


@dataclass(frozen=True)
class Candidate:
    """A model configuration to judge: an algorithm, estimator parameters, a feature set, a fit length.

    ``monotone_increasing`` names features the score may only rise with (scikit-learn's
    ``monotonic_cst``, resolved against the feature set's columns when the model is fitted).
    ``fit_days``: the candidate fits on up to that many days before each fold's fit-window end, as far as
    the data's warmed-up history reaches (:func:`fraud_models.training.longer_fit`; None: the fold's own
    fit window), so how much labelled history to train on is chosen like any other setting; every
    candidate is judged on the same rows (the protocol's known-compromised cards removed).
    """

    name: str
    description: str
    algorithm: str = "hist_gradient_boosting"
    params: Mapping[str, Any] = field(default_factory=dict)
    feature_set: str = "full"
    monotone_increasing: tuple[str, ...] = ()
    fit_days: int | None = None

    def __post_init__(self) -> None:
        if self.fit_days is not None and not 1 <= self.fit_days <= 366:
            raise ValueError(f"candidate {self.name!r}: fitDays must be between 1 and 366")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"candidate {self.name!r}: unsupported algorithm {self.algorithm!r} "
                f"(one of {', '.join(ALGORITHMS)})"
            )
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(
                f"candidate {self.name!r}: unknown feature set {self.feature_set!r} "
                f"(one of {', '.join(FEATURE_SETS)})"
            )
        if self.monotone_increasing and self.algorithm != "hist_gradient_boosting":
            raise ValueError(f"candidate {self.name!r}: monotone constraints need hist_gradient_boosting")
        names = {FEATURE_NAMES[c] for c in feature_columns(self.feature_set)}
        unknown = [n for n in self.monotone_increasing if n not in names]
        if unknown:
            raise ValueError(
                f"candidate {self.name!r}: monotone feature(s) {', '.join(unknown)} "
                f"not in feature set {self.feature_set!r}"
            )

    def estimator_params(self) -> dict[str, Any]:
        """The parameters handed to the estimator, monotone constraints resolved to the columns."""
        params = dict(self.params)
        if self.monotone_increasing:
            wanted = set(self.monotone_increasing)
            params["monotonic_cst"] = [
                1 if FEATURE_NAMES[c] in wanted else 0 for c in feature_columns(self.feature_set)
            ]
        return params


_RISK = ("terminal_risk_1d", "terminal_risk_7d", "terminal_risk_30d")
#: The grid judged on 2026-11-30 (docs/evaluation.md); the first one is the incumbent, our default.
DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("default", "gradient boosting: lr 0.05, 300 iterations, 7 leaves, >= 50 a leaf, L2 1"),
    Candidate("leaves-15", "15 leaves", params={"max_leaf_nodes": 15}),
    Candidate("leaves-5", "5 leaves", params={"max_leaf_nodes": 5}),
    Candidate(
        "slow", "learning rate 0.025, 600 iterations", params={"learning_rate": 0.025, "max_iter": 600}
    ),
    Candidate("fraud-weight-5", "frauds weighted 5x", params={"class_weight": {0: 1, 1: 5}}),
    Candidate("fraud-weight-2", "frauds weighted 2x", params={"class_weight": {0: 1, 1: 2}}),
    Candidate("feature-subsample", "half the features at each split", params={"max_features": 0.5}),
    Candidate("monotone-risk", "score rises with the terminal risk features", monotone_increasing=_RISK),
    Candidate("min-leaf-20", ">= 20 samples a leaf", params={"min_samples_leaf": 20}),
)


def load_candidates(spec: Sequence[Mapping[str, Any]]) -> tuple[Candidate, ...]:
    """Candidates from JSON objects: name, description, algorithm, params, featureSet, monotoneIncreasing."""
    out = []
    known = {"name", "description", "algorithm", "params", "featureSet", "monotoneIncreasing", "fitDays"}
    for i, item in enumerate(spec):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ValueError(f"candidate #{i + 1}: expected an object with a string 'name'")
        extra = sorted(set(item) - known)
        if extra:
            raise ValueError(f"candidate {item['name']!r}: unknown key(s) {', '.join(extra)}")
        params = item.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError(f"candidate {item['name']!r}: 'params' must be an object")
        monotone = item.get("monotoneIncreasing", [])
        if not isinstance(monotone, list) or not all(isinstance(n, str) for n in monotone):
            raise ValueError(
                f"candidate {item['name']!r}: 'monotoneIncreasing' must be a list of feature names"
            )
        fit_days = item.get("fitDays")
        if fit_days is not None and (isinstance(fit_days, bool) or not isinstance(fit_days, int)):
            raise ValueError(f"candidate {item['name']!r}: 'fitDays' must be a whole number of days")
        weights = params.get("class_weight")
        if isinstance(weights, Mapping):  # JSON object keys are strings; the classes are 0 and 1
            try:
                params = {**params, "class_weight": {int(k): v for k, v in weights.items()}}
            except ValueError:
                raise ValueError(f"candidate {item['name']!r}: class_weight keys must be 0 and 1") from None
        out.append(
            Candidate(
                item["name"],
                str(item.get("description", item["name"])),
                str(item.get("algorithm", "hist_gradient_boosting")),
                dict(params),
                str(item.get("featureSet", "full")),
                tuple(monotone),
                fit_days,
            )
        )
    names = [c.name for c in out]
    if not out:
        raise ValueError("no candidates given")
    if len(set(names)) != len(names):
        raise ValueError(
            f"candidate names repeat: {', '.join(sorted(n for n in set(names) if names.count(n) > 1))}"
        )
    return tuple(out)


def fold_windows(train: Window, test: Window, folds: int) -> list[tuple[Window, Window]]:
    """The split shifted back by k test-window lengths, k = 1..folds (fold 1 is the latest)."""
    if folds < 1:
        raise ValueError("at least one fold is needed")
    if test.start < train.end:
        raise ValueError("the test window must start after the training window ends")
    step = test.end - test.start
    return [
        (
            Window(train.start - k * step, train.end - k * step),
            Window(test.start - k * step, test.end - k * step),
        )
        for k in range(1, folds + 1)
    ]


@dataclass(frozen=True)
class FoldFigures:
    """One candidate's figures on one fold."""

    fold: int
    auc: float
    average_precision: float
    card_precision: float


@dataclass(frozen=True)
class CandidateResult:
    """One candidate over all folds, and against the incumbent on the same folds."""

    candidate: Candidate
    folds: tuple[FoldFigures, ...]

    @property
    def mean_cp(self) -> float:
        return float(np.mean([f.card_precision for f in self.folds]))

    @property
    def mean_ap(self) -> float:
        return float(np.mean([f.average_precision for f in self.folds]))

    @property
    def mean_auc(self) -> float:
        return float(np.mean([f.auc for f in self.folds]))

    def against(self, incumbent: CandidateResult) -> tuple[float, int, int]:
        """Mean paired card-precision gain over ``incumbent``, folds won, folds lost."""
        diffs = [
            a.card_precision - b.card_precision for a, b in zip(self.folds, incumbent.folds, strict=True)
        ]
        return float(np.mean(diffs)), sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)


@dataclass(frozen=True)
class Selection:
    """Every candidate's figures, the choice and why."""

    results: tuple[CandidateResult, ...]
    windows: tuple[tuple[Window, Window], ...]
    chosen: str
    reason: str
    min_gain: float
    min_win_share: float
    #: Per fold, the card precision of every delay-visible fraud ranked first (handbook files only): a
    #: reference from the simulator's scenario labels, not a bound (the default model exceeds it on some).
    scenario_references: tuple[float, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        incumbent = self.results[0]
        return {
            "folds": [
                {"fold": k + 1, "fit": f.iso(), "test": t.iso()} for k, (f, t) in enumerate(self.windows)
            ],
            "rule": {
                "minGain": self.min_gain,
                "minWinShare": self.min_win_share,
                "incumbent": incumbent.candidate.name,
            },
            "chosen": self.chosen,
            "reason": self.reason,
            "scenarioReferenceCardPrecisionAt100": None
            if self.scenario_references is None
            else list(self.scenario_references),
            "candidates": [
                {
                    "name": r.candidate.name,
                    "description": r.candidate.description,
                    "algorithm": r.candidate.algorithm,
                    "params": {k: _jsonable(v) for k, v in r.candidate.params.items()},
                    "featureSet": r.candidate.feature_set,
                    "monotoneIncreasing": list(r.candidate.monotone_increasing),
                    "fitDays": r.candidate.fit_days,
                    "meanCardPrecisionAt100": r.mean_cp,
                    "meanAveragePrecision": r.mean_ap,
                    "meanAuc": r.mean_auc,
                    **dict(
                        zip(("gainOverIncumbent", "foldsWon", "foldsLost"), r.against(incumbent), strict=True)
                    ),
                    "folds": [
                        {
                            "fold": f.fold,
                            "auc": f.auc,
                            "averagePrecision": f.average_precision,
                            "cardPrecisionAt100": f.card_precision,
                        }
                        for f in r.folds
                    ],
                }
                for r in self.results
            ],
        }

    def markdown(self) -> str:
        incumbent = self.results[0]
        n = len(self.windows)
        head = "| candidate | " + " | ".join(f"f{k}" for k in range(1, n + 1))
        lines = [
            head + " | mean CP@100 | mean AP | mean AUC | gain | won / lost |",
            "|---|" + "---|" * (n + 5),
        ]
        if self.scenario_references is not None:
            cells = " | ".join(f"{c:.3f}" for c in self.scenario_references)
            mean = float(np.mean(self.scenario_references))
            lines.append(f"| {_REFERENCE_ROW} | {cells} | {mean:.4f} | — | — | — | — |")
        for r in self.results:
            gain, won, lost = r.against(incumbent)
            cells = " | ".join(f"{f.card_precision:.3f}" for f in r.folds)
            mark = "**" if r.candidate.name == self.chosen else ""
            lines.append(
                f"| {mark}{r.candidate.name}{mark}: {r.candidate.description} | {cells} | {r.mean_cp:.4f} | "
                f"{r.mean_ap:.4f} | {r.mean_auc:.4f} | {gain:+.4f} | {won} / {lost} |"
            )
        lines.append("")
        lines.append(
            "Folds (fit → test): "
            + "; ".join(
                f"f{k + 1} {_day(f.start)}..{_day(f.end - 1)} → {_day(t.start)}..{_day(t.end - 1)}"
                for k, (f, t) in enumerate(self.windows)
            )
        )
        lines.append(f"Chosen: **{self.chosen}** — {self.reason}")
        return "\n".join(lines)


_REFERENCE_ROW = (
    "scenario reference, not a bound (every fraud the simulator's scenario labels call delay-visible first)"
)


def choose(results: Sequence[CandidateResult], *, min_gain: float, min_win_share: float) -> tuple[str, str]:
    """The best mean CP@100 replaces the incumbent only if it wins clearly; else the incumbent stays."""
    incumbent = results[0]
    best = max(results, key=lambda r: (round(r.mean_cp, 10), round(r.mean_ap, 10)))
    name = incumbent.candidate.name
    if best is incumbent:
        return name, f"the incumbent {name!r} has the best mean card precision@100 ({incumbent.mean_cp:.4f})"
    gain, won, _ = best.against(incumbent)
    folds = len(incumbent.folds)
    needed = math.ceil(min_win_share * folds)
    verdict = (
        f"best mean {best.candidate.name!r} {best.mean_cp:.4f} against {incumbent.mean_cp:.4f}: "
        f"gain {gain:+.4f} (needs > {min_gain}), won {won} of {folds} folds (needs {needed})"
    )
    if gain > min_gain and won >= needed:
        return best.candidate.name, verdict
    return name, f"{verdict}; not a clear win, the incumbent {name!r} stays"


def run_selection(
    data: Path,
    label_delay_s: float,
    train: Window,
    test: Window,
    *,
    folds: int = 10,
    candidates: Sequence[Candidate] = DEFAULT_CANDIDATES,
    min_gain: float = 0.002,
    min_win_share: float = 0.6,
    progress: bool = True,
) -> Selection:
    """Replay the data before ``test`` once, then fit and judge every candidate on every fold."""
    if not candidates:
        raise ValueError("no candidates given")
    windows = fold_windows(train, test, folds)
    tx = load_transactions(data, require_labels=True)
    first_day = float(tx.event_time.min() // DAY_S * DAY_S)
    needed = history_start(windows[-1][0].start, label_delay_s)
    if needed < first_day:
        usable = sum(history_start(f.start, label_delay_s) >= first_day for f, _ in windows)
        raise DataError(
            f"{tx.source}: fold {folds} fits from {_day(windows[-1][0].start)} and needs feature "
            f"history from {_day(needed)}, but the data starts {_day(first_day)}: "
            f"use at most {usable} fold(s)"
        )
    tx = tx.select((tx.event_time >= needed) & (tx.event_time < test.start))
    features = build_features(tx, label_delay_s, progress=progress, desc="replay features")
    splits = [split_rows(tx, fit, ev, label_delay_s) for fit, ev in windows]
    references = card_precision_scenario_references(tx, [split.evaluate for split in splits], label_delay_s)
    results = []
    for candidate in candidates:
        figures = []
        for k, split in enumerate(splits, start=1):
            judged = split
            if candidate.fit_days is not None:  # its own fit window, judged on the protocol's rows
                fit = longer_fit(split.fit_window, candidate.fit_days, first_day, label_delay_s)
                own = split_rows(tx, fit, split.eval_window, label_delay_s)
                judged = replace(own, evaluate=split.evaluate)
            model = fit_model(
                candidate.algorithm,
                features,
                tx,
                judged,
                feature_set=candidate.feature_set,
                params=candidate.estimator_params(),
                version=candidate.name,
            )
            m = model.metrics
            figures.append(FoldFigures(k, m["auc_roc"], m["average_precision"], m["card_precision_at_100"]))
        results.append(CandidateResult(candidate, tuple(figures)))
        if progress:
            print(f"{candidate.name}: mean CP@100 {results[-1].mean_cp:.4f}", file=sys.stderr, flush=True)
    chosen, reason = choose(results, min_gain=min_gain, min_win_share=min_win_share)
    return Selection(
        tuple(results),
        tuple(windows),
        chosen,
        reason,
        min_gain,
        min_win_share,
        None if references is None else tuple(references),
    )


def _day(t: float) -> str:
    return Window(t, t + 1).iso()["start"][:10]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
