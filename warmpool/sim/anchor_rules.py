"""aws-node's pool arithmetic, replayed: pkg/ipamd/ipamd.go and pkg/ipamd/datastore of
amazon-vpc-cni-k8s (v1.23). Written from its semantics, as plain functions on counts.

The point of difference with warmpool: aws-node's ``AvailableAddresses()`` is
``TotalIPs - AssignedIPs``, so an address in cooldown counts as available (a pod cannot
take it, yet the pool believes it is warm), and a block whose only addresses are cooling is
"free" (``AssignedIPAddressesInCidr() == 0``) and may be given back.

Names follow the Go code: ``max_ips_per_eni`` is ``c.maxIPsPerENI`` (addresses per ENI:
secondary IPs, or prefixes x 16), ``max_prefixes_per_eni`` the blocks per ENI.
"""

from __future__ import annotations

from dataclasses import dataclass

from warmpool.model import Limits, Targets

IPS_PER_PREFIX = 16


def div_ceil(x: int, y: int) -> int:
    return (x + y - 1) // y


@dataclass(frozen=True, slots=True)
class AnchorConfig:
    max_eni: int
    max_prefixes_per_eni: int
    """Blocks per ENI (secondary IPs or prefixes: the same slots)."""
    prefix_mode: bool
    max_pods: int
    warm_eni_target: int
    warm_ip_target: int
    minimum_ip_target: int
    warm_prefix_target: int
    min_eni_age: float

    @classmethod
    def of(cls, limits: Limits, targets: Targets) -> AnchorConfig:
        return cls(
            max_eni=limits.max_interfaces,
            max_prefixes_per_eni=limits.blocks_per_interface,
            prefix_mode=limits.prefix_mode,
            max_pods=limits.max_pods,
            warm_eni_target=targets.warm_interface_target,
            warm_ip_target=targets.warm_ip_target,
            minimum_ip_target=targets.minimum_ip_target,
            warm_prefix_target=targets.warm_block_target,
            min_eni_age=targets.min_interface_age_seconds,
        )

    @property
    def block_size(self) -> int:
        return IPS_PER_PREFIX if self.prefix_mode else 1

    @property
    def max_ips_per_eni(self) -> int:
        return self.max_prefixes_per_eni * self.block_size

    @property
    def ip_targets_defined(self) -> bool:
        """warmIPTargetsDefined()."""
        return self.warm_ip_target != 0 or self.minimum_ip_target != 0

    @property
    def prefix_target_defined(self) -> bool:
        """warmPrefixTargetDefined(): WARM_PREFIX_TARGET >= 0 (its default) in prefix mode."""
        return self.prefix_mode and self.warm_prefix_target >= 0


@dataclass(frozen=True, slots=True)
class Stats:
    """GetIPStats() plus GetFreePrefixes(): over the blocks of the node's mode."""

    total: int
    assigned: int
    cooling: int
    blocks: int
    free_blocks: int
    """Blocks with no address assigned to a pod (cooling ones count as free)."""

    @property
    def available(self) -> int:
        """AvailableAddresses(): cooling addresses included."""
        return self.total - self.assigned


def target_state(s: Stats, c: AnchorConfig) -> tuple[int, int, bool]:
    """datastoreTargetState(): (short, over, enabled); in blocks in prefix mode."""
    if not c.ip_targets_defined:
        return 0, 0, False
    short = max(c.warm_ip_target - s.available, 0)
    short = max(short, c.minimum_ip_target - s.total)
    over = max(s.available - c.warm_ip_target, 0)
    over = max(min(over, s.total - c.minimum_ip_target), 0)
    if c.prefix_mode:
        short_prefix = div_ceil(short, IPS_PER_PREFIX)
        needed_warm = div_ceil(s.assigned + c.warm_ip_target, IPS_PER_PREFIX)
        needed_min = div_ceil(c.minimum_ip_target, IPS_PER_PREFIX)
        over_prefix = max(min(s.free_blocks, s.blocks - needed_warm), 0)
        over_prefix = max(min(over_prefix, s.blocks - needed_min), 0)
        return short_prefix, over_prefix, True
    return short, over, True


