"""glibc's allocator kept from holding memory the operator has freed.

The operator allocates in bursts (a start-up lists every watched object; a restart reconciles every pipeline)
from many threads, and holds little in between. glibc gives each thread that meets contention an arena of
its own (up to 8 per core) and keeps freed memory in each, so the resident size stays at the burst's peak.
Two arenas, and a trim after each burst, give that memory back. Elsewhere than glibc (musl, macOS) both are
no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["limit_arenas", "trim"]

_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)
logger = logging.getLogger(__name__)


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def limit_arenas(count: int = 2) -> bool:
    """At most ``count`` malloc arenas; call before the threads start. True when glibc took it."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(_M_ARENA_MAX, count))


def trim() -> bool:
    """Give freed heap memory back to the system (malloc_trim); True when some was released."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
