"""What the EC2 emulator says each sandbox node has attached, as the fabric needs it.

The fabric (``sandbox.fabric``) turns these views into veths and router routes, so an ENI
appears on its node when EC2 attaches it and goes when EC2 detaches it, and the router
delivers exactly the addresses and prefixes EC2 has assigned to each ENI. Read straight from
moto's backend in this process, under the fidelity layer's lock (moto is not thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from sandbox.ec2.state import LOCK, addresses_of, prefixes_of
from sandbox.fabric import EniView, NodeView


def node_views(backend: Callable[[], Any], instances: Mapping[str, str]) -> list[NodeView]:
    """One view per node (``instances``: node name -> instance id), ENIs by device index."""
    with LOCK:
        ec2 = backend()
        return [
            NodeView(name, tuple(_eni(eni) for _, eni in sorted(_nics(ec2, instance_id).items())))
            for name, instance_id in instances.items()
        ]


def _nics(ec2: Any, instance_id: str) -> dict[int, Any]:
    instance = ec2.get_instance(instance_id)
    return {index: eni for index, eni in instance.nics.items() if eni.id in ec2.enis}


def _eni(eni: Any) -> EniView:
    primary, *secondary = addresses_of(eni)
    return EniView(
        id=eni.id,
        mac=eni.mac_address,
        device_index=int(eni.device_index),
        subnet_cidr=IPv4Network(eni.subnet.cidr_block),
        primary_ip=IPv4Address(primary),
        blocks=tuple(
            sorted(
                [IPv4Network(f"{a}/32") for a in secondary]
                + [IPv4Network(p) for p in prefixes_of(eni)]
            )
        ),
    )
