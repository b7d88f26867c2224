"""``vpc-ipamd``: the daemon's entry point (wiring only).

This is where the daemon's environment is read (``os.environ``, handed whole to
:mod:`config`); the only other reader is the CNI binary, for the protocol's ``CNI_*``.
``--check-config`` prints the effective settings, their sources and any warnings, and exits
0 when valid. Every run validates first: a bad configuration prints the aggregated error to
stderr and exits 2. Otherwise the daemon runs (:mod:`ipamd.daemon`) until SIGTERM; it
stops it with exit 3 and says why when the node cannot be made ready: the cloud's metadata
unreachable, no primary interface in this namespace, nft refusing the SNAT table.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from config import InvalidConfig, load_config
from config.describe import describe, render_text

EXIT_OK = 0
EXIT_INVALID_CONFIG = 2
EXIT_STARTUP_FAILED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpc-ipamd",
        description="Per-node IPAM daemon of vpc-ipam. Configured by environment variables.",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the environment, print the effective settings and exit",
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
    # the daemon's imports are heavy; --check-config stays light
    from ipamd import daemon  # noqa: PLC0415

    daemon.configure_logging(loaded.settings)
    try:
        return daemon.run(loaded.settings)
    except daemon.StartupFailed as failed:
        print(f"vpc-ipamd: {failed}", file=sys.stderr)
        return EXIT_STARTUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
