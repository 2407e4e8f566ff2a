"""Giving a finished cycle's memory back to the operating system.

A cycle at 100,000 SKUs × 4 stores builds a few hundred megabytes of short-lived objects
(the snapshot, the pulled pages, the plan). Python frees them, but glibc keeps most of
what it freed mapped: its heap is only shrunk from the top, and the blocks a long-lived
object pins in between stay resident. Without a trim the process stays near its
highest peak between cycles and creeps up from one cycle to the next; with it, it goes
back down after each cycle (``make bench`` reports the resident size between cycles).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import platform
from collections.abc import Callable, Iterator

__all__ = ["collector_relaxed", "release_memory"]


def release_memory() -> bool:
    """Collect cyclic garbage, then hand free heap pages back to the OS where the C
    library can (glibc's ``malloc_trim``). True if the C library was asked to trim."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on another C library (musl, macOS)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_size_t]
    func.restype = ctypes.c_int
    return func


CYCLE_GC_THRESHOLD = (100_000, 50, 100)


@contextlib.contextmanager
def collector_relaxed() -> Iterator[None]:
    """A cycle builds millions of small objects that hold no reference cycles (pages,
    observations, the snapshot, the plan). With the default thresholds Python's cyclic
    collector traverses them again and again as they pile up: about 40 % of the CPU of
    loading the snapshot and building the observations at 100,000 SKUs × 4 stores. For
    the cycle it runs every 100,000 allocations instead of every 700, so it still frees
    the little cyclic garbage HTTP leaves as it goes (responses themselves are unbound
    from their streams, see ``syncd.http.client``); the thresholds are restored after,
    and what the cycle freed is handed back to the operating system (``release_memory``)."""
    before = gc.get_threshold()
    gc.set_threshold(*CYCLE_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        release_memory()
