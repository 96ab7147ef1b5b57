"""The ``STREAMFLOW_*`` settings ``fraud_jobs`` reads (declared with :mod:`fraud_models.env_settings`).

Only ``streamflow job run``, the detector on the local mini-cluster, reads these: ``streamflow dev env``
exports both. The job in a cluster reads none of them; it gets everything from its config file, and the
environment variables that config names (the DSN's, Kafka credentials') are chosen by the pipeline spec.
(:mod:`fraud_jobs.flink.settings` is the job's config file, not the environment.)
"""

from __future__ import annotations

from typing import Any

from fraud_models.env_settings import Setting, text

__all__ = ["FLINK_JARS", "KAFKA_BOOTSTRAP", "SETTINGS"]

KAFKA_BOOTSTRAP: Setting[str] = Setting(
    "STREAMFLOW_KAFKA_BOOTSTRAP",
    text,
    None,
    "Kafka bootstrap servers of `streamflow job run` when `--bootstrap` is not given (else the config's).",
)
FLINK_JARS: Setting[str] = Setting(
    "STREAMFLOW_FLINK_JARS",
    text,
    None,
    "Connector jar URLs (`;`-separated) of `streamflow job run` when the config's `flink.jars` is empty.",
)

SETTINGS: tuple[Setting[Any], ...] = (KAFKA_BOOTSTRAP, FLINK_JARS)
