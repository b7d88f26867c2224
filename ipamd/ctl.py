"""vpc-ipamctl: the operator's command line. Wiring only; each subcommand calls a library.

It answers "what max-pods should this node's kubelet get" from given interface counts, and
"is the daemon on this node healthy" (``health``, over the daemon's socket: what the
DaemonSet's readiness and liveness probes run). The other daemon-facing subcommands (status,
allocations, why, doctor) arrive with the introspection endpoint.

ctl is not one of the process-environment readers (tests/unit/test_layering.py), so the
socket is given with ``--socket`` only; VPC_IPAM_SOCKET_PATH is not consulted.
"""

from __future__ import annotations

import argparse
import json
import sys

from cni import client
from cni.errors import CniError
from cni.wire import DEFAULT_SOCKET_PATH, HealthArgs
from warmpool import max_pods

HEALTH_TIMEOUT = 3.0
"""Seconds ``health`` waits by default: under the probes' timeoutSeconds (5)."""


def _max_pods(args: argparse.Namespace) -> int:
    try:
        value = max_pods(
            args.interfaces,
            args.ipv4_per_interface,
            prefix_delegation=args.prefix_delegation,
            vcpus=args.vcpus,
            custom_networking=args.custom_networking,
        )
    except ValueError as error:
        print(f"vpc-ipamctl max-pods: {error}", file=sys.stderr)
        return 2
    if args.json:
        inputs = {k: v for k, v in vars(args).items() if k not in {"json", "run"}}
        print(json.dumps({"max_pods": value, "inputs": inputs}, sort_keys=True))
    else:
        print(value)
    return 0


def _health(args: argparse.Namespace) -> int:
    """0 when the daemon answers health with ok true; 1, with one line on stderr, otherwise."""
    try:
        answer = client.call(
            args.socket,
            client.new_request("health", HealthArgs(), timeout=args.timeout),
            timeout=args.timeout,
        )
    except CniError as error:
        print(f"vpc-ipamctl health: not healthy: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, sort_keys=True))
    if answer.get("ok") is not True:
        blocked = answer.get("blocked")
        why = f": {blocked}" if blocked else ""
        print(f"vpc-ipamctl health: the daemon answered not ok{why}", file=sys.stderr)
        return 1
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vpc-ipamctl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    mp = commands.add_parser(
        "max-pods",
        help="max pods for an instance's interface limits (the EKS rule)",
        description="ENIs x (IPv4 per ENI - 1) + 2; prefix mode x16, capped at 110 "
        "(250 above 30 vCPUs); custom networking leaves the primary ENI out.",
    )
    mp.add_argument("--interfaces", type=int, required=True, help="max ENIs of the instance")
    mp.add_argument("--ipv4-per-interface", type=int, required=True, help="IPv4 addresses per ENI")
    mp.add_argument("--prefix-delegation", action="store_true", help="ENABLE_PREFIX_DELEGATION")
    mp.add_argument("--vcpus", type=int, help="vCPUs of the instance (needed in prefix mode)")
    mp.add_argument(
        "--custom-networking", action="store_true", help="AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"
    )
    mp.add_argument("--json", action="store_true", help="machine-readable output")
    mp.set_defaults(run=_max_pods)
    hp = commands.add_parser(
        "health",
        help="ask the daemon on this node whether it is healthy (exit 0) or not (exit 1)",
        description="Sends the health request over the daemon's socket. Exit 0 when it "
        "answers ok, 1 when it answers not ok or not at all (one line on stderr says why). "
        "The DaemonSet's readiness and liveness probes run it.",
    )
    hp.add_argument(
        "--socket",
        default=DEFAULT_SOCKET_PATH,
        help=f"the daemon's unix socket (VPC_IPAM_SOCKET_PATH; default {DEFAULT_SOCKET_PATH})",
    )
    hp.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=HEALTH_TIMEOUT,
        help=f"seconds to wait for the answer, connect included (default {HEALTH_TIMEOUT:g})",
    )
    hp.add_argument("--json", action="store_true", help="print the daemon's health JSON")
    hp.set_defaults(run=_health)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
