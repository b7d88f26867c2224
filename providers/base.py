"""The Provider Protocol: what the daemon may ask of any cloud.

Methods are synchronous and may block (rate limiter, retries); the daemon calls them from
its pool loop, never from the socket server's request path. Every method raises only
providers.errors types.

Two views of the node's interfaces exist on purpose: ``local_interfaces`` comes from the
metadata service (fast, free, no API quota, but it may lag behind the cloud), and
``cloud_interfaces`` from the cloud API (authoritative). Anything destructive is confirmed
against the cloud API first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from typing import Protocol, runtime_checkable

from providers.models import AddressBlock, CloudInterface, NodeInfo


@runtime_checkable
class Provider(Protocol):
    @property
    def block_prefixlen(self) -> int:
        """Prefix length of the blocks ``grow`` asks for: 32 (secondary IPs), 28 (prefixes)..."""
        ...

    def discover(self) -> NodeInfo:
        """Who this node is: identity, network, limits. Cached after the first call."""
        ...

    def local_interfaces(self) -> tuple[CloudInterface, ...]:
        """The node's interfaces and blocks from the metadata service (may lag)."""
        ...

    def vpc_cidrs(self) -> tuple[IPv4Network, ...]:
        """The VPC's IPv4 CIDRs as the metadata service shows them now. Never cached: a
        VPC can gain a CIDR while the node runs, and SNAT must follow."""
        ...

    def cloud_interfaces(self) -> tuple[CloudInterface, ...]:
        """The node's interfaces and blocks from the cloud API (authoritative)."""
        ...

    def grow(self, interface_id: str, blocks: int) -> tuple[AddressBlock, ...]:
        """Ask for ``blocks`` more blocks on an attached interface; returns what was given."""
        ...

    def create_interface(
        self,
        blocks: int,
        *,
        subnet_id: str | None = None,
        security_groups: Sequence[str] | None = None,
    ) -> CloudInterface:
        """Create an interface holding ``blocks`` blocks, tagged as ours, attach it at the
        next free device index with delete-on-termination, and return it."""
        ...

    def release(self, interface_id: str, blocks: Sequence[AddressBlock]) -> None:
        """Give blocks back. Blocks the cloud no longer shows on the interface are skipped."""
        ...

    def remove_interface(self, interface_id: str) -> None:
        """Detach and delete an interface of this node that we created."""
        ...

    def tag_interface(self, interface_id: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags on an interface."""
        ...

    def sweep_leaks(self) -> tuple[str, ...]:
        """Delete detached interfaces we created that are older than the grace period, at most
        a bounded number per call; returns the ids deleted."""
        ...
