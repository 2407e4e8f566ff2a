"""What the Shopify simulator remembers: items, idempotency records, bulk runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["KEY_RETENTION", "BulkRun", "IdempotencyRecord", "ShItem"]

KEY_RETENTION = timedelta(hours=24)


@dataclass
class ShItem:
    """An inventory item stocked (or not) at the shop's primary location."""

    id: int
    sku: str | None
    available: int
    tracked: bool = True
    committed: int = 0
    stocked: bool = True
    mutable: bool = True
    oversell: bool = False  # the variant's inventoryPolicy is CONTINUE


@dataclass
class IdempotencyRecord:
    args: str
    at: datetime
    payload: dict[str, Any] | None = None
    failed: bool = False


@dataclass
class BulkRun:
    id: int
    query: str
    lines: list[dict[str, Any]]
    started: float
    base: str
    failed: bool = False
    grouped: bool = False  # groupObjects
    seconds: float = 2.0  # how long it runs
