"""The interface leak sweep: when it runs, what it deletes, and that a failure waits."""

from __future__ import annotations

from ipaddress import IPv4Network

from ipamd.leaksweep import InterfaceSweep
from providers.errors import CloudUnavailable
from providers.fake import FakeNode, FakeProvider
from sandbox.clock import FakeClock


def make() -> tuple[FakeClock, FakeProvider, list[int], InterfaceSweep]:
    clock = FakeClock(1_700_000_000.0)
    provider = FakeProvider(FakeNode(subnet_cidr=IPv4Network("10.0.1.0/24")), clock=clock)
    deleted: list[int] = []
    sweep = InterfaceSweep(
        provider,
        deleted=deleted.append,
        interval=600,
        first_after=120,
        clock=clock,
        uniform=lambda low, high: high,
    )
    return clock, provider, deleted, sweep


def sweeps(provider: FakeProvider) -> int:
    return [name for name, _ in provider.calls].count("sweep_leaks")


def test_the_first_sweep_waits_then_sweeps_every_interval():
    clock, provider, _, sweep = make()
    sweep()
    clock.advance(239)
    sweep()
    assert sweeps(provider) == 0
    clock.advance(1)
    sweep()
    sweep()
    assert sweeps(provider) == 1
    clock.advance(600)
    sweep()
    assert sweeps(provider) == 2


def test_old_detached_interfaces_of_ours_are_deleted_and_counted():
    clock, provider, deleted, sweep = make()
    leaked = provider.leak_detached_interface()
    clock.advance(max(provider.leak_grace, 240))
    sweep()
    assert sweep.swept == (leaked,)
    assert deleted == [1]
    assert leaked not in {e.id for e in provider.account_interfaces()}


def test_a_failed_sweep_waits_for_the_next_interval():
    clock, provider, deleted, sweep = make()
    provider.fail("sweep_leaks", CloudUnavailable("503"))
    clock.advance(240)
    sweep()
    sweep()
    assert sweeps(provider) == 1 and deleted == []
