"""SKU aliases: a store's own SKU mapped onto the canonical SKU, before any rule runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from .model import Conflict, ConflictKind, Sku, StoreName, StorePull

__all__ = ["apply_aliases"]


def apply_aliases(
    pulls: Iterable[StorePull], aliases: Mapping[StoreName, Mapping[Sku, Sku]], known: Iterable[Sku]
) -> tuple[list[StorePull], list[Conflict]]:
    """Rename aliased SKUs to their canonical SKU. Reports ``alias_collision`` when two of
    one store's variants end up with the same canonical SKU (the SKU is then skipped as a
    duplicate), and ``alias_dangling`` when an alias names a canonical SKU that neither the
    ledger nor any other variant of the pool has."""
    mapped = [_rename(p, aliases.get(p.store, {})) for p in pulls]
    conflicts: list[Conflict] = []
    known = set(known)
    for original, pull in zip(pulls, mapped, strict=True):
        table = aliases.get(pull.store, {})
        conflicts.extend(_collisions(original, table))
        own = {o.sku for o in original.observations}
        for store_sku, canonical in sorted(table.items()):
            backed = canonical in known or any(
                canonical in {o.sku for o in m.observations} for m in mapped if m.store != pull.store
            ) or canonical in own
            if store_sku in own and not backed:
                conflicts.append(Conflict(ConflictKind.ALIAS_DANGLING, pull.store, canonical,
                                          f"alias {store_sku!r} → {canonical!r}: no other store or ledger entry "
                                          "has that SKU", {"store_sku": store_sku}, subject=store_sku))
    return mapped, conflicts


def _rename(pull: StorePull, table: Mapping[Sku, Sku]) -> StorePull:
    if not table:
        return pull
    observations = tuple(replace(o, sku=table.get(o.sku, o.sku)) for o in pull.observations)
    issues = tuple(replace(i, sku=table.get(i.sku, i.sku)) if i.sku else i for i in pull.issues)
    return replace(pull, observations=observations, issues=issues)


def _collisions(pull: StorePull, table: Mapping[Sku, Sku]) -> list[Conflict]:
    sources: dict[Sku, set[Sku]] = defaultdict(set)
    for obs in pull.observations:
        sources[table.get(obs.sku, obs.sku)].add(obs.sku)
    return [
        Conflict(ConflictKind.ALIAS_COLLISION, pull.store, canonical,
                 f"{', '.join(sorted(names))} all map to {canonical!r} in this store",
                 {"store_skus": sorted(names)}, subject=canonical)
        for canonical, names in sorted(sources.items()) if len(names) > 1
    ]
