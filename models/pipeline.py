"""``streamflow model train`` end to end: data -> features -> model -> artifacts a cluster can use.

Writes into the output directory: ``model.joblib`` (the scikit-learn object, for analysis),
``model.npz`` (the compiled arrays the detector loads), ``roc.png``/``pr.png``, ``model_card.json``/
``model_card.md`` and ``fraudmodel.yaml`` (a FraudModel manifest pointing at ``model.npz`` by sha256).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import yaml
from fraud_models.data import DataError, Transactions, load_transactions
from fraud_models.features import FEATURE_NAMES, FEATURE_SCHEMA_ID, FEATURE_SCHEMA_VERSION
from fraud_models.metrics import card_precision_ceiling, card_precision_scenario_references
from fraud_models.offline import build_features
from fraud_models.scorer import sha256_file
from fraud_models.training import (
    SUPERVISED,
    RuleHitsRun,
    Split,
    TrainedModel,
    Window,
    feature_columns,
    fit_model,
    fit_with_combiner,
    history_start,
    split_rows,
)
from tqdm import tqdm

__all__ = ["TrainRequest", "fraudmodel_manifest", "plot_curves", "train_to_directory"]

_API_VERSION = "streamflow.io/v1alpha1"
_ALERT_RATE_IN_MANIFEST = "precision_at_1pct"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$")  # the FraudModel CRD's spec.version


@dataclass(frozen=True)
class TrainRequest:
    """Everything ``model train`` was asked for."""

    data: Path
    algorithm: str
    label_delay_s: float
    train_window: Window
    test_window: Window | None
    out_dir: Path
    feature_set: str = "full"
    version: str | None = None
    artifact_uri: str | None = None
    progress: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    rule_hits: RuleHitsRun | None = None
    """The detector's rules (a hook): with it the artifact carries a learned combiner of score and rules."""


def plot_curves(
    labels: npt.NDArray[np.int8], scores: npt.NDArray[np.float64], out_dir: Path, title: str
) -> None:
    """ROC and precision-recall curves as PNG (matplotlib's headless Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"AUC = {auc(fpr, tpr):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_dir / "roc.png", dpi=100)
    plt.close(fig)
    precision, recall, _ = precision_recall_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(recall, precision)
    ax.axhline(float(labels.mean()), linestyle="--", color="grey", label="fraud rate")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall — {title}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(out_dir / "pr.png", dpi=100)
    plt.close(fig)


def _k8s_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "model"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def fraudmodel_manifest(card: dict[str, Any], artifact_uri: str) -> dict[str, Any]:
    """A FraudModel custom resource for ``kubectl apply`` (artifact = the compiled npz, by sha256)."""
    metrics = card["metrics"]
    return {
        "apiVersion": _API_VERSION,
        "kind": "FraudModel",
        "metadata": {
            "name": _k8s_name(card["version"]),
            "labels": {"streamflow.io/algorithm": card["algorithm"].replace("_", "-")},
        },
        "spec": {
            "version": card["version"],
            "algorithm": card["algorithm"],
            "artifact": {"uri": artifact_uri, "sha256": card["artifacts"]["model.npz"]},
            "featureSchemaId": FEATURE_SCHEMA_ID,
            "metrics": {
                "auc": round(metrics["auc_roc"], 6),
                "averagePrecision": round(metrics["average_precision"], 6),
                "precisionAtAlertRate": round(metrics[_ALERT_RATE_IN_MANIFEST], 6),
                "alertRate": 0.01,
                "cardPrecisionAt100": round(metrics["card_precision_at_100"], 6),
            },
            # The CRD's window end is the last event time included; ours is an exclusive bound.
            "trainingWindow": {
                "start": card["training_window"]["start"],
                "end": _iso(_epoch(card["training_window"]["end"]) - 1),
            },
            "description": (
                f"{card['algorithm']} on {card['features']['set']} features; "
                f"card precision@100/day {metrics['card_precision_at_100']:.3f}; model card model_card.md"
            ),
            **({"alerting": card["alerting"]} if card.get("alerting") else {}),
        },
    }


def _ceilings_markdown(card: dict[str, Any]) -> str:
    c = card["card_precision_at_100_ceilings"]
    text = f"Card precision@100 on this window can reach {c['perfect_ranking']:.3f} with a perfect ranking."
    reference = card.get("card_precision_at_100_scenario_reference")
    if reference is not None:
        text += (
            f" Scenario reference (not a bound; models can exceed it): {reference:.3f} with every fraud the"
            " simulator's scenario labels (TX_FRAUD_SCENARIO) call delay-visible ranked first."
        )
    return text + "\n"


def _combiner_markdown(card: dict[str, Any]) -> str:
    c = card.get("combiner")
    if not c:
        why = f" (it could not be fitted: {card['combiner_skipped']})" if card.get("combiner_skipped") else ""
        return (
            f"No learned combiner{why}: the pipeline's fixed blend (alpha) combines this model with the "
            "rules.\n"
        )
    learned = ", ".join(f"{code} {w:+.3f}" for code, w in c["rule_weights"].items()) or "none"
    hits = ", ".join(f"{code} {n}" for code, n in c["rule_hits"].items())
    return (
        f"The artifact carries a learned combiner: log-odds = {c['bias']:+.3f} "
        f"{c['model_weight']:+.3f} x logit(model score) + the weights of the learned rules that fired "
        f"({learned}); every other rule's configured weight is a floor of the score. Fitted on "
        f"{c['fitted_on']['start']} .. {c['fitted_on']['end']} ({c['rows']} rows, {c['frauds']} frauds), "
        f"scored by a probe model fitted on {c['probe_window']['start']} .. {c['probe_window']['end']}. "
        f"Rule hits there: {hits}.\n"
    )


def _alerting_markdown(card: dict[str, Any]) -> str:
    a = card.get("alerting")
    if not a:
        return "No thresholds by budget (they are measured with the learned combiner).\n"
    rows = "\n".join(
        f"| {b['alertsPerDay']} | {b['threshold']:.6g} | {b['validationAlertsPerDay']:g} | "
        f"{b.get('evaluationAlertsPerDay', '—')} |"
        for b in a["budgets"]
    )
    return (
        "The threshold a pipeline's `spec.detector.alertBudget` gets: the lowest detector score that stayed "
        f"within the budget on the combiner's held-out rows ({a['eventsPerDay']:g} events a day), and the "
        "alerts a day it gave on the evaluation window.\n\n"
        "| budget (alerts/day) | threshold | alerts/day, validation | alerts/day, evaluation |\n"
        f"|---|---|---|---|\n{rows}\n"
    )


def _markdown(card: dict[str, Any]) -> str:
    m = card["metrics"]
    rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in m.items())
    params = "\n".join(f"| {k} | {v} |" for k, v in card["parameters"].items())
    features = ", ".join(f"`{n}`" for n in card["features"]["used"])
    artifacts = "\n".join(f"| {k} | `{v}` |" for k, v in card["artifacts"].items())
    return f"""# Model card: {card["version"]}

