"""CNI error codes and the one exception type every part of ``cni/`` raises.

SPEC.md section 5 ("Error") defines the error object a plugin prints: ``cniVersion``,
``code``, ``msg`` and ``details``. Codes 0-99 are reserved for the spec; 100 and above are
free for plugins. The daemon sends the same object (without ``cniVersion``) back over the
socket, and the binary prints it unchanged, so this module owns both directions.
"""

from __future__ import annotations

from cni._base import type_name

# Well-known codes (SPEC.md, section 5, "Error").
INCOMPATIBLE_CNI_VERSION = 1
UNSUPPORTED_FIELD = 2  # the message must contain the key and value of the field
UNKNOWN_CONTAINER = 3  # the runtime need not clean up (call DEL) after this one
INVALID_ENVIRONMENT_VARIABLES = 4  # the message must contain the names of the variables
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
# Not in SPEC.md's table, but reserved and used by the reference library (libcni's
# ErrInvalidNetNS) for "the plugin's own netns and CNI_NETNS are the same".
INVALID_NETNS = 8
TRY_AGAIN_LATER = 11
PLUGIN_NOT_AVAILABLE = 50  # STATUS: cannot service ADD
LIMITED_CONNECTIVITY = 51  # STATUS: not available, existing pods may be degraded

# Plugin-specific codes (100+ are free for plugins).
# vpc-cni and vpc-ipamd speak different wire protocol versions (or one sent an operation the
# other does not know): the message names both sides' versions and which one to upgrade.
PROTOCOL_MISMATCH = 100
INTERNAL = 999


class CniError(Exception):
    """An error that ends a CNI invocation, carried as a spec error object."""

    code: int
    msg: str
    details: str

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(code, msg, details)
        self.code = code
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        if self.details:
            return f"{self.msg}; {self.details}"
        return self.msg

    def __repr__(self) -> str:
        return f"CniError(code={self.code!r}, msg={self.msg!r}, details={self.details!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CniError):
            return NotImplemented
        return (self.code, self.msg, self.details) == (other.code, other.msg, other.details)

    def __hash__(self) -> int:
        return hash((self.code, self.msg, self.details))

    def to_json(self, cni_version: str) -> dict[str, object]:
        """The spec's error object; ``details`` is left out when empty (as libcni does)."""
        out: dict[str, object] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_json(cls, obj: object) -> CniError:
        """Rebuild an error sent back over the wire (``cniVersion`` is accepted and ignored).

        A malformed object is itself an error: this raises ``CniError`` with code 6, naming
        every bad key, so a caller that re-raises the result gets a CniError either way.
        """
        if not isinstance(obj, dict):
            raise cls(DECODING_FAILURE, "error object must be a JSON object", type_name(obj))
        problems: list[str] = []
        code = obj.get("code")
        if isinstance(code, bool) or not isinstance(code, int):
            problems.append(f"code: must be a non-negative integer, got {type_name(code)}")
        elif code < 0:
            problems.append(f"code: must be a non-negative integer, got {code}")
        msg = obj.get("msg")
        if not isinstance(msg, str):
            problems.append(f"msg: must be a string, got {type_name(msg)}")
        details = obj.get("details", "")
        if details is None:
            details = ""
        if not isinstance(details, str):
            problems.append(f"details: must be a string, got {type_name(details)}")
        # The isinstance checks repeat the ones above for the type checker's benefit.
        if problems or not (
            isinstance(code, int) and isinstance(msg, str) and isinstance(details, str)
        ):
            raise cls(DECODING_FAILURE, "malformed CNI error object", "; ".join(problems))
        return cls(code, msg, details)
