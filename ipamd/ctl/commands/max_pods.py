"""``vpc-ipamctl max-pods``: the kubelet's --max-pods for an instance, by the EKS rule.

The limits come from the command line (--interfaces, --ipv4-per-interface, --vcpus) or from
EC2 (--instance-type, see :mod:`ipamd.ctl.ec2_limits`); the arithmetic is warmpool's, so
the daemon and this command never disagree. MAX_ENI (--max-eni) caps the interfaces before
the rule is applied, as it caps what the daemon attaches. Bad input and EC2 failures are
one line on stderr and exit 2; stdout is then empty, so ``$(vpc-ipamctl max-pods ...)``
never yields a wrong number.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass

from warmpool import max_pods

TYPE_CHECKING = False
if TYPE_CHECKING:
    from providers.models import InstanceLimits


class _BadInput(Exception):
    pass


@dataclass(frozen=True)
class Inputs:
    """What the rule is applied to; --json prints it as ``inputs``."""

    instance_type: str | None
    interfaces: int
    max_eni: int | None
    interfaces_counted: int
    ipv4_per_interface: int
    vcpus: int | None
    prefix_delegation: bool
    custom_networking: bool


def run(args: argparse.Namespace) -> int:
    try:
        inputs = _inputs(args)
        value = max_pods(
            inputs.interfaces_counted,
            inputs.ipv4_per_interface,
            prefix_delegation=inputs.prefix_delegation,
            vcpus=inputs.vcpus,
            custom_networking=inputs.custom_networking,
        )
    except (_BadInput, ValueError) as error:
        print(f"vpc-ipamctl max-pods: {error}", file=sys.stderr)
        return 2
    if args.json:
        document = {"max_pods": value, "inputs": dataclasses.asdict(inputs)}
        print(json.dumps(document, sort_keys=True))
    else:
        print(value)
    return 0


def _inputs(args: argparse.Namespace) -> Inputs:
    """The limits from the command line or from EC2, checked; raises _BadInput."""
    counts = args.interfaces is not None or args.ipv4_per_interface is not None
    if args.instance_type:
        if counts or args.vcpus is not None:
            raise _BadInput(
                "give --instance-type or the counts (--interfaces, --ipv4-per-interface, "
                "--vcpus), not both"
            )
        limits = _lookup(args)
        if args.prefix_delegation and not limits.prefix_delegation:
            raise _BadInput(
                f"{limits.instance_type} is not a Nitro instance type: it cannot hold prefixes "
                "(drop --prefix-delegation)"
            )
        interfaces, per_interface, vcpus = (
            limits.max_interfaces,
            limits.ipv4_per_interface,
            limits.vcpus,
        )
    else:
        if args.region or args.endpoint_url:
            raise _BadInput("--region and --endpoint-url go with --instance-type")
        if args.interfaces is None or args.ipv4_per_interface is None:
            raise _BadInput(
                "give --instance-type TYPE, or both --interfaces and --ipv4-per-interface"
            )
        interfaces, per_interface, vcpus = args.interfaces, args.ipv4_per_interface, args.vcpus
    counted = min(interfaces, args.max_eni) if args.max_eni is not None else interfaces
    return Inputs(
        instance_type=args.instance_type,
        interfaces=interfaces,
        max_eni=args.max_eni,
        interfaces_counted=counted,
        ipv4_per_interface=per_interface,
        vcpus=vcpus,
        prefix_delegation=args.prefix_delegation,
        custom_networking=args.custom_networking,
    )


def _lookup(args: argparse.Namespace) -> InstanceLimits:
    from ipamd.ctl import ec2_limits  # noqa: PLC0415 (boto3: only on this path)

    try:
        return ec2_limits.lookup(
            args.instance_type,
            region=args.region,
            endpoint_url=args.endpoint_url,
            timeout=args.timeout,
        )
    except ec2_limits.LookupFailed as error:
        raise _BadInput(str(error)) from None
