"""Shared building blocks of the CNI model: an immutable record base and the CNI name rule.

Why a hand-written record instead of ``dataclasses``: the plugin binary is exec'd once per
pod, and ``import dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``,
``tokenize``, ...), about 9 ms on a warm machine, close to half of the binary's whole start
budget. ``Record`` gives the part we need (keyword construction, write-once attributes,
value equality, a readable repr, ``replace``) in a few lines and no imports.

The name rule is shared by network names (``name`` in the config) and container ids
(``CNI_CONTAINERID``): SPEC.md states the same rule for both.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

# First character alphanumeric, then any mix of alphanumerics, underscore, dot and hyphen
# (ASCII only). Sets rather than ``re``: importing ``re`` costs the binary milliseconds.
ALPHANUMERIC = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
NAME_CHARACTERS = ALPHANUMERIC | frozenset("_.-")
MAX_NAME_LENGTH = 256
"""Longest network name or container id accepted. The spec sets no limit; runtimes use 64
(podman, CRI-O) to 76 (containerd) characters. A bound keeps a runaway value from reaching
the daemon's checkpoint and logs, or overflowing a wire message (which would be code 999)."""


def is_valid_cni_name(value: str) -> bool:
    """True if ``value`` obeys the spec's rule for network names and container ids."""
    return value[:1] in ALPHANUMERIC and NAME_CHARACTERS.issuperset(value)


def name_length_problem(value: str) -> str | None:
    """Why ``value`` is too long for a network name or container id, or None."""
    if len(value) > MAX_NAME_LENGTH:
        return f"{len(value)} characters long; at most {MAX_NAME_LENGTH} are allowed"
    return None


def type_name(value: object) -> str:
    """The JSON type name of a decoded JSON value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class Record:
    """Base for small immutable value objects.

    Subclasses list their fields in ``__slots__`` (in the order their ``__init__`` takes them,
    with the same names) and assign each one exactly once in ``__init__``. Any later
    assignment or deletion raises ``AttributeError``. Fields holding dicts stay mutable inside;
    treat them as read-only.
    """

    __slots__: tuple[str, ...] = ()

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):
            raise AttributeError(f"{type(self).__name__}.{name} is read-only")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} is read-only")

    def _fields(self) -> tuple[tuple[str, object], ...]:
        return tuple((name, getattr(self, name)) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._fields()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self._fields())
        return f"{type(self).__name__}({inner})"

    def replace(self, **changes: object) -> Self:
        """A copy with the named fields replaced (like ``dataclasses.replace``)."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        values = dict(self._fields())
        values.update(changes)
        return type(self)(**values)
