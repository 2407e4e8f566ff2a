"""The status page's verdict: OK, DEGRADED or FAILING, and why, in words.

FAILING: syncd is not keeping the stores in step at all.
  - no full cycle has finished, and none is running or the one running is as late as
    the next rule says;
  - the last full cycle finished more than ``STALE_INTERVALS`` intervals ago (the
    configured interval, or else the median gap between the recent full cycles' starts);
  - the last finished full cycle ended in an error (the cycle itself broke), or it could not
    pull a single store (each failed or was skipped by its open circuit).
DEGRADED: syncd runs, but something needs a look.
  - the first full cycle is still running;
  - the last finished full cycle was interrupted (its process died mid-way);
  - a store's circuit is open, or its last pull failed;
  - writes of unknown outcome wait to be settled (``unknown``; ``in_flight`` too while no
    cycle runs: one that is pushing has writes in flight as a matter of course);
  - conflicts are open.
OK: none of these. The reason then says which cycle last finished, and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from statistics import median
from typing import Any

from .statuspage_format import span, when

__all__ = ["STALE_INTERVALS", "Verdict", "typical_interval", "verdict"]

STALE_INTERVALS = 3


@dataclass
class Verdict:
    """The reasons, worst first; the state is the worst reason's."""

    failing: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    fine: list[str] = field(default_factory=list)
    stale_after: float | None = None  # seconds without a finished full cycle before FAILING

    @property
    def state(self) -> str:
        return "FAILING" if self.failing else "DEGRADED" if self.degraded else "OK"

    @property
    def reasons(self) -> list[tuple[str, str]]:
        """(state, reason), worst first."""
        return ([("FAILING", r) for r in self.failing] + [("DEGRADED", r) for r in self.degraded]
                + [("OK", r) for r in self.fine])


def typical_interval(fulls: list[dict[str, Any]]) -> float | None:
    """The median gap between the recent full cycles' starts (newest first in ``fulls``)."""
    gaps = [(a["started_at"] - b["started_at"]).total_seconds() for a, b in pairwise(fulls)]
    return median(gaps) if gaps else None


def verdict(now: datetime, stores: dict[str, dict[str, Any]], fulls: list[dict[str, Any]], running: bool,
            open_conflicts: int, interval_seconds: float | None) -> Verdict:
    """``fulls``: the recent full cycles, newest first; ``running``: some cycle (of either
    kind) is running now; ``stores``: as ``ledger.queries.page_stores`` gives them."""
    v = Verdict()
    interval = interval_seconds or typical_interval(fulls)
    v.stale_after = STALE_INTERVALS * interval if interval else None
    done = next((c for c in fulls if c["outcome"] != "running"), None)
    if done is None:
        if fulls:
            started = fulls[0]["started_at"]
            stuck = v.stale_after is not None and (now - started).total_seconds() > v.stale_after
            (v.failing if stuck else v.degraded).append(
                f"the first full cycle is still running (since {when(started)})")
        else:
            v.failing.append("no full cycle has run yet")
    else:
        _last_full(v, now, done)
    for name, s in stores.items():
        error = f": {s['last_error'][:200]}" if s["last_error"] else ""
        if s["circuit_open_until"]:
            v.degraded.append(f"{name}: circuit open until {when(s['circuit_open_until'])} after "
                       f"{s['failures_in_a_row']} failed pulls in a row{error}")
        elif s["failures_in_a_row"]:
            n = s["failures_in_a_row"]
            v.degraded.append(f"{name}: its last {'pull' if n == 1 else f'{n} pulls'} failed{error}")
        unsure = s["unsettled"].get("unknown", 0) + (0 if running else s["unsettled"].get("in_flight", 0))
        if unsure:
            v.degraded.append(f"{name}: {_n(unsure, 'write')} of unknown outcome, to be settled before its next pull")
    if open_conflicts:
        v.degraded.append(f"{_n(open_conflicts, 'open conflict')} (listed below)")
    if v.state == "OK" and done is not None:
        v.fine.append(f"every store in step: cycle {done['id']} finished {when(done['finished_at'])}")
    return v


def _last_full(v: Verdict, now: datetime, done: dict[str, Any]) -> None:
    finished = done["finished_at"] or done["started_at"]
    ago = (now - finished).total_seconds()
    if v.stale_after is not None and ago > v.stale_after:
        v.failing.append(f"no full cycle has finished for {span(ago)} (since {when(finished)}; "
                  f"expected within {span(v.stale_after)})")
    cycle = f"the last full cycle ({done['id']}, {when(finished)})"
    if done["outcome"] == "error":
        v.failing.append(f"{cycle} ended in an error: {done['error'] or 'no message'}")
    elif done["outcome"] == "interrupted":
        v.degraded.append(f"{cycle} was interrupted: {done['error'] or 'its process died'}")
    elif done["stores_failed"] and not done["stores_pulled"]:
        v.failing.append(f"{cycle} could not pull any store ({_n(done['stores_failed'], 'store')} failed or skipped)")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
