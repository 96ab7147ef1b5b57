"""Names shared by the job's Python functions and its JVM operators. No pyflink here.

``TX`` and ``LABEL`` tell a transaction record from a label record (``io.streamflow.detector.Event``'s kinds).
A Kafka record's coordinates travel as ``topic:partition:offset`` text (:func:`format_source`) where a
control message is handed on, so a failure later can still point the dead letter at its origin.
"""

from __future__ import annotations

from typing import Final

from fraud_jobs.schemas import Source

__all__ = ["LABEL", "TX", "format_source", "parse_source"]

TX: Final = "T"
LABEL: Final = "L"


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
