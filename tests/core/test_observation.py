"""Observation: a frozen value whose SKU is one string however many stores show it."""

from __future__ import annotations

import dataclasses

import pytest

from syncd.core import Observation


def fresh(text: str) -> str:
    return "".join(list(text))  # an equal string that is not the same object


def test_the_sku_is_interned_so_equal_skus_are_one_string() -> None:
    a, b = fresh("SKU-000123"), fresh("SKU-000123")
    assert a is not b
    one, two = Observation("sq", a, "v1", 5), Observation("bc", b, "v9", None)
    assert one.sku is two.sku


def test_it_is_a_frozen_value() -> None:
    obs = Observation("sq", "SKU-1", "v1", 5)
    assert obs == Observation(store="sq", sku=fresh("SKU-1"), remote_id="v1", quantity=5)
    assert hash(obs) == hash(Observation("sq", "SKU-1", "v1", 5))
    assert obs != Observation("sq", "SKU-1", "v1", None)
    assert repr(obs) == "Observation(store='sq', sku='SKU-1', remote_id='v1', quantity=5)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        obs.quantity = 6  # type: ignore[misc]
    moved = dataclasses.replace(obs, sku=fresh("SKU-2"))
    assert moved == Observation("sq", "SKU-2", "v1", 5) and moved.sku is Observation("x", "SKU-2", "", 0).sku
    assert Observation("sq", "SKU-1", "v1", None).unlimited and not obs.unlimited
