"""Job lifecycle calls PyFlink 2.2 gets wrong.

``JobClient.stop_with_savepoint`` in PyFlink 2.2 calls ``stopWithSavepoint(boolean, String)``, which Flink 2.x
removed (it now takes a ``SavepointFormatType``); this calls the Java method that exists.
"""

from __future__ import annotations

from typing import Any

__all__ = ["stop_with_savepoint"]


def stop_with_savepoint(client: Any, directory: str) -> str:
    """Stop the job of ``client`` (a pyflink JobClient) with a canonical savepoint; returns its path."""
    from pyflink.common.completable_future import CompletableFuture
    from pyflink.java_gateway import get_gateway

    fmt = get_gateway().jvm.org.apache.flink.core.execution.SavepointFormatType.CANONICAL
    future = CompletableFuture(client._j_job_client.stopWithSavepoint(False, directory, fmt), str)
    path: str = future.result()
    return path
