"""What flows between the job's operators, as plain tuples of strings (cheap across the Python/JVM boundary).

Between operators an element is ``(kind, key, payload, source)``: ``kind`` is :data:`TX` or :data:`LABEL`,
``key`` the id the next keyed stage partitions by, ``payload`` the record's JSON and ``source``
``topic:partition:offset`` of the Kafka record it came from, so a failure in a later stage can still point
the DLQ entry at its origin. No pyflink here.
"""

from __future__ import annotations

import json
import time
from typing import Final

from fraud_jobs.logic import ScoreRecord
from fraud_jobs.schemas import Source

__all__ = ["LABEL", "TX", "Element", "format_source", "parse_source", "score_json"]

TX: Final = "T"
LABEL: Final = "L"

Element = tuple[str, str, str, str]
"""(kind, key, payload JSON, source)."""


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
    """The score record of one transaction (scores topic): outcome, rule codes and when it was decided."""
    return json.dumps(
        {
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
            "detected_at": time.time() if detected_at is None else detected_at,
        },
        separators=(",", ":"),
    )
