"""What a targeted cycle reads from the ledger: the SKUs behind a store's own ids, the
snapshot of just those SKUs, and when they were last written (an asynchronous store's
apply lag is waited out for the items written within it, not for the whole store)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ..core import ItemState, PairMap, Sku, Snapshot, StoreName
from .bulk import chunks
from .tables import OutboxRow, OutboxStatus, SkuRow, StoreItemRow

__all__ = ["last_applied_for", "load_scoped_snapshot", "skus_by_remote_id"]

SKU = SkuRow.__table__  # type: ignore[attr-defined]
ITEM = StoreItemRow.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
CHUNK = 500  # values in one IN (...): well under every driver's parameter limit


def skus_by_remote_id(engine: Engine, ids: Mapping[StoreName, Collection[str]]) -> dict[StoreName, dict[str, Sku]]:
    """Per store, its remote ids that the ledger knows → their SKU (unknown ids left out)."""
    found: dict[StoreName, dict[str, Sku]] = {}
    with Session(engine) as s:
        for store, remote_ids in ids.items():
            for chunk in chunks(sorted(set(remote_ids)), CHUNK):
                q = select(ITEM.c.remote_id, ITEM.c.sku).where(ITEM.c.store == store, ITEM.c.remote_id.in_(chunk))
                found.setdefault(store, {}).update({rid: sku for rid, sku in s.execute(q)})
    return found


def load_scoped_snapshot(engine: Engine, skus: Iterable[Sku]) -> Snapshot:
    """The snapshot of these SKUs only: their available and every store's state of them."""
    available: dict[Sku, int] = {}
    stores: dict[StoreName, dict[Sku, ItemState]] = {}
    with Session(engine) as s:
        for chunk in chunks(sorted(set(skus)), CHUNK):
            available.update({sku: int(n) for sku, n in s.execute(
                select(SKU.c.sku, SKU.c.available).where(SKU.c.sku.in_(chunk)))})
            q = select(ITEM.c.store, ITEM.c.sku, ITEM.c.remote_id, ITEM.c.expected).where(ITEM.c.sku.in_(chunk))
            for store, sku, rid, expected in s.execute(q):
                stores.setdefault(store, {})[sku] = ItemState(rid, expected)
    return Snapshot(available=available, items=PairMap(stores))


def last_applied_for(engine: Engine, store: StoreName, skus: Collection[Sku]) -> datetime | None:
    """When the latest confirmed write to any of these SKUs on the store was applied."""
    latest: datetime | None = None
    with Session(engine) as s:
        for chunk in chunks(sorted(set(skus)), CHUNK):
            q = select(func.max(OUTBOX.c.updated_at)).where(
                OUTBOX.c.store == store, OUTBOX.c.status == str(OutboxStatus.APPLIED), OUTBOX.c.sku.in_(chunk))
            when = s.execute(q).scalar()
            if when is not None and (latest is None or when > latest):
                latest = when
    return latest
