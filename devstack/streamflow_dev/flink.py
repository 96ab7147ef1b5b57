"""The Flink connector jars a PyFlink job needs locally (``pipeline.jars``), from Maven Central.

PyFlink ships Flink itself; the Kafka connector (with its kafka-clients) and the JDBC connector with the
PostgreSQL driver are separate artifacts that must match Flink 2.x. Maven Central has no JDBC connector
built for 2.2 (4.1.0-2.2 was never published); 4.0.0-2.0 is the newest for the 2.x line.
"""

from __future__ import annotations

from pathlib import Path

from .maven import resolve_artifacts

__all__ = ["FLINK_CONNECTOR_ARTIFACTS", "ensure_flink_jars", "flink_jar_urls"]

FLINK_CONNECTOR_ARTIFACTS = (
    "org.apache.flink:flink-connector-kafka:5.0.0-2.2",
    "org.apache.flink:flink-connector-jdbc-core:4.0.0-2.0",
    "org.apache.flink:flink-connector-jdbc-postgres:4.0.0-2.0",
    "org.postgresql:postgresql:42.7.8",
)

# PyFlink's flink-dist already carries these (parent-first on Flink's classpath); copies would only clash.
_PROVIDED_BY_PYFLINK = ("flink-connector-base", "slf4j-api")


def ensure_flink_jars(*, progress: bool = False) -> list[Path]:
    """Every connector jar (and its runtime dependencies), resolved once and cached."""
    lib = resolve_artifacts(
        "flink-connectors-2.2", FLINK_CONNECTOR_ARTIFACTS, exclude=_PROVIDED_BY_PYFLINK, progress=progress
    )
    return sorted(lib.glob("*.jar"))


def flink_jar_urls(jars: list[Path] | None = None) -> str:
    """The jars as the ``;``-separated ``file://`` URLs that ``pipeline.jars`` expects."""
    return ";".join(p.resolve().as_uri() for p in (jars if jars is not None else ensure_flink_jars()))