- Algorithm: `{card["algorithm"]}` (feature set `{card["features"]["set"]}`)
- Data: `{card["data"]["source"]}`
  ({card["data"]["rows_fit"]} rows fitted, {card["data"]["frauds_fit"]} frauds)
- Training window (fit): {card["training_window"]["start"]} .. {card["training_window"]["end"]}
- Evaluation window: {card["evaluation_window"]["start"]} .. {card["evaluation_window"]["end"]}
  ({card["data"]["rows_eval"]} rows, {card["data"]["dropped_known_compromised"]} rows of cards already
  known to be compromised removed, as in the handbook)
- Label delay: {card["label_delay_s"] / 86400:g} days — terminal risk uses only labels delivered by then
- Feature schema: `{card["features"]["schema_id"]}` (version {card["features"]["schema_version"]})
- Compiled scorer vs scikit-learn on the evaluation rows: max |diff| = {card["compiled_max_abs_diff"]:.3g}

## Metrics (evaluation window, compiled scorer)

| metric | value |
|---|---|
{rows}

{_ceilings_markdown(card)}
## Combination with the rules

{_combiner_markdown(card)}
## Alert budgets

{_alerting_markdown(card)}
## Parameters

| parameter | value |
|---|---|
{params}

## Features

{features}

## Artifacts (sha256)

| file | sha256 |
|---|---|
{artifacts}

Curves: `roc.png`, `pr.png`. Created {card["created_at"]}.
"""


def _card_precision_ceilings(tx: Transactions, split: Split) -> dict[str, float]:
    """What card precision@100 can reach on the evaluation rows, to read the model's figure against."""
    ev = split.evaluate
    if tx.label is None:
        raise DataError(f"{tx.source}: no labels")
    return {"perfect_ranking": card_precision_ceiling(tx.event_time[ev], tx.customer_id[ev], tx.label[ev])}


