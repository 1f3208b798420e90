"""CPU-side settings that change speed, never results: worker counts and the allocator."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["configure_malloc", "default_workers"]

def default_workers() -> int:
    """Worker processes for a CPU job: the cores this process may run on (its affinity, which a container or
    ``taskset`` narrows), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


# mallopt parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def configure_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 30,
                     top_pad: int = 256 << 20) -> bool:
    """Keep freed activation memory in glibc's heap instead of returning it to the kernel.

    With glibc's defaults, large tensors are mapped afresh and the heap is trimmed after every
    step, so each training or inference step page-faults its activations in again — on a small
    CPU that is 30-50 % of the time. These are the values of
    ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=68719476736:glibc.malloc.top_pad=268435456``,
    applied to the running process (the environment variable works only at start-up).
    Memory use is unchanged while the process runs; it is simply not given back. Returns False
    (and does nothing) when the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = True
    for param, value in ((_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, min(trim_threshold, 2**31 - 1)),
                         (_M_TOP_PAD, top_pad)):
        ok &= mallopt(param, int(value)) == 1
    return bool(ok)
