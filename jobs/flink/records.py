"""What flows between the job's operators, kept cheap to cross the Python/JVM boundary.

Into stage 1 (keyed by terminal) the Kafka records arrive as :data:`SOURCE_FIELDS` rows whose key the JVM
already extracted, so no Python operator runs before the first keyed stage. From stage 1 to stage 2 an
element is ``(kind, source, payload)``, pickled by Flink: ``kind`` is :data:`TX` or :data:`LABEL`,
``source`` is ``topic:partition:offset`` of the Kafka record (so a failure in stage 2 can still point the
DLQ entry at its origin), ``payload`` is :meth:`fraud_jobs.logic.EnrichedTransaction.to_wire` for a
transaction and the label's JSON for a label. No pyflink here.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from fraud_jobs.logic import ScoreRecord
from fraud_jobs.schemas import Source

__all__ = [
    "LABEL",
    "SOURCE_FIELDS",
    "TX",
    "Element",
    "format_source",
    "model_score_rows",
    "parse_source",
    "score_json",
]

_COMPACT: Final = json.JSONEncoder(separators=(",", ":"))
"""One encoder for every score record (``json.dumps`` with options builds a new one per call)."""

TX: Final = "T"
LABEL: Final = "L"

SOURCE_FIELDS: Final = ("kind", "key", "topic", "partition", "offset", "value")
"""A Kafka record as stage 1 receives it: kind, the JVM-extracted ``terminal_id`` ('' when unreadable),
the Kafka coordinates and the raw value bytes."""

Element = tuple[str, str, Any]
"""(kind, source, payload) from stage 1 to stage 2."""


def format_source(source: Source) -> str:
    return f"{source.topic}:{source.partition}:{source.offset}"


def parse_source(text: str) -> Source:
    """Inverse of :func:`format_source` (topic names may contain ':'; the last two fields are numbers)."""
    topic, _, rest = text.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    try:
        return Source(topic or None, int(partition), int(rest))
    except ValueError:
        return Source(text or None, None, None)


def score_json(record: ScoreRecord, detected_at: float | None = None) -> str:
    """The score record of one transaction (scores topic): outcome, rule codes, the model version and when
    it was decided; with a shadow model also its version, combined score, model score and alert decision
    (``shadow_error`` instead of the scores when the shadow failed on this transaction)."""
    data: dict[str, Any] = {
        "transaction_id": record.transaction_id,
        "customer_id": record.customer_id,
        "terminal_id": record.terminal_id,
        "event_ts": record.event_ts,
        "amount": record.amount,
        "score": record.score,
        "rule_score": record.rule_score,
        "ml_score": record.ml_score,
        "rule_codes": list(record.rule_codes),
        "alert": record.alert,
        "model_version": record.model_version,
        "detected_at": time.time() if detected_at is None else detected_at,
    }
    if record.shadow_model_version is not None:
        data["shadow_model_version"] = record.shadow_model_version
        data["shadow_score"] = record.shadow_score
        data["shadow_ml_score"] = record.shadow_ml_score
        data["shadow_alert"] = record.shadow_alert
        if record.shadow_error is not None:
            data["shadow_error"] = record.shadow_error
    return _COMPACT.encode(data)


def model_score_rows(record: ScoreRecord, scored_at: float) -> tuple[tuple[Any, ...], ...]:
    """``gold.model_scores`` rows of one transaction: (transaction_id, model_version, role, score, ml_score,
    alert, customer_id, event_ts, scored_at) for the active model and the shadow (if each scored)."""
    rows: list[tuple[Any, ...]] = []
    if record.model_version is not None:
        rows.append(
            (
                record.transaction_id,
                record.model_version,
                "active",
                record.score,
                record.ml_score,
                record.alert,
                record.customer_id,
                record.event_ts,
                scored_at,
            )
        )
    if record.shadow_model_version is not None and record.shadow_score is not None:
        rows.append(
            (
                record.transaction_id,
                record.shadow_model_version,
                "shadow",
                record.shadow_score,
                record.shadow_ml_score,
                record.shadow_alert,
                record.customer_id,
                record.event_ts,
                scored_at,
            )
        )
    return tuple(rows)
