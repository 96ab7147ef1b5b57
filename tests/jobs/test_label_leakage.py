"""No label leakage: a label can act only once it has been delivered, ``label_delay`` after its transaction.

The detector's emitted score (rules and model, as ``streamflow replay`` runs them) must not change when every
label of the input's last ``label_delay`` is flipped: those labels arrive after the input ends. The same
flip applied a little earlier must change scores, or the check would prove nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fraud_jobs.config import DetectorConfig
from fraud_jobs.replay import ReplayInput, load_input, replay
from fraud_models.features import FEATURE_NAMES, LABEL_DERIVED_FEATURES
from fraud_models.scorer import CompiledModel, compile_model
from fraud_models.training import make_estimator

DELAY = timedelta(days=7)


def _label_driven_model() -> CompiledModel:
    """A small gradient-boosting model whose score rises with the label-derived terminal features."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, len(FEATURE_NAMES)))
    signal = sum(x[:, FEATURE_NAMES.index(name)] for name in LABEL_DERIVED_FEATURES)
    y = (signal + rng.normal(scale=0.5, size=len(x)) > 1.0).astype(int)
    estimator = make_estimator("hist_gradient_boosting", {"max_iter": 30}).fit(x, y)
    columns = list(range(len(FEATURE_NAMES)))
    return compile_model(estimator, algorithm="hist_gradient_boosting", columns=columns, version="leak")


@pytest.fixture(scope="module")
def ten_days(handbook_data: Path, tmp_path_factory: pytest.TempPathFactory) -> ReplayInput:
    columns = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"]
    table = pq.read_table(
        handbook_data,
        columns=columns,
        filters=[("TX_DATETIME", ">=", datetime(2018, 5, 1)), ("TX_DATETIME", "<", datetime(2018, 5, 11))],
    )
    path = tmp_path_factory.mktemp("leakage") / "ten-days.parquet"
    pq.write_table(table, path)
    return load_input(path)


def _flipped(data: ReplayInput, after: datetime) -> tuple[ReplayInput, int]:
    labels = list(data.labels)
    flipped = 0
    for i, tx in enumerate(data.transactions):
        if tx.event_time > after and labels[i] is not None:
            labels[i] = not labels[i]
            flipped += 1
    return dataclasses.replace(data, labels=labels), flipped


def _scores(
    data: ReplayInput, model: CompiledModel, delay: timedelta = DELAY
) -> list[tuple[str, float, float | None, tuple[str, ...]]]:
    records, _, summary = replay(data, DetectorConfig(label_delay_s=delay.total_seconds()), model)
    assert summary.labels_delivered > 0
    return [(r.transaction_id, r.score, r.ml_score, r.rule_codes) for r in records]


def test_flipping_every_label_of_the_last_label_delay_changes_no_score(ten_days: ReplayInput) -> None:
    model = _label_driven_model()
    end = max(tx.event_time for tx in ten_days.transactions)
    baseline = _scores(ten_days, model)
    # Every transaction is compared (emitted score, model score, rule codes), not a sample of them.
    assert len(baseline) == len(ten_days.transactions) > 90_000
    assert all(ml is not None for _, _, ml, _ in baseline)

    late, flipped = _flipped(ten_days, end - DELAY)
    assert flipped > 50_000  # seven of the ten days
    assert _scores(late, model) == baseline

    # The control: flip the labels from one day further back; those are delivered in time and must act.
    earlier, _ = _flipped(ten_days, end - DELAY - timedelta(days=1))
    changed = sum(a != b for a, b in zip(_scores(earlier, model), baseline, strict=True))
    assert changed > 100, f"flipping delivered labels changed only {changed} scores: the check is blind"


def test_the_check_catches_a_detector_that_uses_labels_a_day_early(ten_days: ReplayInput) -> None:
    # A leak planted on purpose: the same flip, replayed by a detector that delivers labels after 6 days.
    model = _label_driven_model()
    end = max(tx.event_time for tx in ten_days.transactions)
    late, _ = _flipped(ten_days, end - DELAY)
    early = DELAY - timedelta(days=1)
    changed = sum(
        a != b for a, b in zip(_scores(late, model, early), _scores(ten_days, model, early), strict=True)
    )
    assert changed > 100, f"a one-day leak changed only {changed} scores: the check would not see it"
