"""Go's map iteration order as the anchor's replay models it."""

from __future__ import annotations

import random
from collections import Counter

from warmpool.sim.gomap import SmallMap, rotated


def test_a_small_map_puts_a_new_key_in_the_first_empty_slot():
    keys = SmallMap()
    for key in ("a", "b", "c"):
        keys.insert(key)
    keys.delete("a")
    keys.insert("d")
    assert keys.slots[:3] == ["d", "b", "c"]


def test_iteration_starts_at_a_random_slot_of_eight_so_the_first_key_leads_most_often():
    keys = SmallMap()
    for key in ("eni-0", "eni-1", "eni-2"):
        keys.insert(key)
    rng = random.Random(1)
    firsts = Counter(keys.order(rng)[0] for _ in range(8000))
    # offsets 0 and 3..7 start at slot 0: 6 times in 8
    assert 0.72 < firsts["eni-0"] / 8000 < 0.78
    assert all(
        keys.order(rng)
        in (["eni-0", "eni-1", "eni-2"], ["eni-1", "eni-2", "eni-0"], ["eni-2", "eni-0", "eni-1"])
        for _ in range(100)
    )


def test_a_map_past_eight_keys_is_a_rotation_of_insertion_order():
    keys = SmallMap()
    for n in range(10):
        keys.insert(f"k{n}")
    keys.delete("k3")
    order = keys.order(random.Random(2))
    start = order.index("k0")
    assert order[start:] + order[:start] == [f"k{n}" for n in range(10) if n != 3]


def test_rotated_keeps_every_item_once():
    items = list(range(7))
    assert sorted(rotated(items, random.Random(5))) == items
    assert rotated([], random.Random(5)) == []
