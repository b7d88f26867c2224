"""What loading settings reports: problems (fatal, aggregated) and warnings (data, not logs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the configuration is invalid."""

    variable: str
    """The variable to fix (for a cross-field problem, the one most likely wrong)."""
    message: str
    """Full text, naming the variable, its value and what is accepted."""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something that loads but is probably not what was meant."""

    variable: str
    """The variable concerned."""
    message: str
    """What is odd about it, e.g. ``has no effect unless ENABLE_PREFIX_DELEGATION=true``."""
    suggestion: str | None = None
    """For an unknown name, the closest known one."""

    def __str__(self) -> str:
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"{self.variable}: {self.message}{hint}"


class InvalidConfig(Exception):
    """Raised once with every problem found, never one at a time."""

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[ConfigWarning] = ()) -> None:
        self.problems = tuple(problems)
        """Every problem, in table order, then cross-field problems."""
        self.warnings = tuple(warnings)
        """Warnings found on the way (a typo here often explains a problem there)."""
        count = len(self.problems)
        lines = [f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables to fix, without duplicates, in order."""
        return tuple(dict.fromkeys(problem.variable for problem in self.problems))
