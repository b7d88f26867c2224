"""``vpc-ipam-sandbox``: the VPC in a box from the command line.

- ``demo``: up, pods, pools, connectivity checks, down (``make demo``); ``--keep`` stays up
  until Ctrl-C.
- ``up``: the same sandbox and pods, kept running until Ctrl-C or ``down``.
  ``--kube`` (both) runs the Kubernetes API emulator too: Node and pod objects, the daemons'
  Kubernetes layer on; ``--custom-networking`` (AWS, implies ``--kube``) puts pods in a
  second subnet through an ENIConfig.
- ``status``: the pool of every node of every running sandbox, from its daemon's socket
  (and, for a Kubernetes sandbox, what each daemon says of its Node).
- ``pods`` / ``check``: list, add or delete pods of a kept sandbox, or run its connectivity
  matrix again (through the control socket of the process that runs it).
- ``down [RUN]``: stops running sandboxes, or only RUN (SIGTERM to the process that runs
  it, which tears down), and removes what crashed ones left: their daemons (by their
  recorded PIDs), namespaces and run directories.

Root is needed (network namespaces). Exit codes: 0 all good, 1 a check failed, 2 bad
usage or not root, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from ipaddress import IPv4Network
from pathlib import Path

from cni.errors import CniError
from sandbox import cluster, demo
from sandbox.checks import Check
from sandbox.cluster import RUN_ROOT
from sandbox.control import ControlError, request
from sandbox.kubenodes import health_line
from sandbox.options import SandboxOptions
from sandbox.tables import checks_table, pool_table, table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vpc-ipam-sandbox", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("demo", "bring a sandbox up, check it, tear it down"),
        ("up", "bring a sandbox up with pods and keep it until Ctrl-C or `down`"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--nodes", type=int, default=2, help="nodes (default 2)")
        sub.add_argument("--pods", type=int, default=12, help="pods per node (default 12)")
        sub.add_argument("--instance-type", default="m5.large", help="(AWS; default m5.large)")
        sub.add_argument(
            "--provider", choices=("aws", "gce"), default="aws", help="the cloud (default aws)"
        )
        sub.add_argument("--prefix-delegation", action="store_true", help="/28 prefixes")
        sub.add_argument("--external-snat", action="store_true", help="no SNAT on the node")
        sub.add_argument(
            "--exclude-snat-cidr",
            action="append",
            default=[],
            type=IPv4Network,
            help="AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS entry (repeatable)",
        )
        sub.add_argument(
            "--kube", action="store_true", help="with the Kubernetes API emulator (Nodes, pods)"
        )
        sub.add_argument(
            "--custom-networking",
            action="store_true",
            help="(AWS) pods in a second subnet, by an ENIConfig per zone; implies --kube",
        )
        sub.add_argument(
            "--pods-capacity",
            type=int,
            default=None,
            help="each Node's status.capacity.pods (with --kube; default 110)",
        )
        if name == "demo":
            sub.add_argument("--keep", action="store_true", help="stay up until Ctrl-C")
    commands.add_parser("status", help="pools of the running sandboxes")
    pods = commands.add_parser("pods", help="list, add or delete pods of a kept sandbox")
    pods.add_argument("--run", help="the sandbox (default: the only one running)")
    pods.add_argument("--node", help="only this node (default: every node)")
    pods.add_argument("--add", type=int, default=0, help="start this many pods")
    pods.add_argument("--delete", type=int, default=0, help="delete this many pods")
    check = commands.add_parser("check", help="run the connectivity matrix on a kept sandbox")
    check.add_argument("--run", help="the sandbox (default: the only one running)")
    down_parser = commands.add_parser("down", help="stop running sandboxes, remove leftovers")
    down_parser.add_argument(
        "run", nargs="?", help="only this sandbox (its id, as in vpcsbx-<id>); default: all"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("vpc-ipam-sandbox: needs root (it creates network namespaces)", file=sys.stderr)
        return 2
    if args.command in {"demo", "up"}:
        if args.nodes < 1 or args.pods < 0:
            print("vpc-ipam-sandbox: --nodes must be >= 1 and --pods >= 0", file=sys.stderr)
            return 2
        kube = args.kube or args.custom_networking
        if args.pods_capacity is not None and (not kube or args.pods_capacity < 1):
            print("vpc-ipam-sandbox: --pods-capacity needs --kube and >= 1", file=sys.stderr)
            return 2
        if args.custom_networking and args.provider != "aws":
            print("vpc-ipam-sandbox: --custom-networking is for --provider aws", file=sys.stderr)
            return 2
        options = SandboxOptions(
            nodes=args.nodes,
            instance_type=args.instance_type,
            provider=args.provider,
            prefix_delegation=args.prefix_delegation,
            external_snat=args.external_snat,
            exclude_snat_cidrs=tuple(str(c) for c in args.exclude_snat_cidr),
            kube=kube,
            custom_networking=args.custom_networking,
            pods_capacity=args.pods_capacity,
        )
        try:
            return demo.run(options, args.pods, keep=args.command == "up" or args.keep)
        except Exception as error:  # torn down already; say what failed, not a traceback
            print(f"vpc-ipam-sandbox: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    if args.command == "status":
        return status()
    if args.command in {"pods", "check"}:
        return control(args)
    return down(args.run.removeprefix(cluster.NAME_ROOT) if args.run else None)


def control(args: argparse.Namespace) -> int:
    live = cluster.live_runs()
    run = args.run.removeprefix(cluster.NAME_ROOT) if args.run else None
    if run is None and len(live) == 1:
        (run,) = live
    if run is None or run not in live:
        names = ", ".join(sorted(live)) or "none"
        print(f"vpc-ipam-sandbox: say which sandbox with --run (running: {names})", file=sys.stderr)
        return 2
    path = RUN_ROOT / run / demo.CONTROL_SOCKET
    try:
        if args.command == "check":
            found = request(path, {"op": "check"})["checks"]
            print(checks_table([Check(**c) for c in found]))
            return 0 if all(c["ok"] for c in found) else 1
        message = {"op": "pods", "node": args.node, "add": args.add, "delete": args.delete}
        listed = request(path, message)["pods"]
    except ControlError as error:
        print(f"vpc-ipam-sandbox: {error}", file=sys.stderr)
        return 1
    rows = [[p["node"], p["pod"], p["address"], p["eni"]] for p in listed]
    print(table(["NODE", "POD", "ADDRESS", "ENI"], rows))
    return 0


def status() -> int:
    found = False
    for run in sorted(p for p in RUN_ROOT.glob("*") if p.is_dir()) if RUN_ROOT.exists() else []:
        for node in sorted(p for p in run.iterdir() if (p / "ipamd.sock").exists()):
            found = True
            print(f"==> {cluster.NAME_ROOT}{run.name} {node.name}")
            try:
                health = cluster.node_health(node / "ipamd.sock")
                print(pool_table(health))
                kube_line = health_line(health)
                if kube_line is not None:
                    print(kube_line)
            except CniError as error:
                print(f"  not answering: {error}")
    if not found:
        print("no sandbox is running")
    return 0


def down(only: str | None = None) -> int:
    """Stop the running sandboxes (or only ``only``), then clean up after crashed runs
    (which never touches a sandbox whose process still runs)."""
    for run, pid in cluster.live_runs().items():
        if only is not None and run != only:
            continue
        print(f"stopping sandbox {cluster.NAME_ROOT}{run} (process {pid}); it tears itself down")
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid, 60.0)
    for name in cluster.clean_stale_runs():
        print(f"removed namespace {name} left by a crashed run")
    print("sandbox down")
    return 0


def _wait_gone(pid: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and _alive(pid):
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent to reap it (then it is done)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


if __name__ == "__main__":
    sys.exit(main())
