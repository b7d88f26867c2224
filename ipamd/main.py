"""``vpc-ipamd``: the daemon's entry point (wiring only).

This is where the daemon's environment is read (``os.environ``, handed whole to
:mod:`config`); the only other reader is the CNI binary, for the protocol's ``CNI_*``.
``--check-config`` prints the effective settings, their sources and any warnings, and exits
0 when valid. Every run validates first: a bad configuration prints the aggregated error to
stderr and exits 2. Otherwise the daemon runs (:mod:`ipamd.daemon`) until SIGTERM; it
stops it with exit 3 and says why when the node cannot be made ready: the cloud's metadata
unreachable, no primary interface in this namespace, nft refusing the SNAT table.
``--prepare-node`` is the init step instead (:mod:`ipamd.prepare`): it sets the sysctls the
datapath needs and installs the CNI plugin (with ``VPC_IPAM_INSTALL_CNI=true``), prints one
line per change and exits 0, or exits 3 saying which setting failed and why.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from config import InvalidConfig, Settings, load_config
from config.describe import describe, render_text

EXIT_OK = 0
EXIT_INVALID_CONFIG = 2
EXIT_STARTUP_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpc-ipamd",
        description="Per-node IPAM daemon of vpc-ipam. Configured by environment variables.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check-config",
        action="store_true",
        help="validate the environment, print the effective settings and exit",
    )
    mode.add_argument(
        "--prepare-node",
        action="store_true",
        help=(
            "set net.ipv4.ip_forward=1 and rp_filter=2 on the default route's interfaces, "
            "install the CNI plugin (VPC_IPAM_INSTALL_CNI=true), and exit (the init step)"
        ),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vpc-ipamd``; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        loaded = load_config(os.environ)
    except InvalidConfig as exc:
        print(f"vpc-ipamd: {exc}", file=sys.stderr)
        for warning in exc.warnings:
            print(f"vpc-ipamd: warning: {warning}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    if args.check_config:
        sys.stdout.write(render_text(describe(loaded), loaded.warnings))
        return EXIT_OK
    for warning in loaded.warnings:
        print(f"vpc-ipamd: warning: {warning}", file=sys.stderr)
    if args.prepare_node:
        return _prepare_node(loaded.settings)
    # the daemon's imports are heavy; --check-config stays light
    from ipamd import daemon  # noqa: PLC0415
    from ipamd.logs import configure_logging  # noqa: PLC0415

    configure_logging(loaded.settings)
    try:
        return daemon.run(loaded.settings, loaded=loaded)
    except daemon.StartupFailed as failed:
        print(f"vpc-ipamd: {failed}", file=sys.stderr)
        return EXIT_STARTUP_FAILED


def _prepare_node(settings: Settings) -> int:
    from ipamd import prepare  # noqa: PLC0415

    try:
        prepare.prepare_node(settings, report=lambda line: print(f"vpc-ipamd: {line}"))
    except prepare.PrepareFailed as failed:
        print(f"vpc-ipamd: --prepare-node failed: {failed}", file=sys.stderr)
        return EXIT_STARTUP_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
