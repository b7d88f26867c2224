"""vpc-ipamctl: the operator's command line. Wiring only; each subcommand calls a library.

Today it answers one question, "what max-pods should this node's kubelet get", from given
interface counts; the daemon-facing subcommands (status, allocations, why, doctor, health)
arrive with the introspection endpoint.
"""

from __future__ import annotations

import argparse
import json
import sys

from warmpool import max_pods


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
