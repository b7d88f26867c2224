"""vpc-ipamctl: the operator's command line. Wiring only: parse, then run one command module.

The command line is in :mod:`ipamd.ctl.parser`; each subcommand is a module of
:mod:`ipamd.ctl.commands` with ``run(args) -> exit code``, imported only when it runs (so
``health``, the probes' command, loads neither rich nor http.client, and only ``max-pods
--instance-type`` loads boto3).
"""

from __future__ import annotations

import importlib

from ipamd.ctl.parser import HEALTH_TIMEOUT, build_parser

__all__ = ["HEALTH_TIMEOUT", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = importlib.import_module(f"ipamd.ctl.commands.{args.command.replace('-', '_')}")
    code: int = command.run(args)
    return code
