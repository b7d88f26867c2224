"""Loading settings from an environment mapping: the only reader of environment variables.

The caller passes the mapping (``vpc-ipamd`` passes ``os.environ``; tests pass dicts); this
module never looks at the process environment itself. Rules:

- A variable that is unset **or set to the empty string** takes its default. Manifests and
  Helm charts often render ``value: ""``, and aws-node treats most empty values the same way.
- Any other value must parse, exactly; nothing falls back to a default silently. Every bad
  value, and every failed cross-variable check, is collected and raised once, as one
  :class:`~config.errors.InvalidConfig` naming each variable, its value and what is accepted.
- Booleans take exactly Go's ``strconv.ParseBool`` spellings, as aws-node does:
  ``1 t T TRUE true True`` and ``0 f F FALSE false False``; ``yes``/``no`` are refused.
- Oddities that load (a typo'd name, a setting made pointless by another) come back as
  :class:`~config.errors.ConfigWarning` values in :attr:`LoadedConfig.warnings`, for the
  caller to print or log; nothing here prints.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.checks import cross_check
from config.errors import ConfigWarning, InvalidConfig, Problem
from config.parsers import BadValueError
from config.settings import SECTIONS, Settings
from config.table import BY_NAME, VARIABLES, Variable
from config.unknown import unknown_variable_messages

SHOWN_VALUE_MAX = 120
"""Longer raw values are cut in error messages."""


class Source(enum.StrEnum):
    """Where an effective value came from."""

    DEFAULT = "default"
    """The variable is unset or empty (for POD_MTU: the effective AWS_VPC_ENI_MTU)."""
    ENV = "env"
    """The environment sets it."""


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """Valid settings, with where each value came from and the warnings found."""

    settings: Settings
    """The typed settings."""
    sources: Mapping[str, Source]
    """Variable name -> where its effective value came from."""
    warnings: tuple[ConfigWarning, ...]
    """Unknown-looking names and settings that have no effect, in a stable order."""


def shown_value(variable: Variable[Any], raw: str) -> str:
    """The raw value as error messages show it: quoted, cut when long, hidden when secret."""
    if variable.secret:
        return "<redacted>"
    if len(raw) > SHOWN_VALUE_MAX:
        return repr(raw[:SHOWN_VALUE_MAX]) + "..."
    return repr(raw)


def _bad_value_message(variable: Variable[Any], raw: str, exc: BadValueError) -> str:
    detail = f"{exc}; " if str(exc) else ""
    return (
        f"{variable.name}={shown_value(variable, raw)}: {detail}expected {variable.parser.expected}"
    )


def load_config(environ: Mapping[str, str]) -> LoadedConfig:
    """Parse and check every variable of the table; raise InvalidConfig listing every problem."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    problems: list[Problem] = []
    for variable in VARIABLES:
        raw = environ.get(variable.name, "")
        if raw == "":
            sources[variable.name] = Source.DEFAULT
            if variable.default_from is None:
                values[variable.name] = variable.default
            elif variable.default_from in values:
                values[variable.name] = values[variable.default_from]
            continue
        sources[variable.name] = Source.ENV
        try:
            values[variable.name] = variable.parser.parse(raw)
        except BadValueError as exc:
            problems.append(Problem(variable.name, _bad_value_message(variable, raw, exc)))

    cross_problems, cross_warnings = cross_check(values, environ)
    warnings = [
        ConfigWarning(name, message, suggestion)
        for name, message, suggestion in unknown_variable_messages(environ, BY_NAME)
    ]
    warnings += cross_warnings
    if problems or cross_problems:
        raise InvalidConfig(problems + cross_problems, warnings)
    return LoadedConfig(_build(values), sources, tuple(warnings))


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The settings for this environment mapping (``load_settings({})``: all defaults).

    Raises InvalidConfig listing every bad variable; warnings are dropped, use
    :func:`load_config` to get them.
    """
    return load_config(environ).settings


def _build(values: Mapping[str, Any]) -> Settings:
    fields: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for variable in VARIABLES:
        fields[variable.section][variable.field] = values[variable.name]
    parts = {section: cls(**fields[section]) for section, cls in SECTIONS.items()}
    return Settings(**parts)
