"""The command line of vpc-ipamctl: every subcommand, option, default and help text.

Kept apart from the commands so that building the parser imports none of them: ``health``
runs in the kubelet's probes every few seconds and should not pay for rich or http.client.
ctl does not read the process environment (tests/unit/test_layering.py): the options that
mirror the daemon's settings say which variable they mirror, and take its default.
"""

from __future__ import annotations

import argparse

from cni.wire import DEFAULT_SOCKET_PATH

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipamd.ctl.introspection import Endpoint

DEFAULT_INTROSPECTION = "127.0.0.1:61679"
DEFAULT_TIMEOUT = 5.0
HEALTH_TIMEOUT = 3.0
"""Seconds ``health`` waits by default: under the probes' timeoutSeconds (5)."""
DOCTOR_TIMEOUT = 90.0
"""Seconds ``doctor`` waits by default: the daemon runs it between two pool-loop ticks, and a
tick may be in a cloud call that retries for up to VPC_IPAM_CLOUD_RETRY_DEADLINE (30 s)."""

DESCRIPTION = """\
vpc-ipamctl: the operator's command line for vpc-ipamd on this node.

status, allocations, why and doctor read the daemon's introspection endpoint
(--introspection, mirrors INTROSPECTION_BIND_ADDRESS); doctor --repair and health talk
over the daemon's root-only socket (--socket, mirrors VPC_IPAM_SOCKET_PATH). vpc-ipamctl
does not read those variables: give the options when the daemon's settings differ from
the defaults. Every command takes --json and then prints the daemon's JSON unchanged."""


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def positive_hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 24 * 366:
        raise argparse.ArgumentTypeError(
            f"must be a number of hours > 0 (a year at most), got {text!r}"
        )
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def endpoint(text: str) -> Endpoint:
    # imported here: only the commands that read introspection pay for http.client and config
    from ipamd.ctl.introspection import parse_endpoint  # noqa: PLC0415

    try:
        return parse_endpoint(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _introspection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--introspection",
        metavar="ADDRESS",
        type=endpoint,
        default=DEFAULT_INTROSPECTION,
        help="the daemon's introspection endpoint, host:port or unix:/path "
        f"(mirrors INTROSPECTION_BIND_ADDRESS; default {DEFAULT_INTROSPECTION})",
    )


def _socket(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--socket",
        metavar="PATH",
        default=DEFAULT_SOCKET_PATH,
        help="the daemon's unix socket "
        f"(mirrors VPC_IPAM_SOCKET_PATH; default {DEFAULT_SOCKET_PATH})",
    )


def _timeout(parser: argparse.ArgumentParser, default: float = DEFAULT_TIMEOUT) -> None:
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_seconds,
        default=default,
        help=f"seconds to wait for an answer, connect included (default {default:g})",
    )


