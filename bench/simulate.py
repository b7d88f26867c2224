"""Warm-pool simulation: our policy against aws-node's algorithm on the same churn, and a herd.

Pure computation on virtual time (warmpool.sim), no cloud and no daemon. With the default
settings (``config.load_settings({})``: WARM_ENI_TARGET=1, cooldown 30 s) on an m5.large:

- six churn scenarios on one node, each replayed under ``ours`` and ``anchor`` from the
  same trace: a day of steady churn (about 10,000 events), a diurnal day, a day of
  Deployment rollouts on an m5.large (whose pool is full after the warm-up) and on an
  m5.xlarge (whose surge crosses an interface), steady churn with WARM_IP_TARGET=5 and a
  diurnal day in prefix mode (quick mode: an hour of each). Ratio: mutating EC2 calls per
  1,000 churn events, ours / anchor, budget 0.5 (DESIGN.md section 8).
- the herd: 1,000 nodes joining one account within 60 s, with our client (limiter + full
  jitter) and a naive one (no limiter, immediate retries), and aws-node's for context:
  throttled calls (DESIGN.md wants 0 for ours) and each node's time to its first address
  (quick mode: 200 nodes within 12 s, the same joining rate).

Wall-clock seconds of each run are reported as figures (never asserted). With matplotlib
installed (``pip install 'vpc-ipam[plot]'``) the idle addresses are also drawn to
``bench/out/simulate.png``.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

from bench.common import Options, Ratio, Result, table
from ipamd.ctl.commands.simulate import HEADERS, PLOT_HINT, Setup, plot, row, setup
from warmpool import sim

NAME = "simulate"
SEED = 1
BUDGET = 0.5
"""DESIGN.md section 8: ours at most half the anchor's mutating calls per churn event."""
HERD_NODES = 1000
HERD_WINDOW = 60.0
QUICK_HERD = (200, 12.0)
"""Quick mode's herd: the same joining rate, a fifth of the nodes."""
HERD_HEADERS = (
    "HERD",
    "THROTTLED",
    "X FLOOR",
    "FAILED CALLS",
    "REFUSED",
    "MUTATING",
    "DESCRIBE",
    "FIRST P50",
    "FIRST P99",
    "FIRST MAX",
    "NO ADDRESS",
    "WALL",
)
"""THROTTLED: raw requests EC2 throttled; X FLOOR: those over the run's floor for
uncoordinated clients; FAILED CALLS: calls that failed for throttling after the client's
retries (what the pool loop sees), of which REFUSED: by our own limiter, EC2 never asked."""


@dataclass(frozen=True)
class Scenario:
    name: str
    trace: sim.Trace
    env: dict[str, str] = field(default_factory=dict)
    instance_type: str = "m5.large"
    note: str = ""


def scenarios(hours: float) -> list[Scenario]:
    return [
        Scenario("steady", sim.steady(hours=hours, seed=SEED)),
        Scenario("diurnal", sim.diurnal(hours=hours, seed=SEED)),
        Scenario(
            "rollout",
            sim.rollout(hours=hours, seed=SEED),
            note="10 replicas on an m5.large fill its 3 interfaces at WARM_ENI_TARGET=1: "
            "after the warm-up neither policy changes the pool, so the ratio is 1 by "
            "construction",
        ),
        Scenario(
            "rollout-surge",
            sim.rollout(hours=hours, seed=SEED, replicas=20, surge=5),
            instance_type="m5.xlarge",
            note="20 replicas, 5 at a time, twice an hour: each surge needs a 4th interface",
        ),
        Scenario("steady-ip5", sim.steady(hours=hours, seed=SEED), {"WARM_IP_TARGET": "5"}),
        Scenario(
            "diurnal-prefix",
            sim.diurnal(hours=hours, seed=SEED),
            {"ENABLE_PREFIX_DELEGATION": "true", "WARM_PREFIX_TARGET": "1"},
        ),
    ]