def pool_too_low(s: Stats, c: AnchorConfig) -> bool:
    """isDatastorePoolTooLow()."""
    if s.total >= c.max_pods:
        return False
    short, _, defined = target_state(s, c)
    if defined:
        return short > 0
    warm, per = (
        (c.warm_prefix_target, IPS_PER_PREFIX)
        if c.prefix_mode
        else (c.warm_eni_target, c.max_ips_per_eni)
    )
    return s.available < per * warm or (warm == 0 and s.available == 0)


def pool_too_high(s: Stats, c: AnchorConfig) -> bool:
    """isDatastorePoolTooHigh(): only with IP targets or WARM_PREFIX_TARGET."""
    _, over, defined = target_state(s, c)
    if defined:
        return over > 0
    if c.prefix_target_defined:
        return s.free_blocks > c.warm_prefix_target
    return False


def over_to_free(s: Stats, c: AnchorConfig) -> int:
    """tryUnassignCidrsFromAll()'s ``over``: blocks to give back."""
    _, over, defined = target_state(s, c)
    if defined:
        return over
    if c.prefix_target_defined:
        return max(s.free_blocks - c.warm_prefix_target, 0)
    return 0


def should_remove_extra_enis(s: Stats, c: AnchorConfig, freeable_eni: bool) -> bool:
    """shouldRemoveExtraENIs(); ``freeable_eni``: CheckFreeableENIexists()."""
    if c.ip_targets_defined:
        return True
    warm = (c.warm_prefix_target if c.prefix_mode else c.warm_eni_target) + 1
    if s.available >= warm * c.max_ips_per_eni:
        return True
    return c.prefix_mode and freeable_eni


def prefixes_needed(s: Stats, c: AnchorConfig) -> int:
    """getPrefixesNeeded(): at least one; IP targets win over WARM_PREFIX_TARGET."""
    short, _, ip_defined = target_state(s, c)
    if ip_defined:
        return max(1, short)
    if c.prefix_target_defined:
        return max(1, c.warm_prefix_target - s.free_blocks)
    return 1


def ips_to_assign(s: Stats, c: AnchorConfig) -> int:
    """tryAssignIPs(): addresses to ask for on one ENI (0: nothing, the targets are met)."""
    short, _, defined = target_state(s, c)
    if defined:
        return short
    return c.max_ips_per_eni


def eni_resources(s: Stats, c: AnchorConfig) -> int:
    """GetENIResourcesToAllocate(): blocks a new ENI is created with."""
    if c.prefix_mode:
        return min(prefixes_needed(s, c), c.max_prefixes_per_eni)
    short, _, defined = target_state(s, c)
    return min(short, c.max_ips_per_eni) if defined else c.max_ips_per_eni


@dataclass(frozen=True, slots=True)
class EniView:
    """What getDeletableENI() looks at on one ENI."""

    primary: bool
    age: float
    assigned: int
    cooling: int
    warm: int
    """Addresses not assigned (cooling included)."""
    total: int
    free_blocks: int


def deletable(eni: EniView, others: list[EniView], c: AnchorConfig) -> bool:
    """getDeletableENI()'s checks for one ENI, ``others`` being the rest of the node's."""
    if eni.primary or eni.age < c.min_eni_age or eni.cooling or eni.assigned:
        return False
    round_to = IPS_PER_PREFIX if c.prefix_mode else 1
    if c.warm_ip_target:
        wanted = div_ceil(c.warm_ip_target, round_to) * round_to
        if sum(o.warm for o in others) < wanted:
            return False
    if c.minimum_ip_target:
        wanted = div_ceil(c.minimum_ip_target, round_to) * round_to
        if sum(o.total for o in others) < wanted:
            return False
    if c.prefix_mode and c.warm_prefix_target:
        return sum(o.free_blocks for o in others) >= c.warm_prefix_target
    return True
