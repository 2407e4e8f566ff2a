"""Store simulators, a fake clock and builders for tests, the demo and the benchmarks.

Never imported by syncd at runtime (a test checks it) and left out of the image.
"""

from __future__ import annotations

from .clock import FakeClock
from .faults import FaultInjector, FaultRule
from .squarespace_sim import SquarespaceSimulator, Variant

__all__ = ["FakeClock", "FaultInjector", "FaultRule", "SquarespaceSimulator", "Variant"]