def run(options: Options) -> Result:
    hours = 1.0 if options.quick else 24.0
    chosen = setup({})
    rows: list[tuple[object, ...]] = []
    ratios: list[Ratio] = []
    notes: list[str] = []
    figures: dict[str, Any] = {"settings": "defaults", "instance_type": chosen.instance.name}
    wall: dict[str, float] = {}
    reports: dict[str, list[sim.Report]] = {}
    for scenario in scenarios(hours):
        name, trace = scenario.name, scenario.trace
        here = setup(scenario.env, scenario.instance_type)
        runs = []
        for policy in (here.ours, here.anchor):
            started = time.perf_counter()
            runs.append(sim.simulate(trace, policy, here.config, seed=SEED))
            wall[f"{name}/{policy.name}"] = time.perf_counter() - started
        reports[name] = runs
        rows += [(name, *row(r)) for r in runs]
        ours, anchor = runs
        settings = " ".join(f"{k}={v}" for k, v in scenario.env.items()) or "defaults"
        ratios.append(
            Ratio(
                f"mutating calls per 1k churn events, {name} ({scenario.instance_type}, "
                f"{settings}, {trace.churn_events} events)",
                ours.mutating_per_1k,
                anchor.mutating_per_1k,
                BUDGET,
                unit="calls/1k",
            )
        )
        figures[name] = {
            "events": trace.churn_events,
            "instance_type": scenario.instance_type,
            "settings": dict(scenario.env),
            "runs": [r.to_json() for r in runs],
        }
        if scenario.note:
            notes.append(f"{name}: {scenario.note}")
    notes += [breakdown(name, runs) for name, runs in reports.items()]
    size = QUICK_HERD if options.quick else (HERD_NODES, HERD_WINDOW)
    notes += herd(chosen, figures, wall, size)
    notes += adaptive(hours, figures)
    notes.append(
        "wall-clock: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in wall.items())
        + f" ({hours:g} h of churn per scenario)"
    )
    figures["wall_seconds"] = wall
    notes.append(draw(reports, options))
    return Result(NAME, ("SCENARIO", *HEADERS), rows, ratios, figures, notes)


def breakdown(name: str, runs: list[sim.Report]) -> str:
    """Where the mutating calls went: interfaces made and unmade, blocks added and given back."""
    actions = (
        ("interfaces created", "CreateNetworkInterface"),
        ("deleted", "DeleteNetworkInterface"),
        ("assigns", "AssignPrivateIpAddresses"),
        ("unassigns", "UnassignPrivateIpAddresses"),
    )
    parts = [
        f"{label} " + "/".join(str(r.requests.get(action, 0)) for r in runs)
        for label, action in actions
    ]
    return f"{name} (ours/anchor): " + ", ".join(parts)


def herd(
    chosen: Setup, figures: dict[str, Any], wall: dict[str, float], size: tuple[int, float]
) -> list[str]:
    nodes, window = size
    runs = (
        ("ours", chosen.ours, chosen.ours.client),
        ("naive", chosen.ours, sim.NAIVE),
        ("anchor", chosen.anchor, sim.AWS_SDK),
    )
    rows: list[tuple[object, ...]] = []
    out: dict[str, Any] = {}
    floors: dict[str, int] = {}
    for label, policy, client in runs:
        started = time.perf_counter()
        report = sim.herd(
            policy, chosen.config, nodes=nodes, window=window, client=client, seed=SEED
        )
        seconds = wall[f"herd/{label}"] = time.perf_counter() - started
        first = report.first_address
        floors[label] = report.floor
        rows.append(
            (
                f"{policy.name} policy, {client.name} client",
                report.throttled,
                f"{report.throttled / report.floor:.1f}x" if report.floor else "-",
                report.gave_up,
                report.refused,
                report.mutating,
                report.describe,
                f"{first.p50:.1f}s",
                f"{first.p99:.1f}s",
                f"{first.max:.1f}s",
                report.without_address,
                f"{seconds:.2f}s",
            )
        )
        out[label] = report.to_json()
    floor = floors["ours"]
    rows.append(("floor, uncoordinated clients", floor, "1.0x", *("-",) * 9))
    figures["herd"] = out
    figures["herd_floor"] = {"throttled_calls": floor, "by_run": floors}
    ours, naive, anchor = out["ours"], out["naive"], out["anchor"]
    tokens = 100 + 5 * window
    return [
        f"herd: {nodes} nodes join one account within {window:g}s "
        "(no pods; time to first address = joining to the first usable address)",
        table(HERD_HEADERS, rows),
        f"herd throttled calls: ours {ours['throttled_calls']}, naive "
        f"{naive['throttled_calls']}, anchor {anchor['throttled_calls']}; floor {floor} "
        "(DESIGN.md wants 0). Each node's first grow is an AssignPrivateIpAddresses, whose "
        f"account bucket holds 100 and refills 5/s: {nodes} of them within {window:g}s meet "
        f"about {tokens:.0f} tokens. A node never throttled cannot know the bucket is empty, "
        "and holding its first call back would slow every lone node, so each first request "
        "goes out when the node makes it: replayed in order against the bucket, at most "
        f"{nodes - floor} of them find a token and {floor} are throttled whatever the "
        "clients do next (every other request only spends tokens). That floor is for clients "
        "that do not coordinate; 0 would take a shared schedule no daemon has. Ours learns "
        "from each throttle (providers.ratelimit.AdaptiveRate: the class's rate cut "
        "multiplicatively, the node then waits on its own bucket, across calls), so its "
        "throttles beyond the floor are the few retries each throttled node needs to learn "
        "how crowded the account is; failed calls are mostly our limiter refusing a tick's "
        "call, EC2 never asked, while the node waits.",
    ]


