"""The status page's small per-store charts: inline SVG (well-formed XML), no JavaScript;
a hover shows a native tooltip (``<title>``).

    lag_chart     the store's lag over the window: a line through its lag just before
                  each pull (the sawtooth's peaks), down-sampled to the worst per slot
    writes_chart  its writes per hour, stacked: applied, failed (rejected or unknown), other
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from .statuspage_format import span, when

__all__ = ["lag_chart", "writes_chart"]

W, H = 240, 64  # the whole chart
TOP, BOTTOM = 13, 52  # the plot area's y range; labels above and below
SLOTS = 144  # lag: the worst point per 10 minutes of a day
FAILED = ("rejected", "unknown")
COLOURS = {"applied": "#2e7d32", "failed": "#c62828", "other": "#9e9e9e"}


def _svg(label: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
            f'<line x1="0" y1="{BOTTOM}" x2="{W}" y2="{BOTTOM}" stroke="#bbb" stroke-width="1"/>{body}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start") -> str:
    return f'<text x="{x:g}" y="{y:g}" font-size="10" fill="#555" text-anchor="{anchor}">{escape(text)}</text>'


def _axis(window: timedelta) -> str:
    return _text(0, H - 2, f"{window.total_seconds() / 3600:g} h ago") + _text(W, H - 2, "now", "end")


def lag_chart(store: str, points: list[tuple[datetime, float]], now: datetime, window: timedelta,
              stale_after: float | None = None) -> str:
    """``points``: (time, lag in seconds), oldest first. ``stale_after``: a dashed line there."""
    start = now - window
    slot = window / SLOTS
    worst: dict[int, tuple[datetime, float]] = {}
    for at, lag in points:
        i = min(SLOTS - 1, max(0, int((at - start) / slot)))
        if i not in worst or lag >= worst[i][1]:
            worst[i] = (at, lag)
    kept = [worst[i] for i in sorted(worst)]
    if points and kept[-1] != points[-1]:
        kept.append(points[-1])  # the lag now, always the line's end
    label = f"{store}: lag over the last {span(window.total_seconds())}"
    if not kept:
        return _svg(label, _text(W / 2, 34, "no pull in this window", "middle") + _axis(window))
    peak = max(lag for _, lag in kept)
    top = max(peak, stale_after or 0, 1.0) * 1.08

    def xy(at: datetime, lag: float) -> tuple[float, float]:
        return max(0.0, min(1.0, (at - start) / window)) * W, BOTTOM - lag / top * (BOTTOM - TOP)

    spots = [xy(at, lag) for at, lag in kept]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in spots)
    body = (f'<polygon points="{spots[0][0]:.1f},{BOTTOM} {line} {spots[-1][0]:.1f},{BOTTOM}" fill="#1565c0" '
            f'fill-opacity="0.12"/><polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="1.5" '
            'stroke-linejoin="round"/>')
    if stale_after:
        y = BOTTOM - stale_after / top * (BOTTOM - TOP)
        body += (f'<line x1="0" y1="{y:.1f}" x2="{W}" y2="{y:.1f}" stroke="#c62828" stroke-width="1" '
                 f'stroke-dasharray="3 3"><title>stale after {escape(span(stale_after))}</title></line>')
    body += "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#1565c0" fill-opacity="0">'
                    f'<title>{escape(when(at))}: lag {escape(span(lag))}</title></circle>'
                    for (x, y), (at, lag) in zip(spots, kept, strict=True))
    head = f"lag · max {span(peak)} · now {span(kept[-1][1])}"
    return _svg(label, body + _text(0, 9, head) + _axis(window))


def writes_chart(store: str, hours: list[dict[str, int]], now: datetime) -> str:
    """``hours``: per hour (oldest first, the last one ending now) the writes by status."""
    window = timedelta(hours=len(hours))
    stacks = []
    for counts in hours:
        failed = sum(counts.get(s, 0) for s in FAILED)
        applied = counts.get("applied", 0)
        stacks.append({"applied": applied, "failed": failed, "other": sum(counts.values()) - applied - failed})
    total = sum(sum(s.values()) for s in stacks)
    label = f"{store}: writes per hour over the last {len(hours)} h"
    if not total:
        return _svg(label, _text(W / 2, 34, "no writes in this window", "middle") + _axis(window))
    top = max(sum(s.values()) for s in stacks)
    width = W / len(hours)
    body = []
    for i, stack in enumerate(stacks):
        y = float(BOTTOM)
        begin = now - window + timedelta(hours=i)
        tip = f"the hour from {when(begin)}: " + ", ".join(f"{n} {k}" for k, n in stack.items() if n)
        for kind in ("applied", "failed", "other"):
            n = stack[kind]
            if not n:
                continue
            h = max(1.0, n / top * (BOTTOM - TOP))
            y -= h
            body.append(f'<rect x="{i * width + 1:.1f}" y="{y:.1f}" width="{width - 2:.1f}" height="{h:.1f}" '
                        f'fill="{COLOURS[kind]}"><title>{escape(tip)}</title></rect>')
    failed = sum(s["failed"] for s in stacks)
    head = f"writes/h · max {top} · {total} in {len(hours)} h" + (f" · {failed} failed" if failed else "")
    return _svg(label, "".join(body) + _text(0, 9, head) + _axis(window))
