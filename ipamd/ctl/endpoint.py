"""The shape the read-only commands share: read one introspection path, print its JSON with
``--json`` or render it, exit 1 when the daemon cannot be read. (Not in ``commands/``'s
package module: ``health`` must start without rich or http.client.)"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console

from ipamd.ctl import introspection, render


def show_endpoint(
    args: argparse.Namespace,
    command: str,
    path: str,
    show: Callable[[Console, Mapping[str, Any]], None],
) -> int:
    try:
        document = introspection.get(args.introspection, path, timeout=args.timeout)
    except introspection.IntrospectionError as error:
        render.fail(command, str(error))
        return 1
    if args.json:
        render.print_json(document)
        return 0
    show(render.console(), document)
    return 0
