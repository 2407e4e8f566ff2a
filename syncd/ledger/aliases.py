"""SKU aliases kept in the ledger: imported from CSV, read when a cycle builds its policy."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Engine, delete, insert, inspect, select
from sqlalchemy.orm import Session

from ..errors import ConfigError
from .tables import SkuAliasRow

__all__ = ["load_aliases", "parse_alias_csv", "save_aliases"]

ALIAS = SkuAliasRow.__table__  # type: ignore[attr-defined]
COLUMNS = ("store", "store_sku", "canonical_sku")


def parse_alias_csv(text: str, stores: Iterable[str]) -> list[tuple[str, str, str]]:
    """Rows of ``store,store_sku,canonical_sku`` (a header line first). Every problem is a
    ConfigError naming the line: unknown store, blank cell, or one store SKU mapped twice."""
    known = set(stores)
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or tuple(f.strip() for f in reader.fieldnames) != COLUMNS:
        raise ConfigError(f"the alias CSV must start with the header line: {','.join(COLUMNS)}")
    rows: list[tuple[str, str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, raw in enumerate(reader, start=2):
        store, store_sku, canonical = (str(raw.get(c) or "").strip() for c in COLUMNS)
        if not (store and store_sku and canonical):
            raise ConfigError(f"line {line}: store, store_sku and canonical_sku must all be set")
        if store not in known:
            raise ConfigError(f"line {line}: store {store!r} is not in the configuration")
        if (store, store_sku) in seen:
            raise ConfigError(f"line {line}: {store}/{store_sku} is already mapped on line {seen[(store, store_sku)]}")
        seen[(store, store_sku)] = line
        rows.append((store, store_sku, canonical))
    return rows


def save_aliases(engine: Engine, rows: list[tuple[str, str, str]]) -> None:
    """Replace the imported aliases of the stores named in ``rows`` (one transaction)."""
    with Session(engine) as s, s.begin():
        for store in {r[0] for r in rows}:
            s.execute(delete(ALIAS).where(ALIAS.c.store == store))
        if rows:
            s.execute(insert(ALIAS), [{"store": a, "store_sku": b, "canonical": c} for a, b, c in rows])


def load_aliases(engine: Engine) -> dict[str, dict[str, str]]:
    """store → {store SKU → canonical SKU}; empty before the first import."""
    if not inspect(engine).has_table("sku_alias"):
        return {}
    out: dict[str, dict[str, str]] = defaultdict(dict)
    with Session(engine) as s:
        for store, store_sku, canonical in s.execute(select(ALIAS.c.store, ALIAS.c.store_sku, ALIAS.c.canonical)):
            out[store][store_sku] = canonical
    return dict(out)
