"""The wire protocol's message records: what a request and a reply carry, per operation.

Plain records on cni._base.Record (not dataclasses: the binary pays for every import, once
per pod). The codec (cni.wire) validates and encodes them.
"""

from __future__ import annotations

from cni._base import Record
from cni.errors import CniError
from cni.netconf import GCAttachment

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class PodArgs(Record):
    """Arguments of add, del and check. ``prev_result`` (del/check only) is the CNI result
    object as the runtime passed it, or None; the daemon parses it."""

    __slots__ = (
        "container_id",
        "ifname",
        "netns",
        "network",
        "pod_name",
        "pod_namespace",
        "pod_uid",
        "prev_result",
    )
    network: str
    container_id: str
    ifname: str
    netns: str
    pod_namespace: str
    pod_name: str
    pod_uid: str
    prev_result: dict[str, object] | None

    def __init__(
        self,
        *,
        network: str,
        container_id: str,
        ifname: str,
        netns: str = "",
        pod_namespace: str = "",
        pod_name: str = "",
        pod_uid: str = "",
        prev_result: dict[str, object] | None = None,
    ) -> None:
        self.network, self.container_id, self.ifname = network, container_id, ifname
        self.netns, self.pod_namespace, self.pod_name = netns, pod_namespace, pod_name
        self.pod_uid, self.prev_result = pod_uid, prev_result


class GcArgs(Record):
    """``valid_attachments`` None means "not given", which is not the same as empty."""

    __slots__ = ("network", "valid_attachments")
    network: str
    valid_attachments: tuple[GCAttachment, ...] | None

    def __init__(
        self, *, network: str, valid_attachments: tuple[GCAttachment, ...] | None = None
    ) -> None:
        self.network, self.valid_attachments = network, valid_attachments


class StatusArgs(Record):
    __slots__ = ("network",)
    network: str

    def __init__(self, *, network: str) -> None:
        self.network = network


class HealthArgs(Record):
    __slots__ = ()


class RepairArgs(Record):
    """``findings``: ids of the doctor's findings to repair (vpc-ipamctl doctor --repair)."""

    __slots__ = ("findings",)
    findings: tuple[str, ...]

    def __init__(self, *, findings: tuple[str, ...] = ()) -> None:
        self.findings = findings


if TYPE_CHECKING:
    Args = PodArgs | GcArgs | StatusArgs | HealthArgs | RepairArgs

_ARGS_TYPE: dict[str, Callable[..., Args]] = {
    "add": PodArgs,
    "del": PodArgs,
    "check": PodArgs,
    "gc": GcArgs,
    "status": StatusArgs,
    "health": HealthArgs,
    "repair": RepairArgs,
}


class Request(Record):
    __slots__ = ("args", "deadline_ms", "op", "request_id")
    op: str
    args: Args
    request_id: str  # "id" on the wire; for logs on both sides
    deadline_ms: int  # how long the client waits; the daemon must answer well before

    def __init__(self, *, op: str, args: Args, request_id: str, deadline_ms: int) -> None:
        self.op, self.args, self.request_id, self.deadline_ms = op, args, request_id, deadline_ms


class Reply(Record):
    """Exactly one of ``result`` and ``error`` is set."""

    __slots__ = ("error", "result")
    result: dict[str, object] | None
    error: CniError | None

    def __init__(
        self, *, result: dict[str, object] | None = None, error: CniError | None = None
    ) -> None:
        if (result is None) == (error is None):
            raise ValueError("a Reply has exactly one of result and error")
        self.result, self.error = result, error

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> dict[str, object]:
        """The result, or raise the daemon's error unchanged."""
        if self.error is not None:
            raise self.error
        assert self.result is not None  # the constructor guarantees it
        return self.result
