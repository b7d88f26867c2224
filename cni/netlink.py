"""Deleting one host-side veth over rtnetlink, with ``socket`` and ``struct`` only.

Used by the DEL fallback when vpc-ipamd is unreachable (the binary cannot afford pyroute2).
It acts in the network namespace the binary runs in (the runtime's: the host's). Two
requests: RTM_GETLINK by name, to learn the link's index and kind, and RTM_DELLINK by that
index, only if the kind is ``veth``: a name that happens to carry our prefix never costs the
node a physical or other virtual interface. A link that does not exist counts as deleted.
"""

from __future__ import annotations

import errno
import socket
import struct

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLMSG_ERROR = 2
IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND = 3, 18, 1
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

DELETED, ABSENT = "deleted", "absent"

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, pad, type, index, flags, change
_RTA = struct.Struct("=HH")  # rtattr: len, type
_ERR = struct.Struct("=i")  # nlmsgerr.error (a negative errno, 0 for an ack)


def _align(n: int) -> int:
    return (n + 3) & ~3


def attribute(kind: int, payload: bytes) -> bytes:
    length = _RTA.size + len(payload)
    return _RTA.pack(length, kind) + payload + bytes(_align(length) - length)


def message(msg_type: int, flags: int, seq: int, body: bytes) -> bytes:
    return _HDR.pack(_HDR.size + len(body), msg_type, flags, seq, 0) + body


def getlink_request(name: str, seq: int) -> bytes:
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return message(
        RTM_GETLINK, NLM_F_REQUEST, seq, body + attribute(IFLA_IFNAME, name.encode() + b"\0")
    )


def dellink_request(index: int, seq: int) -> bytes:
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    return message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)


def attributes(data: bytes) -> dict[int, bytes]:
    """Top-level attributes of a netlink payload (type with its flag bits stripped)."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset + _RTA.size <= len(data):
        length, kind = _RTA.unpack_from(data, offset)
        if length < _RTA.size:
            break
        found[kind & NLA_TYPE_MASK] = data[offset + _RTA.size : offset + length]
        offset += _align(length)
    return found


def parse_reply(data: bytes, seq: int) -> tuple[int, bytes] | None:
    """The (type, payload) of the message answering ``seq`` in ``data``, or None.
    An NLMSG_ERROR with a non-zero error raises OSError with that errno."""
    offset = 0
    while offset + _HDR.size <= len(data):
        length, msg_type, _flags, msg_seq, _pid = _HDR.unpack_from(data, offset)
        if length < _HDR.size:
            break
        payload = data[offset + _HDR.size : offset + length]
        offset += _align(length)
        if msg_seq != seq:
            continue
        if msg_type == NLMSG_ERROR:
            (error,) = _ERR.unpack_from(payload)
            if error:
                raise OSError(-error, f"netlink: {errno.errorcode.get(-error, -error)}")
        return msg_type, payload
    return None


def link_kind(payload: bytes) -> tuple[int, str]:
    """(index, kind) of an RTM_NEWLINK payload; kind is "" for a link without one."""
    index = _IFINFO.unpack_from(payload)[2]
    info = attributes(payload[_IFINFO.size :]).get(IFLA_LINKINFO, b"")
    kind = attributes(info).get(IFLA_INFO_KIND, b"")
    return index, kind.split(b"\0", 1)[0].decode(errors="replace")


def delete_veth(name: str, *, timeout: float = 5.0) -> str:
    """Delete the veth ``name``: DELETED, ABSENT, or the link's kind if it is not a veth
    (then nothing is done). OSError when netlink refuses."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0) as sock:
        sock.settimeout(timeout)
        sock.bind((0, 0))
        try:
            msg_type, payload = _ask(sock, getlink_request(name, 1), 1)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return ABSENT
            raise
        if msg_type != RTM_NEWLINK:
            raise OSError(errno.EPROTO, f"netlink: unexpected reply type {msg_type}")
        index, kind = link_kind(payload)
        if kind != "veth":
            return kind or "(no kind)"
        try:
            _ask(sock, dellink_request(index, 2), 2)
        except OSError as exc:
            if exc.errno == errno.ENODEV:  # gone meanwhile (its peer's pod went first)
                return ABSENT
            raise
        return DELETED


def _ask(sock: socket.socket, request: bytes, seq: int) -> tuple[int, bytes]:
    sock.sendto(request, (0, 0))
    while True:
        found = parse_reply(sock.recv(65536), seq)
        if found is not None:
            return found
