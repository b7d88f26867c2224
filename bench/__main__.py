"""``python -m bench [--quick] [name ...]``: run the benchmarks, print each table and ratio,
write ``bench/out/<name>.json``, and end with every ratio in one list. Exit 0 when they ran
(a ratio over its budget is reported, not failed: the figures are for people to read)."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench.common import Options, Result, write

BENCHMARKS = ("cni_latency", "burst", "startup", "daemon_rss", "rpc", "simulate")
"""Module names under bench/, in the order they run; those not written yet are skipped."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; known: {', '.join(BENCHMARKS)}")
    options = Options(quick=args.quick)
    results: list[Result] = []
    started = time.monotonic()
    for name in args.names or BENCHMARKS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"bench.{name}":
                raise
            print(f"==> {name}: not written yet, skipped", flush=True)
            continue
        print(f"==> {name}", flush=True)
        result: Result = module.run(options)
        print(result.table())
        for note in result.notes:
            print(f"  {note}")
        for ratio in result.ratios:
            print(f"  {ratio.line()}")
        print(f"  wrote {write(result, options.out)}", flush=True)
        results.append(result)
    print(f"==> every ratio ({time.monotonic() - started:.0f}s)")
    for result in results:
        for ratio in result.ratios:
            print(f"  {result.name}: {ratio.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
