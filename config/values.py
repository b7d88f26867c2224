"""Small value types used by the settings: enumerations and listen addresses.

They are plain frozen values with a canonical text form (``str()``), which is also the form
the environment accepts, so an effective setting can be printed and pasted back.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass


class Provider(enum.StrEnum):
    """Which cloud hands out the node's address blocks."""

    AWS = "aws"
    """EC2: ENI secondary IPv4 addresses or /28 prefixes."""
    GCE = "gce"
    """Compute Engine: alias IP ranges on the node's NIC."""


class Dataplane(enum.StrEnum):
    """Who wires pods into the network."""

    KERNEL = "kernel"
    """The daemon wires each pod (veth, routes, rules, SNAT) in the kernel."""
    NONE = "none"
    """IPAM only: addresses are handed out, wiring is left to another plugin."""


class RandomizeSnat(enum.StrEnum):
    """Source-port selection of the SNAT rule (aws-node's ``AWS_VPC_K8S_CNI_RANDOMIZESNAT``)."""

    PRNG = "prng"
    """Fully random ports (iptables ``--random-fully``, nftables ``fully-random``)."""
    HASHRANDOM = "hashrandom"
    """Hash-based random ports (iptables ``--random``, nftables ``random``)."""
    NONE = "none"
    """No randomisation: ports stay in the kernel's usual allocation order."""


class WarmPoolMode(enum.StrEnum):
    """Who sizes the warm pool (``WARM_POOL_MODE``)."""

    STATIC = "static"
    """The targets as configured (WARM_ENI_TARGET, WARM_IP_TARGET, ...), as aws-node does."""
    ADAPTIVE = "adaptive"
    """The node sizes it from the pod arrival rate and the cloud's measured latency."""


class LogLevel(enum.StrEnum):
    """Log levels, with aws-node's names (``AWS_VPC_K8S_CNI_LOGLEVEL``)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"

    @property
    def python_level(self) -> int:
        """The :mod:`logging` level (``WARN`` is ``WARNING``, ``FATAL`` is ``CRITICAL``)."""
        return {
            LogLevel.DEBUG: logging.DEBUG,
            LogLevel.INFO: logging.INFO,
            LogLevel.WARN: logging.WARNING,
            LogLevel.ERROR: logging.ERROR,
            LogLevel.FATAL: logging.CRITICAL,
        }[self]


class LogFormat(enum.StrEnum):
    """How the daemon writes a log record; either way one record is one line."""

    LOGFMT = "logfmt"
    """``key=value`` pairs (``ts=... level=info logger=... msg="..."``), for people and grep."""
    JSON = "json"
    """One JSON object per line, for log pipelines."""


@dataclass(frozen=True, slots=True)
class BindAddress:
    """Where a server listens: a TCP ``host:port`` or a unix socket path.

    ``str()`` gives the form the environment takes: ``127.0.0.1:61679``, ``:61678`` (every
    address), ``[::1]:61679`` or ``unix:/run/vpc-ipam/introspect.sock``.
    """

    host: str = ""
    """Host name or IP literal (IPv6 without brackets); empty means every local address."""
    port: int = 0
    """TCP port, 1..65535; 0 for a unix socket."""
    unix_path: str | None = None
    """Absolute path of a unix socket, or None for TCP."""

    @property
    def is_unix(self) -> bool:
        """True for a unix socket address."""
        return self.unix_path is not None

    def __str__(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
