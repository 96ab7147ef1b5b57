"""glibc's allocator settings, in a process of their own (they would outlast a test in this one)."""

from __future__ import annotations

import subprocess
import sys

_CHECK = """
import ctypes, sys
from fraud_operator import malloc
assert malloc.limit_arenas() and malloc.fix_thresholds()
libc = ctypes.CDLL(None)
# A 4 MB buffer freed and then allocated again comes from its own mapping each time, not the heap: the
# heap's top (sbrk(0)) does not move. glibc's default would have raised its threshold to 4 MB on the free.
sbrk = libc.sbrk
sbrk.restype = ctypes.c_void_p
buffer = bytearray(4 * 1024 * 1024)
del buffer
top = sbrk(0)
buffers = [bytearray(2 * 1024 * 1024) for _ in range(8)]
assert sbrk(0) == top, (hex(top), hex(sbrk(0)))
"""


def test_large_freed_buffers_stay_apart_from_the_heap() -> None:
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
