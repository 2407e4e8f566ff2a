"""One connector per platform, on one small Protocol (``base.Connector``)."""

from __future__ import annotations

from .base import (
    Applied,
    Capabilities,
    Check,
    Checkable,
    Connector,
    Deferred,
    NotApplied,
    Page,
    Rejected,
    UnknownOutcome,
    WriteResult,
)
from .registry import PLATFORMS, capabilities_of, open_connectors

__all__ = [
    "PLATFORMS",
    "Applied",
    "Capabilities",
    "Check",
    "Checkable",
    "Connector",
    "Deferred",
    "NotApplied",
    "Page",
    "Rejected",
    "UnknownOutcome",
    "WriteResult",
    "capabilities_of",
    "open_connectors",
]
