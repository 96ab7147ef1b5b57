"""Fixtures of the model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_native_thread() -> Iterator[None]:
    """Tiny fits gain nothing from OpenMP threads, and on shared, busy cores they spin-wait for seconds."""
    with threadpool_limits(limits=1):
        yield
