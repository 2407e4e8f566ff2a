"""release_memory: a finished cycle's freed heap goes back to the operating system."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from syncd.memory import release_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; other C libraries are left alone")
def test_freed_blocks_pinned_between_survivors_are_handed_back():
    """100 MB of 1,000-byte blocks (each one a malloc of its own), one in 50 kept alive
    so the heap cannot shrink from the top: freeing the rest leaves the process as big
    as before until release_memory trims the free pages in between."""
    base = resident_mb()
    blocks = [bytes(1000) for _ in range(100_000)]
    survivors = blocks[::50]
    del blocks
    before = resident_mb() - base
    assert release_memory() is True
    after = resident_mb() - base
    assert before > 60, f"the freed blocks were already handed back ({before:.1f} MB): nothing to test"
    assert after < before / 2, f"resident {before:.1f} MB before the trim, {after:.1f} MB after"
    assert len(survivors) == 2000


def test_without_glibc_it_only_collects(monkeypatch):
    """On musl or macOS there is no malloc_trim: the cyclic collector runs and that is all."""
    import syncd.memory as memory

    memory._malloc_trim.cache_clear()
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    try:
        assert release_memory() is False
    finally:
        memory._malloc_trim.cache_clear()