def _scenario_reference(tx: Transactions, split: Split, label_delay_s: float) -> float | None:
    """Card precision@100 of the scenario-visible frauds ranked first (handbook files only); not a bound."""
    reference = card_precision_scenario_references(tx, [split.evaluate], label_delay_s)
    return None if reference is None else reference[0]


def train_to_directory(req: TrainRequest) -> dict[str, Any]:
    """Run the whole training and write every artifact; returns the model card."""
    if req.version is not None and not _VERSION.match(req.version):
        raise ValueError(f"invalid version {req.version!r} (letters, digits, . _ + -; at most 63 characters)")
    stages = tqdm(total=6, desc="model train", unit="step", disable=not req.progress, position=0)
    stages.set_postfix_str("load")
    tx = load_transactions(req.data, require_labels=True)
    stages.update()
    end = req.test_window.end if req.test_window else req.train_window.end
    keep = (tx.event_time >= history_start(req.train_window.start, req.label_delay_s)) & (tx.event_time < end)
    tx = tx.select(keep)
    if not len(tx):
        raise DataError(f"{req.data}: no transactions in or before the requested windows")
    split = split_rows(tx, req.train_window, req.test_window, req.label_delay_s)
    stages.set_postfix_str("features")
    features = build_features(tx, req.label_delay_s, progress=req.progress, desc="replay features")
    stages.update()
    stages.set_postfix_str("fit")
    version = req.version or (
        f"{req.algorithm.replace('_', '-')}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    )
    model: TrainedModel | None = None
    combiner_skipped: str | None = None
    if req.rule_hits is not None:
        try:
            model = fit_with_combiner(
                req.algorithm,
                features,
                tx,
                split,
                req.rule_hits,
                req.label_delay_s,
                feature_set=req.feature_set,
                params=req.params,
                version=version,
            )
        except (DataError, ValueError) as exc:  # the model alone may still train: it says so if not
            combiner_skipped = str(exc)
    if model is None:
        model = fit_model(
            req.algorithm,
            features,
            tx,
            split,
            feature_set=req.feature_set,
            params=req.params,
            version=version,
        )
    ceilings = _card_precision_ceilings(tx, split)
    reference = _scenario_reference(tx, split, req.label_delay_s)
    stages.update()
    stages.set_postfix_str("write")
    out = req.out_dir
    out.mkdir(parents=True, exist_ok=True)
    npz_sha = model.compiled.save(out / "model.npz")
    joblib.dump(
        {
            "estimator": model.estimator,
            "algorithm": req.algorithm,
            "columns": [FEATURE_NAMES[c] for c in feature_columns(req.feature_set)],
            "feature_schema_id": FEATURE_SCHEMA_ID,
            "version": version,
        },
        out / "model.joblib",
    )
    stages.update()
    stages.set_postfix_str("curves")
    plot_curves(model.labels, model.scores, out, f"{req.algorithm} {version}")
    stages.update()
    card: dict[str, Any] = {
        "version": version,
        "algorithm": req.algorithm,
        "supervised": req.algorithm in SUPERVISED,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "source": str(req.data),
            "sha256": sha256_file(req.data),
            "rows_fit": int(split.fit.sum()),
            "frauds_fit": int(tx.label[split.fit].sum()) if tx.label is not None else 0,
            "rows_eval": int(split.evaluate.sum()),
            "dropped_known_compromised": split.dropped_known_compromised,
        },
        "label_delay_s": req.label_delay_s,
        "training_window": split.fit_window.iso(),
        "evaluation_window": split.eval_window.iso(),
        "features": {
            "schema_id": FEATURE_SCHEMA_ID,
            "schema_version": FEATURE_SCHEMA_VERSION,
            "names": list(FEATURE_NAMES),
            "set": req.feature_set,
            "used": [FEATURE_NAMES[c] for c in feature_columns(req.feature_set)],
        },
        "parameters": model.params,
        "metrics": model.metrics,
        "card_precision_at_100_ceilings": ceilings,
        "card_precision_at_100_scenario_reference": reference,
        "compiled_max_abs_diff": model.compiled_max_abs_diff,
        "combiner": model.extra.get("combiner"),
        "combiner_skipped": combiner_skipped,
        "alerting": model.extra.get("alerting"),
        "artifacts": {"model.npz": npz_sha, "model.joblib": sha256_file(out / "model.joblib")},
    }
    (out / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out / "model_card.md").write_text(_markdown(card))
    uri = req.artifact_uri or (out / "model.npz").resolve().as_uri()
    manifest = fraudmodel_manifest(card, uri)
    (out / "fraudmodel.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    stages.update()
    stages.close()
    return card
