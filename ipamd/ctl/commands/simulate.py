"""``vpc-ipamctl simulate``: replay pod churn on a simulated node under our policy or aws-node's.

Offline and pure computation (warmpool.sim): the settings are the daemon's environment
variables given with ``--set NAME=VALUE``, validated by config exactly as vpc-ipamd would
(a bad value is config's error and exit 2); the instance's limits come from the simulator's
small table (``--instance-type``). The churn is a CSV trace (``--trace``) or a seeded
generator. Prints a table (or ``--json``) per policy, and with ``--plot`` draws the idle
addresses over time with matplotlib, an optional extra (``pip install 'vpc-ipam[plot]'``).

This module is also the one place that turns settings into the simulator's inputs
(``setup``): bench/simulate.py uses it too, so the benchmark and the command agree.
Heavy imports (rich, the simulator, matplotlib) happen inside the functions that need them.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from warmpool.sim import AnchorPolicy, InstanceType, NodeConfig, OurPolicy, Report, Trace

COMMAND = "simulate"
PLOT_HINT = "--plot needs matplotlib: pip install 'vpc-ipam[plot]' (or pip install matplotlib)"


class BadInput(Exception):
    """Bad options, settings or trace: ``str()`` is the one line to print."""


@dataclass(frozen=True)
class Setup:
    """The simulator's inputs for one node, from the daemon's settings."""

    instance: InstanceType
    config: NodeConfig
    ours: OurPolicy
    anchor: AnchorPolicy

    def policy(self, name: str) -> OurPolicy | AnchorPolicy:
        return self.ours if name == "ours" else self.anchor


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` options as an environment mapping (a later one wins)."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadInput(f"--set takes NAME=VALUE, got {pair!r}")
        env[name.strip()] = value
    return env


def setup(env: Mapping[str, str], instance_type: str = "m5.large") -> Setup:
    """Settings (validated by config) and an instance type -> limits, targets, policies.

    Raises config.InvalidConfig for bad settings, BadInput for an unknown instance type or
    prefix delegation on a type that cannot hold prefixes."""
    import config  # noqa: PLC0415
    from config import WarmPoolMode  # noqa: PLC0415
    from ipamd.pooltargets import coalesce_seconds, pool_limits, pool_targets  # noqa: PLC0415
    from providers.models import InstanceLimits  # noqa: PLC0415
    from warmpool import sim  # noqa: PLC0415

    settings = config.load_settings(env)
    try:
        kind = sim.instance_type(instance_type)
    except KeyError as error:
        raise BadInput(str(error.args[0])) from None
    prefixes = settings.warm_pool.enable_prefix_delegation
    if prefixes and not kind.nitro:
        raise BadInput(f"{kind.name} is not a Nitro instance type: it cannot hold prefixes")
    limits = InstanceLimits(
        kind.name, kind.max_interfaces, kind.ipv4_per_interface, kind.vcpus, kind.nitro
    )
    node = sim.NodeConfig(
        pool_limits(limits, settings, 28 if prefixes else 32),
        pool_targets(settings),
        cooldown=float(settings.warm_pool.ip_cooldown_period),
    )
    daemon, rates = settings.daemon, settings.rate_limits
    timing = sim.OurTiming(
        pool_interval=daemon.pool_interval,
        shrink_interval=daemon.shrink_interval,
        reconcile_interval=daemon.reconcile_interval,
        capacity_backoff=daemon.capacity_error_backoff,
        scale_down_window=daemon.scale_down_window,
        coalesce=coalesce_seconds(daemon.pool_interval),
    )
    client = sim.our_client(
        mutating=sim.Shape(rates.ec2_mutating_burst, rates.ec2_mutating_rate),
        allocate=sim.Shape(rates.ec2_allocate_burst, rates.ec2_allocate_rate),
        describe=sim.Shape(rates.ec2_describe_burst, rates.ec2_describe_rate),
        attempts=rates.cloud_retry_attempts,
        deadline=rates.cloud_retry_deadline,
    )
    adaptive = settings.warm_pool.mode is WarmPoolMode.ADAPTIVE
    ours = sim.OurPolicy(timing, client=client, adaptive=adaptive)
    return Setup(kind, node, ours, sim.AnchorPolicy())


def load_trace(args: argparse.Namespace) -> Trace:
    from warmpool import sim  # noqa: PLC0415

    if args.trace is not None:
        try:
            text = Path(args.trace).read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise BadInput(f"cannot read {args.trace}: {error}") from None
        try:
            return sim.parse_trace(text)
        except sim.TraceError as error:
            raise BadInput(f"{args.trace}: {error}") from None
    try:
        return sim.generate(args.generator, hours=args.hours, rate=args.rate, seed=args.seed)
    except ValueError as error:
        raise BadInput(str(error)) from None


def run(args: argparse.Namespace) -> int:
    import config  # noqa: PLC0415
    from ipamd.ctl import render  # noqa: PLC0415
    from warmpool import sim  # noqa: PLC0415

    try:
        if args.plot and importlib.util.find_spec("matplotlib") is None:
            raise BadInput(PLOT_HINT)
        if args.plot and not Path(args.plot).parent.is_dir():
            raise BadInput(f"--plot {args.plot}: no such directory")
        chosen = setup(parse_sets(args.set), args.instance_type)
        trace = load_trace(args)
    except (BadInput, config.InvalidConfig) as error:
        render.fail(COMMAND, str(error))
        return 2
    names = ("ours", "anchor") if args.compare else (args.policy,)
    reports: list[Report] = []
    started = time.perf_counter()
    for name in names:
        reports.append(sim.simulate(trace, chosen.policy(name), chosen.config, seed=args.seed))
    elapsed = time.perf_counter() - started
    if args.plot:
        try:
            plot(reports, Path(args.plot), title=describe_trace(args, trace))
        except (OSError, ValueError) as error:  # matplotlib: an unknown image format
            render.fail(COMMAND, f"cannot write the plot {args.plot}: {error}")
            return 1
    if args.json:
        render.print_json(document(args, chosen, trace, reports, elapsed))
    else:
        show(args, chosen, trace, reports, elapsed)
    return 0


def describe_trace(args: argparse.Namespace, trace: Trace) -> str:
    source = args.trace if args.trace is not None else f"{args.generator} (seed {args.seed})"
    nodes = len(trace.nodes) or 1
    return (
        f"{source}: {trace.churn_events} events on {nodes} node{'s' if nodes != 1 else ''} "
        f"over {trace.horizon / 3600:g} h, {args.instance_type}"
    )


def document(
    args: argparse.Namespace, chosen: Setup, trace: Trace, reports: list[Report], elapsed: float
) -> dict[str, Any]:
    return {
        "trace": {
            "source": args.trace or args.generator,
            "seed": args.seed,
            "events": trace.churn_events,
            "nodes": list(trace.nodes),
            "horizon_seconds": trace.horizon,
        },
        "instance_type": chosen.instance.name,
        "limits": dataclasses.asdict(chosen.config.limits),
        "targets": dataclasses.asdict(chosen.config.targets),
        "cooldown_seconds": chosen.config.cooldown,
        "results": [r.to_json() for r in reports],
        "elapsed_seconds": elapsed,
    }


HEADERS = (
    "POLICY",
    "PODS",
    "WAITED",
    "P50",
    "P99",
    "MAX",
    "IDLE",
    "MUTATING",
    "DESCRIBE",
    "THROTTLED",
    "MUT/1K",
)
CAPTION = (
    "WAITED: pods that waited for an address; P50/P99/MAX: their wait; IDLE: addresses held "
    "but unused (time-weighted mean); MUTATING/DESCRIBE/THROTTLED: EC2 requests; MUT/1K: "
    "mutating requests per 1,000 churn events"
)


def row(report: Report) -> tuple[str, ...]:
    """A report as the table's cells (bench/simulate.py prints the same columns)."""
    w = report.waits
    return (
        report.policy,
        str(report.pods),
        str(report.waited),
        f"{w.p50:.2f}s",
        f"{w.p99:.2f}s",
        f"{w.max:.2f}s",
        f"{report.idle_mean:.1f}",
        str(report.mutating),
        str(report.describe),
        str(report.throttled),
        f"{report.mutating_per_1k:.1f}",
    )


