"""The ``STREAMFLOW_*`` settings ``fraud_jobs`` reads (declared with :mod:`fraud_models.env_settings`).

``streamflow job run``, the detector on the local mini-cluster, reads the first two: ``streamflow dev env``
exports both. The job in a cluster reads only where its Java half is (the image sets it); it gets everything
else from its config file, and the environment variables that config names (the DSN's, Kafka credentials')
are chosen by the pipeline spec.
(:mod:`fraud_jobs.flink.settings` is the job's config file, not the environment.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fraud_models.env_settings import Setting, path, text

__all__ = ["DETECTOR_JAR", "DETECTOR_JAR_CACHE", "FLINK_JARS", "KAFKA_BOOTSTRAP", "SETTINGS"]

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

DETECTOR_JAR: Setting[Path] = Setting(
    "STREAMFLOW_DETECTOR_JAR",
    path,
    None,
    "A prebuilt jar of the detector's Java half (`jobs/flink/java`); unset, the job compiles the shipped "
    "sources with `javac` once per source digest. The job image sets it to the jar it built.",
)
DETECTOR_JAR_CACHE: Setting[Path] = Setting(
    "STREAMFLOW_DETECTOR_JAR_CACHE",
    path,
    None,
    "Where the detector's Java half is compiled to and kept, one directory per source digest.",
    default_doc="~/.cache/streamflow/jvm",
)

SETTINGS: tuple[Setting[Any], ...] = (KAFKA_BOOTSTRAP, FLINK_JARS, DETECTOR_JAR, DETECTOR_JAR_CACHE)