def draw(reports: dict[str, list[sim.Report]], options: Options) -> str:
    if importlib.util.find_spec("matplotlib") is None:
        return f"no plot: {PLOT_HINT}"
    options.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, runs in reports.items():
        path = options.out / f"simulate-{name}.png"
        plot(runs, path, title=f"{name}: idle addresses, default settings, m5.large")
        written.append(str(path))
    return "plots: " + ", ".join(written)


ADAPTIVE_SWEEP = 6
"""The static WARM_IP_TARGET values compared with WARM_POOL_MODE=adaptive: 1 .. this."""


def adaptive(hours: float, figures: dict[str, Any]) -> list[str]:
    """WARM_POOL_MODE=adaptive against static settings and aws-node's algorithm, on the steady
    and diurnal days (m5.large) and a day of rollouts of 20 replicas, surge 5 (m5.xlarge),
    with whether adaptive holds fewer idle addresses than every static setting whose pods
    wait no more (as many pods waited or fewer, wait p99 no higher)."""
    traces = (
        ("steady", sim.steady(hours=hours, seed=SEED), "m5.large"),
        ("diurnal", sim.diurnal(hours=hours, seed=SEED), "m5.large"),
        ("rollout", sim.rollout(hours=hours, seed=SEED, replicas=20, surge=5), "m5.xlarge"),
    )
    statics: list[tuple[str, dict[str, str]]] = [("WARM_ENI_TARGET=1", {})] + [
        (f"WARM_IP_TARGET={k}", {"WARM_IP_TARGET": str(k)}) for k in range(1, ADAPTIVE_SWEEP + 1)
    ]
    headers = ("TRACE", "SETTINGS", "WAITED", "WAIT P99", "IDLE", "MUTATING", "MUT/1K")
    rows: list[tuple[object, ...]] = []
    verdicts: list[str] = []
    out: dict[str, Any] = {}
    for name, trace, instance in traces:
        runs: list[tuple[str, sim.Report]] = []
        chosen = setup({"WARM_POOL_MODE": "adaptive"}, instance)
        runs.append(("adaptive", sim.simulate(trace, chosen.ours, chosen.config, seed=SEED)))
        for label, env in statics:
            fixed = setup(env, instance)
            runs.append((label, sim.simulate(trace, fixed.ours, fixed.config, seed=SEED)))
        base = setup({}, instance)
        runs.append(("aws-node", sim.simulate(trace, base.anchor, base.config, seed=SEED)))
        for label, r in runs:
            rows.append(
                (
                    f"{name} ({instance})",
                    label,
                    r.waited,
                    f"{r.waits.p99:.2f}s",
                    f"{r.idle_mean:.1f}",
                    r.mutating,
                    f"{r.mutating_per_1k:.1f}",
                )
            )
        ada, anchor = runs[0][1], runs[-1][1]
        same = [
            (label, r)
            for label, r in runs[1:-1]
            if r.waited <= ada.waited and r.waits.p99 <= ada.waits.p99 + 1e-9
        ]
        beaten = [label for label, r in same if r.idle_mean <= ada.idle_mean]
        budget = [(label, r) for label, r in same if r.mutating <= BUDGET * anchor.mutating]
        beaten_in_budget = [label for label, r in budget if r.idle_mean <= ada.idle_mean]
        calls = ada.mutating / anchor.mutating if anchor.mutating else float("inf")
        if not same:
            verdict = "no static setting reaches adaptive's waits"
        elif not beaten:
            verdict = (
                f"fewer idle addresses than every static setting reaching the same waits "
                f"({', '.join(label for label, _ in same)})"
            )
        else:
            verdict = f"NOT fewer idle addresses than {', '.join(beaten)} at the same waits"
            if not budget:
                verdict += (
                    "; none of the static settings at these waits stays within the call "
                    f"budget (<= {BUDGET:g}x aws-node's mutating calls)"
                )
            elif not beaten_in_budget:
                verdict += (
                    f"; fewer than each of those within the call budget (<= {BUDGET:g}x "
                    f"aws-node's mutating calls: {', '.join(label for label, _ in budget)})"
                )
            else:
                verdict += f"; within the call budget too ({', '.join(beaten_in_budget)})"
        verdicts.append(
            f"adaptive, {name}: {verdict}; mutating calls {ada.mutating} = {calls:.2f}x "
            f"aws-node's {anchor.mutating}"
        )
        out[name] = {
            "instance_type": instance,
            "runs": {label: r.to_json(series=False) for label, r in runs},
            "same_waits": [label for label, _ in same],
            "beaten_by": beaten,
        }
    figures["adaptive"] = out
    return [
        "WARM_POOL_MODE=adaptive against static settings (the default WARM_ENI_TARGET=1 and "
        f"WARM_IP_TARGET=1..{ADAPTIVE_SWEEP}, MINIMUM_IP_TARGET unset) and aws-node's "
        "algorithm; the same settings: as many pods waited or fewer, wait p99 no higher",
        table(headers, rows),
        *verdicts,
    ]