def settings_line(chosen: Setup) -> str:
    limits, targets = chosen.config.limits, chosen.config.targets
    return (
        f"{chosen.instance.name}: {limits.max_interfaces} interfaces x "
        f"{limits.blocks_per_interface} blocks of {limits.block_size}, max pods "
        f"{limits.max_pods}; WARM_ENI_TARGET={targets.warm_interface_target} "
        f"WARM_IP_TARGET={targets.warm_ip_target} MINIMUM_IP_TARGET={targets.minimum_ip_target} "
        f"WARM_PREFIX_TARGET={targets.warm_block_target} "
        f"IP_COOLDOWN_PERIOD={chosen.config.cooldown:g}"
        + (" WARM_POOL_MODE=adaptive" if chosen.ours.adaptive else "")
    )


def show(
    args: argparse.Namespace, chosen: Setup, trace: Trace, reports: list[Report], elapsed: float
) -> None:
    from rich.text import Text  # noqa: PLC0415

    from ipamd.ctl import render  # noqa: PLC0415

    out = render.console()
    table = render.table(title=describe_trace(args, trace))
    for header in HEADERS:
        table.add_column(header, no_wrap=True, justify="left" if header == "POLICY" else "right")
    for report in reports:
        table.add_row(*(render.cell(v) for v in row(report)))
    out.print(table)
    out.print(Text(CAPTION, style="dim"))
    out.print(Text(settings_line(chosen), style="dim"))
    for report in reports:
        if report.unserved:
            never = report.unserved
            out.print(
                Text(
                    f"{report.policy}: {never} pod{'s' if never != 1 else ''} never got an address"
                )
            )
    if len(reports) == 2 and reports[1].mutating_per_1k:
        ratio = reports[0].mutating_per_1k / reports[1].mutating_per_1k
        out.print(Text(f"mutating calls per 1k events, ours/anchor: {ratio:.2f}"))
    if args.plot:
        out.print(Text(f"plot written to {args.plot}"))
    out.print(Text(f"simulated in {elapsed:.2f}s", style="dim"))


def plot(reports: Sequence[Report], path: Path, *, title: str) -> None:
    """Idle addresses over time, one line per report (matplotlib, imported here)."""
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    pyplot = importlib.import_module("matplotlib.pyplot")
    figure, axes = pyplot.subplots(figsize=(10, 4))
    for report in reports:
        hours = [t / 3600 for t, _ in report.idle_series]
        axes.step(hours, [v for _, v in report.idle_series], where="post", label=report.policy)
    axes.set_xlabel("hours")
    axes.set_ylabel("idle addresses")
    axes.set_title(title, fontsize="small")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
