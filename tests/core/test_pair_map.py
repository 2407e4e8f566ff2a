"""PairMap: (store, SKU) → state held per store reads exactly like the flat dict it replaces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.core import ItemState, PairMap, Snapshot

stores = st.sampled_from(["north", "south", "east"])
skus = st.sampled_from([f"SKU-{i}" for i in range(8)])
states = st.builds(ItemState, st.text("0123456789", min_size=1, max_size=3), st.none() | st.integers(0, 50))
flat_maps = st.dictionaries(st.tuples(stores, skus), states, max_size=20)


@given(flat_maps, st.tuples(stores | st.just("west"), skus | st.just("SKU-X")))
def test_a_pair_map_answers_every_read_as_the_flat_dict_does(flat, probe):
    pairs = PairMap.of(flat)
    assert len(pairs) == len(flat) and sorted(pairs) == sorted(flat)
    assert pairs == flat and flat == pairs and dict(pairs.items()) == flat
    assert sorted(pairs.triples()) == sorted((store, sku, state) for (store, sku), state in flat.items())
    assert (probe in pairs) == (probe in flat)
    assert pairs.get(probe) == flat.get(probe) and pairs.get(probe, "none") == flat.get(probe, "none")
    if probe in flat:
        assert pairs[probe] == flat[probe]
    else:
        with pytest.raises(KeyError) as missing:
            pairs[probe]
        assert missing.value.args == (probe,)
    for store in ("north", "south", "east", "west"):
        assert pairs.store(store) == {sku: s for (st_, sku), s in flat.items() if st_ == store}


def test_odd_keys_are_simply_not_there():
    pairs = PairMap.of({("north", "A"): ItemState("1", 2)})
    assert "north" not in pairs and ("north",) not in pairs and ("north", "A", "x") not in pairs
    assert None not in pairs


def test_a_snapshot_holds_its_pairs_per_store_whatever_mapping_it_is_given():
    flat = {("north", "A"): ItemState("1", 2), ("south", "A"): ItemState("9", None)}
    snapshot = Snapshot(available={"A": 2}, items=flat)
    assert isinstance(snapshot.items, PairMap) and snapshot.items == flat
    assert snapshot.store("south") == {"A": ItemState("9", None)} and snapshot.store("east") == {}
    again = Snapshot(available={"A": 2}, items=snapshot.items)
    assert again.items is snapshot.items
    assert "PairMap(" in repr(snapshot.items)