def _json(parser: argparse.ArgumentParser, what: str = "print the daemon's JSON") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def _simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = commands.add_parser(
        "simulate",
        help="replay pod churn on a simulated node: our warm pool vs aws-node's, offline",
        description="Runs the warm-pool simulator (virtual time, no cloud, no daemon) on a "
        "CSV trace (time,node,pod,event with event add|del) or a seeded churn generator, "
        "with the daemon's settings given as --set NAME=VALUE (checked as vpc-ipamd checks "
        "them). Reports pod waits for an address, idle addresses, and the EC2 calls made. "
        "Exit 0; 1 when the plot cannot be written; 2 on bad options, settings or trace.",
    )
    which = sim.add_mutually_exclusive_group()
    which.add_argument(
        "--policy", choices=("ours", "anchor"), default="ours", help="the policy (default ours)"
    )
    which.add_argument("--compare", action="store_true", help="run ours and anchor side by side")
    source = sim.add_mutually_exclusive_group()
    source.add_argument("--trace", metavar="FILE.csv", help="replay this trace")
    source.add_argument(
        "--generator",
        choices=("steady", "diurnal", "rollout"),
        default="steady",
        help="generate the churn (default steady)",
    )
    sim.add_argument(
        "--hours", type=positive_hours, default=24.0, help="generated hours (default 24)"
    )
    sim.add_argument(
        "--rate",
        type=positive_number,
        help="pods per hour (steady: default 216; diurnal: its mean, default 180) or rollouts "
        "per hour (rollout: default 2)",
    )
    sim.add_argument("--seed", type=int, default=1, help="seed of the generator and the run")
    sim.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a daemon setting, e.g. --set WARM_IP_TARGET=5 (repeatable)",
    )
    sim.add_argument(
        "--instance-type",
        metavar="TYPE",
        default="m5.large",
        help="limits from the simulator's table of common types (default m5.large)",
    )
    sim.add_argument(
        "--plot",
        metavar="FILE.png",
        help="draw idle addresses over time (needs matplotlib: pip install 'vpc-ipam[plot]')",
    )
    _json(sim, "print the results as JSON (with the idle-address series)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpc-ipamctl",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = commands.add_parser(
        "status",
        help="what this node holds: interfaces, blocks, the pool's last decisions, cloud health",
        description="Reads /v1/status. Exit 0; 1 when the daemon cannot be reached.",
    )
    _introspection(status)
    _timeout(status)
    _json(status)

    allocations = commands.add_parser(
        "allocations",
        help="which pod holds which address, and the addresses cooling down",
        description="Reads /v1/allocations. Exit 0; 1 when the daemon cannot be reached.",
    )
    _introspection(allocations)
    _timeout(allocations)
    _json(allocations)

    why = commands.add_parser(
        "why",
        help="why a pod has the address it has, or none",
        description="Reads /v1/why. QUERY is a container id (or a unique prefix of 6 or more "
        "characters), namespace/name, a bare pod name, or an address. Exit 0 when the pod "
        "is wired (or assigned, with another plugin wiring it), 1 otherwise, 2 when the "
        "query matches more than one pod.",
    )
    why.add_argument("query", metavar="QUERY")
    _introspection(why)
    _timeout(why)
    _json(why)

    doctor = commands.add_parser(
        "doctor",
        help="look for leaked, missing or miswired addresses; --repair fixes the safe ones",
        description="Reads /v1/doctor. With --repair, asks the daemon (over its socket, so as "
        "root) to repair the safe findings shown, after confirmation on the terminal or "
        "with --yes. Exit 0 when nothing is found (after repair), 1 otherwise, 2 when "
        "--repair has no terminal to confirm on and no --yes.",
    )
    doctor.add_argument("--repair", action="store_true", help="repair the safe findings")
    doctor.add_argument("--yes", action="store_true", help="repair without asking")
    _introspection(doctor)
    _socket(doctor)
    _timeout(doctor, DOCTOR_TIMEOUT)
    _json(doctor, 'print {"doctor": ..., "repair": ...}, the daemon\'s JSON')

    mp = commands.add_parser(
        "max-pods",
        help="max pods for an instance type or its interface limits (the EKS rule)",
        description="ENIs x (IPv4 per ENI - 1) + 2; prefix mode x16, capped at 110 "
        "(250 above 30 vCPUs); custom networking leaves the primary ENI out. Give the "
        "counts, or --instance-type to read them with EC2 DescribeInstanceTypes (AWS "
        "credentials and region as for any AWS SDK). Exit 0; 2 on bad input or when the "
        "EC2 API cannot answer.",
    )
    mp.add_argument("--interfaces", metavar="N", type=positive_int, help="max ENIs of the instance")
    mp.add_argument(
        "--ipv4-per-interface",
        metavar="N",
        type=positive_int,
        help="IPv4 addresses per ENI (its own included)",
    )
    mp.add_argument(
        "--vcpus", metavar="N", type=positive_int, help="vCPUs of the instance (prefix mode)"
    )
    mp.add_argument(
        "--instance-type", metavar="TYPE", help="read the limits of TYPE from the EC2 API"
    )
    mp.add_argument("--region", help="EC2 region for --instance-type (default: the SDK's)")
    mp.add_argument("--endpoint-url", metavar="URL", help="EC2 endpoint for --instance-type")
    mp.add_argument("--prefix-delegation", action="store_true", help="ENABLE_PREFIX_DELEGATION")
    mp.add_argument(
        "--custom-networking", action="store_true", help="AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG"
    )
    mp.add_argument("--max-eni", metavar="N", type=positive_int, help="MAX_ENI: caps the ENIs")
    _timeout(mp)
    _json(mp, "machine-readable output")

    _simulate(commands)

    health = commands.add_parser(
        "health",
        help="ask the daemon on this node whether it is healthy (exit 0) or not (exit 1)",
        description="Sends the health request over the daemon's socket. Exit 0 when it "
        "answers ok, 1 when it answers not ok or not at all (one line on stderr says why). "
        "The DaemonSet's readiness and liveness probes run it.",
    )
    _socket(health)
    _timeout(health, HEALTH_TIMEOUT)
    _json(health, "print the daemon's health JSON")
    return parser
