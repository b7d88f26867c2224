"""The cloud behind a sandbox: EC2 + IMDS, or Compute Engine + its metadata server.

A ``SandboxCloud`` starts its emulators on the host's loopback, lays out the network (a VPC
with the node subnet; on GCE also the ``pods`` secondary range alias ranges come from),
launches one instance per node, says what each instance has attached (the fabric's
``NodeView``s, read live), which endpoints a node's daemon needs (the sandbox opens a portal
into the node for each) and which settings point the daemon at them. It also says where an
instance is as Kubernetes names it (zone, region, ``spec.providerID``), for the Node objects
of a sandbox that runs the Kubernetes API emulator.

Custom networking (AWS): given a pod subnet, ``AwsCloud`` also makes that second subnet of
the VPC (same zone) and a security group for pods, which the sandbox names in an ENIConfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from typing import Protocol
from urllib.parse import urlsplit

from sandbox.clock import SystemClock
from sandbox.cloudview import node_views
from sandbox.ec2 import Ec2Emulator
from sandbox.fabric import EniView, NodeView

REGION = "us-east-1"
ZONE = "us-east-1a"
GCE_REGION = "us-central1"
GCE_ZONE = "us-central1-a"
POD_RANGE = "pods"
AWS_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
"""The emulator accepts any signature; the SDK still wants something to sign with."""


class SandboxCloud(Protocol):
    name: str
    zone: str
    region: str

    @property
    def vpc_cidrs(self) -> list[IPv4Network]: ...

    @property
    def machine_type(self) -> str: ...

    def provider_id(self, instance: str) -> str:
        """The instance as a Node's ``spec.providerID`` names it."""
        ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def launch(self, node: str) -> str:
        """A new instance for ``node``; its id."""
        ...

    def views(self, instances: Mapping[str, str]) -> list[NodeView]: ...

    def endpoints(self, instance: str) -> dict[str, str]:
        """Name -> URL on the host's loopback, for each service the daemon calls."""
        ...

    def daemon_settings(self, urls: Mapping[str, str]) -> dict[str, str]:
        """The daemon's settings pointing at ``urls`` (the endpoints as seen in the node)."""
        ...


class AwsCloud:
    name = "aws"
    zone = ZONE
    region = REGION

    def __init__(
        self,
        vpc: IPv4Network,
        subnet: IPv4Network,
        instance_type: str,
        pod_subnet: IPv4Network | None = None,
    ) -> None:
        """``pod_subnet``: a second subnet of ``vpc`` (same zone) for pods, with a security
        group of its own (custom networking); ``None``: only the node subnet."""
        if pod_subnet is not None and not (
            pod_subnet.subnet_of(vpc) and not pod_subnet.overlaps(subnet)
        ):
            raise ValueError(f"pod subnet {pod_subnet}: inside {vpc}, apart from {subnet}")
        self.vpc, self.subnet, self.instance_type = vpc, subnet, instance_type
        self.pod_subnet = pod_subnet
        self.emulator = Ec2Emulator(region=REGION, clock=SystemClock())
        self._subnet_id = ""
        self._group = ""
        self.pod_subnet_id = ""
        """The pod subnet's id (after ``start``; empty without a pod subnet)."""
        self.pod_group = ""
        """The pods' security group id (after ``start``; empty without a pod subnet)."""

    @property
    def vpc_cidrs(self) -> list[IPv4Network]:
        return [self.vpc]

    @property
    def machine_type(self) -> str:
        return self.instance_type

    @property
    def node_group(self) -> str:
        """The security group of the nodes' primary ENIs."""
        return self._group

    def start(self) -> None:
        self.emulator.start()
        vpc = self.emulator.create_vpc(str(self.vpc))
        self._subnet_id = self.emulator.create_subnet(vpc, str(self.subnet), ZONE)
        self._group = self.emulator.create_security_group(vpc, "nodes")
        if self.pod_subnet is not None:
            self.pod_subnet_id = self.emulator.create_subnet(vpc, str(self.pod_subnet), ZONE)
            self.pod_group = self.emulator.create_security_group(vpc, "pods")

    def provider_id(self, instance: str) -> str:
        return f"aws:///{ZONE}/{instance}"

    def stop(self) -> None:
        self.emulator.stop()

    def launch(self, node: str) -> str:
        return self.emulator.launch_instance(self.instance_type, self._subnet_id, (self._group,))

    def views(self, instances: Mapping[str, str]) -> list[NodeView]:
        emulator = self.emulator
        return node_views(lambda: emulator.backend, instances)

    def endpoints(self, instance: str) -> dict[str, str]:
        return {"ec2": self.emulator.endpoint_url, "imds": self.emulator.imds_url(instance)}

    def daemon_settings(self, urls: Mapping[str, str]) -> dict[str, str]:
        return {
            **AWS_CREDENTIALS,
            "AWS_ENDPOINT_URL_EC2": urls["ec2"],
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": urls["imds"],
            "AWS_REGION": REGION,
        }


class GceCloud:
    name = "gce"
    zone = GCE_ZONE
    region = GCE_REGION

    def __init__(self, subnet: IPv4Network, pods: IPv4Network, machine_type: str) -> None:
        from sandbox.gce import ComputeEmulator  # noqa: PLC0415 (google libraries: slow)

        self.subnet, self.pods, self._machine_type = subnet, pods, machine_type
        self.emulator = ComputeEmulator(region=GCE_REGION, clock=SystemClock())

    @property
    def vpc_cidrs(self) -> list[IPv4Network]:
        return [self.subnet, self.pods]

    @property
    def machine_type(self) -> str:
        return self._machine_type

    def provider_id(self, instance: str) -> str:
        return f"gce://{self.emulator.project}/{GCE_ZONE}/{instance}"

    def start(self) -> None:
        self.emulator.start()
        self.emulator.create_network("vpc")
        self.emulator.create_subnetwork(
            "nodes", "vpc", str(self.subnet), {POD_RANGE: str(self.pods)}
        )

    def stop(self) -> None:
        self.emulator.stop()

    def launch(self, node: str) -> str:
        return self.emulator.create_instance(node, GCE_ZONE, "nodes", self._machine_type).name

    def views(self, instances: Mapping[str, str]) -> list[NodeView]:
        found = {i.name: i for i in self.emulator.instances()}
        return [
            NodeView(
                node,
                (
                    EniView(
                        id=f"{name}/nic0",  # unique in the VPC, as the fabric needs
                        mac=found[name].mac,
                        device_index=0,
                        subnet_cidr=self.subnet,
                        primary_ip=IPv4Address(found[name].network_ip),
                        blocks=tuple(sorted(IPv4Network(r) for r in found[name].alias_ranges)),
                    ),
                ),
            )
            for node, name in instances.items()
        ]

    def endpoints(self, instance: str) -> dict[str, str]:
        return {
            "compute": self.emulator.endpoint,
            "metadata": f"http://{self.emulator.metadata_host(instance)}",
        }

    def daemon_settings(self, urls: Mapping[str, str]) -> dict[str, str]:
        return {
            "VPC_IPAM_PROVIDER": "gce",
            "GCE_POD_RANGE_NAME": POD_RANGE,
            "GCE_COMPUTE_ENDPOINT": urls["compute"],
            "GCE_METADATA_HOST": urlsplit(urls["metadata"]).netloc,
            "GCE_ANONYMOUS_CREDENTIALS": "true",
            "WARM_PREFIX_TARGET": "1",
            # google-auth never looks for a metadata server of its own from a node
            "NO_GCE_CHECK": "True",
        }
