"""Egress for the node: what leaves SNATed, and where traffic of secondary-interface pods goes.

One owner for both answers, because they must agree. With SNAT on, pod traffic to anything
outside the VPC CIDRs and AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS leaves through the primary
interface with the primary address (the nftables table, ``dataplane.snat``), so a pod on a
secondary interface may use its own interface's table only for those unSNATed destinations:
EC2's source/destination check drops a packet whose source the interface does not hold. With
external SNAT nothing is rewritten and such a pod uses its interface for everything.

The VPC's CIDRs can grow while the daemon runs; ``update`` reloads the table (one atomic
batch) only when something changed, and ``secondary_destinations`` is asked per wiring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

from config import DatapathSettings
from ipamd.dataplane import snat
from ipamd.dataplane.snat import EgressSpec

log = logging.getLogger(__name__)


class Egress:
    def __init__(
        self,
        datapath: DatapathSettings,
        *,
        primary_ip: IPv4Address,
        primary_ifname: str,
        vpc_cidrs: Sequence[IPv4Network],
        load: Callable[[EgressSpec], None] = snat.apply,
    ) -> None:
        self._lock = threading.Lock()
        self._load = load
        self._loaded: EgressSpec | None = None
        self.spec = EgressSpec(
            primary_ip=primary_ip,
            primary_ifname=primary_ifname,
            vpc_cidrs=_unique(vpc_cidrs),
            exclude_cidrs=datapath.exclude_snat_cidrs,
            randomize=datapath.randomize_snat,
            connmark=datapath.connmark,
            external_snat=datapath.external_snat,
            veth_prefix=datapath.veth_prefix,
        )

    def update(self, vpc_cidrs: Sequence[IPv4Network] | None = None) -> bool:
        """Load the table if it is not loaded yet or the VPC CIDRs changed; True if loaded.
        Raises snat.NftError when nft refuses (the previous table stays: one transaction)."""
        with self._lock:
            spec = self.spec
            if vpc_cidrs is not None:
                spec = replace(spec, vpc_cidrs=_unique(vpc_cidrs))
            if spec == self._loaded:
                return False
            if not spec.external_snat and not spec.vpc_cidrs:
                raise ValueError("the VPC has no CIDR: nothing would be exempt from SNAT")
            self._load(spec)
            if self._loaded is not None and spec.vpc_cidrs != self._loaded.vpc_cidrs:
                log.info(
                    "VPC CIDRs now %s: SNAT table reloaded",
                    ", ".join(str(c) for c in spec.vpc_cidrs),
                )
            self.spec = self._loaded = spec
            return True

    def secondary_destinations(self) -> tuple[IPv4Network, ...] | None:
        """Where a pod of a secondary interface must use that interface's table: the VPC
        CIDRs and the SNAT exclusions with SNAT on; None (everywhere) with external SNAT."""
        spec = self.spec
        if spec.external_snat:
            return None
        return _unique((*spec.vpc_cidrs, *spec.exclude_cidrs))


def _unique(cidrs: Sequence[IPv4Network]) -> tuple[IPv4Network, ...]:
    return tuple(sorted(set(cidrs)))
