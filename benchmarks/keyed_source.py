"""The Kafka source of the benchmarks' Python skeletons: each record keyed by its terminal id on the JVM.

The detector itself does not read records this way (its JVM parser keys them); the skeletons measure what
keyed Python stages cost, so they need the key before any Python runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.flink.topology import _create_source, _pin_uids, _quote
from pyflink.common import Types

__all__ = ["KEYED_ELEMENT_TYPE", "SOURCE_TYPE", "keyed_source"]

_STR = Types.STRING()
SOURCE_TYPE = Types.ROW(
    [_STR, Types.ROW([_STR, _STR, _STR, Types.INT(), Types.LONG(), Types.PRIMITIVE_ARRAY(Types.BYTE())])]
)
"""Row(key, Row(kind, key, topic, partition, offset, value)): a keyed Kafka record."""
KEYED_ELEMENT_TYPE = Types.ROW([Types.STRING(), Types.PICKLED_BYTE_ARRAY()])
"""Row(key, pickled element) between keyed Python stages."""


def keyed_source(
    t_env: Any,
    name: str,
    kind: str,
    topic: str,
    props: Mapping[str, str],
    settings: JobSettings,
    startup: str,
) -> Any:
    """``Row(terminal_id, Row(kind, terminal_id, topic, partition, offset, value))`` per record; the key is
    '' when the JVM cannot read a string terminal_id (bad JSON, missing field)."""
    _create_source(t_env, name, topic, props, settings, startup)
    key = "COALESCE(JSON_VALUE(CAST(`value` AS STRING), '$.terminal_id'), '')"
    table = t_env.sql_query(
        f"SELECT k, ROW('{_quote(kind)}', k, `topic`, `partition`, `offset`, `value`)"
        f" FROM (SELECT {key} AS k, `topic`, `partition`, `offset`, `value` FROM `{name}`)"
    )
    return _pin_uids(t_env.to_append_stream(table, SOURCE_TYPE), name)
