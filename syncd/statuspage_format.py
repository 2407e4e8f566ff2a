"""How the status page writes times and spans: one form everywhere, always with its zone."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["span", "when"]


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def when(ts: datetime | str | None, missing: str = "never") -> str:
    """``2026-11-30 06:52:02 UTC``; a naive time (SQLite's) or an ISO string is UTC."""
    if ts is None or ts == "":
        return missing
    moment = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float | None, missing: str = "—") -> str:
    """A duration for people: ``0.04 s``, ``0.4 s``, ``42 s``, ``4 min 2 s``, ``3 h 5 min``, ``2 d 4 h``."""
    if seconds is None:
        return missing
    if seconds < 10:
        return f"{max(seconds, 0):.{2 if seconds < 0.1 else 1}f} s"
    s = round(seconds)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if s >= size:
            rest = (s % size) // subsize
            return f"{s // size} {unit}" + (f" {rest} {sub}" if rest else "")
    return f"{s} s"
