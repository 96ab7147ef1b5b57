"""The demo's read-back of the job's topics survives every malformed record the generator injects."""

from __future__ import annotations

from fraud_jobs.generator import generate
from streamflow_dev.demo_detector import DetectorSummary, _record


def test_every_generated_record_is_read_back_without_error() -> None:
    generation = generate(4_000, seed=3, malformed_ratio=0.3)
    summary = DetectorSummary()
    for record in generation.records:  # includes JSON nested past the parser's depth limit
        _record("payments.transactions", record.payload, 1_000, summary)
    valid = sum(1 for r in generation.records if r.malformed is None)
    assert len(summary.produced) == valid > 0
