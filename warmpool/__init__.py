"""Pure warm-pool arithmetic: a snapshot of what the node holds in, a decision out.

No I/O, no clock, no environment, and no import of anything else in this project, so the
daemon, the simulator and the tests all run the very same rules.
"""

from warmpool.adaptive import (
    AdaptiveWarm,
    AdaptiveWindow,
    WarmEstimate,
    adaptive_targets,
    poisson_quantile,
)
from warmpool.apply import apply
from warmpool.counts import demand
from warmpool.maxpods import max_pods
from warmpool.model import (
    Block,
    Create,
    Decision,
    Grow,
    Interface,
    Limits,
    Mode,
    PoolSnapshot,
    Release,
    Targets,
    mode_of,
)
from warmpool.policy import decide
from warmpool.window import SlidingMax

__all__ = [
    "AdaptiveWarm",
    "AdaptiveWindow",
    "Block",
    "Create",
    "Decision",
    "Grow",
    "Interface",
    "Limits",
    "Mode",
    "PoolSnapshot",
    "Release",
    "SlidingMax",
    "Targets",
    "WarmEstimate",
    "adaptive_targets",
    "apply",
    "decide",
    "demand",
    "max_pods",
    "mode_of",
    "poisson_quantile",
]
