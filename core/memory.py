"""Giving freed memory back to the operating system.

Why: PyTorch's CPU tensors come from malloc. glibc serves an allocation above its mmap
threshold with its own mapping, but raises that threshold to the size of every mapped
block freed (up to 32 MB), so after the engine evicts its first cached identity (28 MB of
features) every later tensor of that size lives in the heap, and the heap's free holes
stay resident. The studio soak measured it: RSS +34% over 4 minutes of slider drags with
the Python objects and live tensors flat (docs/benchmarks.md). Fixing the threshold
instead (MALLOC_MMAP_THRESHOLD_) stops the growth but maps and zeroes every large tensor
again: previews 30-50% slower here. `malloc_trim(0)` returns the free pages of the heap
(holes included) in ~5-20 ms, so the studio calls it when it goes still.
"""
from __future__ import annotations

import ctypes
import sys
import threading
import time

_lock = threading.Lock()
_last = 0.0
_trim = None


def _malloc_trim():
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                _trim = ctypes.CDLL("libc.so.6").malloc_trim  # glibc only (musl has none)
                _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
            except (OSError, AttributeError):
                _trim = False
    return _trim


def rss_mb() -> float:
    """This process's resident memory in MB (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def release_free_memory(min_interval_s: float = 2.0) -> bool:
    """Return the heap's free pages to the OS, at most once per `min_interval_s` (any
    thread). True when it ran; False where there is nothing to call (not glibc) or it
    ran too recently."""
    global _last
    trim = _malloc_trim()
    if not trim:
        return False
    with _lock:
        now = time.monotonic()
        if now - _last < min_interval_s:
            return False
        _last = now
    trim(0)
    return True
