"""``vpc-ipamd``: the daemon's entry point (wiring only).

This is where the daemon's environment is read (``os.environ``, handed whole to
:mod:`config`); the only other reader is the CNI binary, for the protocol's ``CNI_*``.
``--check-config`` prints the effective settings, their sources and any warnings, and exits
0 when valid. Every run validates first: a bad configuration prints the aggregated error to
stderr and exits 2. The daemon itself is not built yet, so a run without ``--check-config``
says so and exits 1 instead of pretending to start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from config import InvalidConfig, load_config
from config.describe import describe, render_text

EXIT_OK = 0
EXIT_NOT_IMPLEMENTED = 1
EXIT_INVALID_CONFIG = 2


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
    print(
        "vpc-ipamd: the configuration is valid, but the daemon itself is not implemented yet; "
        "nothing was started (use --check-config to inspect the settings)",
        file=sys.stderr,
    )
    return EXIT_NOT_IMPLEMENTED


if __name__ == "__main__":
    sys.exit(main())
