"""Fuzz fixtures: the integration suite's cluster and CNPG stand-in, an operator with a slower resync.

A 2 s resync (the integration tests') would reconcile hundreds of fuzzed pipelines in a loop on a 2-core
machine; 20 s keeps level-based resyncs in the run without drowning the API server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import kopf
import pytest
from fraud_operator.handlers import register
from kopf.testing import KopfRunner

from tests.conftest import KubeCluster
from tests.operator.integration.conftest import _run, cluster, cnpg_database, operator, operator_env

__all__ = ["cluster", "cnpg_database", "fuzz_operator", "operator", "operator_env", "unhandled"]

FUZZ_RESYNC_SECONDS = 20.0


class _Unhandled(logging.Handler):
    """Records carrying an exception other than kopf's Temporary/PermanentError: crashed handlers."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and not isinstance(error, kopf.TemporaryError | kopf.PermanentError):
            self.records.append(self.format(record))


@pytest.fixture
def unhandled() -> Iterator[list[str]]:
    """Tracebacks logged while the test runs (kopf logs a handler's unexpected exception with exc_info)."""
    handler = _Unhandled()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler.records
    root.removeHandler(handler)


@pytest.fixture
def fuzz_operator(operator_env: None, kube: KubeCluster, namespace: str) -> Iterator[KopfRunner]:
    registry = kopf.OperatorRegistry()
    register(registry, resync_seconds=FUZZ_RESYNC_SECONDS)
    yield from _run(kube, namespace, registry)
