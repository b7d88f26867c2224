"""The per-range allocator behind size-only alias requests: lowest free aligned blocks, mixed
sizes, reuse of released blocks, overlap lookups, and a pods range filled to the last block.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from sandbox.gce.blocks import Held, RangeAllocator

N = IPv4Network


def test_lowest_free_aligned_blocks_around_holdings():
    blocks = RangeAllocator(N("10.4.0.0/24"))
    blocks.take_address(IPv4Address("10.4.0.1"), "gateway")
    blocks.take(N("10.4.0.32/27"), "b")
    assert blocks.allocate(28, 1, "a") == [N("10.4.0.16/28")]
    assert blocks.allocate(27, 2, "a") == [N("10.4.0.64/27"), N("10.4.0.96/27")]
    assert blocks.allocate(30, 3, "a") == [N("10.4.0.4/30"), N("10.4.0.8/30"), N("10.4.0.12/30")]
    assert blocks.allocate(32, 1, "a") == [N("10.4.0.0/32")]
    assert blocks.allocate(32, 1, "a") == [N("10.4.0.2/32")]


def test_allocation_is_all_or_nothing():
    blocks = RangeAllocator(N("10.4.0.0/26"))
    assert blocks.allocate(28, 5, "a") == []
    assert len(blocks) == 0
    assert len(blocks.allocate(28, 4, "a")) == 4
    assert blocks.allocate(28, 1, "a") == []
    assert blocks.allocate(32, 1, "a") == []


def test_released_blocks_are_reused_lowest_first():
    blocks = RangeAllocator(N("10.4.0.0/24"))
    taken = blocks.allocate(28, 16, "a")
    blocks.release(taken[9])
    blocks.release(taken[3])
    assert blocks.allocate(28, 1, "b") == [taken[3]]
    assert blocks.allocate(28, 1, "b") == [taken[9]]
    blocks.release(N("10.4.0.0/27"))  # not held so: ignored
    assert len(blocks) == 16


def test_overlapping_names_the_holders():
    blocks = RangeAllocator(N("10.4.0.0/24"))
    blocks.take(N("10.4.0.16/28"), "node-a")
    blocks.take(N("10.4.0.64/26"), "node-b")
    assert blocks.overlapping(N("10.4.0.0/25")) == [
        Held(N("10.4.0.16/28"), "node-a"),
        Held(N("10.4.0.64/26"), "node-b"),
    ]
    assert blocks.overlapping(N("10.4.0.80/28")) == [Held(N("10.4.0.64/26"), "node-b")]
    assert blocks.overlapping(N("10.4.0.32/28")) == []
    assert blocks.overlapping(N("10.4.0.0/28")) == []
    with pytest.raises(ValueError, match="overlaps"):
        blocks.take(N("10.4.0.0/27"), "node-c")
    with pytest.raises(ValueError, match="not inside"):
        blocks.take(N("10.5.0.0/28"), "node-c")


def test_a_large_range_fills_to_the_last_block():
    pods = N("10.0.0.0/14")  # 16384 /28s, as a big cluster's pods range
    blocks = RangeAllocator(pods)
    got = []
    for i in range(16384 // 128):
        got += blocks.allocate(28, 128, f"node-{i}")
    assert got == list(pods.subnets(new_prefix=28))
    assert blocks.allocate(28, 1, "late") == []
    blocks.release(got[12345])
    assert blocks.allocate(28, 1, "late") == [got[12345]]
