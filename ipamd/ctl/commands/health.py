"""``vpc-ipamctl health``: the daemon's health over its socket, what the probes run.

Exit 0 when the daemon answers ok true; 1, with one line on stderr, otherwise. Standard
library and cni only: the kubelet runs it every few seconds.
"""

from __future__ import annotations

import argparse
import json
import sys

from cni import client
from cni.errors import CniError
from cni.wire import HealthArgs


def run(args: argparse.Namespace) -> int:
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
