"""The SaaSignal simulator's product and variant bodies: every field ``llms-full.txt``
lists for ``GET …/products`` and ``GET …/products/{id}/variants`` (all marked required,
so all present, null where the simulation has no value)."""

from __future__ import annotations

from typing import Any

__all__ = ["EPOCH", "product_view", "variant_view"]

EPOCH = "2026-01-01T00:00:00.000Z"


def product_view(pid: str, sku: str | None, track: bool, backorder: bool, quantity: int,
                 updated_at: str | None) -> dict[str, Any]:
    return {"id": pid, "project_id": "proj_sim", "catalog_id": None, "category_id": None, "name": sku or pid,
            "slug": pid, "description": None, "type": "physical", "status": "active", "price": 1.0,
            "compare_at_price": None, "cost_price": None, "currency": "USD", "sku": sku, "barcode": None,
            "weight": None, "weight_unit": None, "taxable": True, "tax_code": None, "track_inventory": track,
            "quantity": quantity, "allow_backorder": backorder, "images": [], "tags": [], "metadata": {},
            "created_at": EPOCH, "updated_at": updated_at or EPOCH}


def variant_view(pid: str, order: int, vid: str, sku: str | None, track: bool, backorder: bool, quantity: int,
                 updated_at: str | None) -> dict[str, Any]:
    return {"id": vid, "project_id": "proj_sim", "product_id": pid, "name": sku or vid, "sku": sku,
            "barcode": None, "price": 1.0, "compare_at_price": None, "cost_price": None, "weight": None,
            "weight_unit": None, "track_inventory": track, "quantity": quantity, "allow_backorder": backorder,
            "sort_order": order, "options": {}, "images": [], "metadata": {}, "created_at": EPOCH,
            "updated_at": updated_at or EPOCH}
