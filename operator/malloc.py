"""glibc's allocator kept from holding memory the operator has freed.

The operator allocates in bursts (a start-up lists every watched object; a restart reconciles every pipeline)
from many threads, and holds little in between. glibc gives each thread that meets contention an arena of
its own (up to 8 per core) and keeps freed memory in each, so the resident size stays at the burst's peak.
Two arenas, and a trim after each burst, give that memory back. glibc also raises its threshold for serving a
block from its own mmap each time such a block is freed (up to 32 MB): after a few large listings, every
large buffer came from the heap and pinned it; a fixed threshold keeps them apart, unmapped when freed.
Elsewhere than glibc (musl, macOS) all of these are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["fix_thresholds", "limit_arenas", "trim"]

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
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


def fix_thresholds(mmap_bytes: int = 128 * 1024, trim_bytes: int = 1024 * 1024) -> bool:
    """Blocks of ``mmap_bytes`` or more get their own mapping (returned when freed), and free memory at the
    heap's top beyond ``trim_bytes`` goes back at once; True when glibc took both."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, mmap_bytes)) and bool(
        _LIBC.mallopt(_M_TRIM_THRESHOLD, trim_bytes)
    )


def trim() -> bool:
    """Give freed heap memory back to the system (malloc_trim); True when some was released."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
