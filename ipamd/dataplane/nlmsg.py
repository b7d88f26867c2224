"""rtnetlink messages: the numbers, layouts and records the per-pod path speaks (rawnl).

Building a request and reading an answer, no socket: ``attr*`` build attributes,
``parse_*`` turn one message into a small typed record (``Link``, ``Route``, ...), and the
family headers are packed by ``ifinfo``/``rtmsg``/``rule_hdr``. The layouts are in
rawnl's docstring; ``ipamd.dataplane.rawnl.Channel`` sends and receives.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

# message types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_GETNEIGH = 28, 30
RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE = 32, 33, 34
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NAMES = {
    RTM_NEWLINK: "NEWLINK",
    RTM_DELLINK: "DELLINK",
    RTM_GETLINK: "GETLINK",
    RTM_SETLINK: "SETLINK",
    RTM_NEWADDR: "NEWADDR",
    RTM_GETADDR: "GETADDR",
    RTM_NEWROUTE: "NEWROUTE",
    RTM_DELROUTE: "DELROUTE",
    RTM_GETROUTE: "GETROUTE",
    RTM_NEWNEIGH: "NEWNEIGH",
    RTM_GETNEIGH: "GETNEIGH",
    RTM_NEWRULE: "NEWRULE",
    RTM_DELRULE: "DELRULE",
    RTM_GETRULE: "GETRULE",
}
"""Message type names, for logs and profiles."""

# nlmsghdr flags
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x1, 0x2, 0x4, 0x10
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
CREATE = NLM_F_CREATE | NLM_F_EXCL
"""Flags of an "add": create, and fail with EEXIST when it already exists."""

# attributes
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK = 1, 3, 4, 5
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD, IFLA_EXT_MASK = 18, 20, 28, 29
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
RTEXT_FILTER_SKIP_STATS = 1 << 3
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
NDA_DST, NDA_LLADDR, NDA_IFINDEX = 1, 2, 8
FRA_DST, FRA_SRC, FRA_PRIORITY, FRA_TABLE = 1, 2, 6, 15
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

# header values
IFF_UP = 0x1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTPROT_STATIC = 4
RTN_UNICAST = 1
RTM_F_FIB_MATCH = 0x2000
FR_ACT_TO_TBL = 1
MAIN_TABLE = 254
NUD_PERMANENT = 0x80

SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
NETLINK_ROUTE = 0

HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, port
IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, pad, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg (fib_rule_hdr has the same layout)
NDMSG = struct.Struct("=BxxxiHBB")  # ndmsg: family, pads, ifindex, state, flags, type
RTA = struct.Struct("=HH")  # rtattr: len, type
U32 = struct.Struct("=I")
ERR = struct.Struct("=i")  # nlmsgerr.error: a negative errno, 0 for an ack


def align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    length = RTA.size + len(payload)
    return RTA.pack(length, kind) + payload + bytes(align(length) - length)


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, U32.pack(value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def attr_ip(kind: int, address: str | IPv4Address) -> bytes:
    return attr(kind, IPv4Address(address).packed)


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` on, by type (flag bits stripped; the last of a type wins)."""
    found: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        length, kind = RTA.unpack_from(data, offset)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = bytes(data[offset + 4 : offset + length])
        offset += align(length)
    return found


def read_u32(value: bytes | None) -> int | None:
    return None if value is None else U32.unpack(value[:4])[0]


def read_ip(value: bytes | None) -> str | None:
    return None if value is None else str(IPv4Address(value[:4]))


def read_text(value: bytes | None) -> str | None:
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


def read_mac(value: bytes | None) -> str | None:
    return None if value is None else ":".join(f"{b:02x}" for b in value)


@dataclass(frozen=True)
class Link:
    index: int
    name: str | None
    flags: int
    mtu: int | None
    mac: str | None
    alias: str | None
    kind: str | None
    peer: int | None
    """IFLA_LINK: a veth's peer index (in the peer's namespace)."""

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)


@dataclass(frozen=True)
class Address:
    index: int
    address: str | None
    prefixlen: int


@dataclass(frozen=True)
class Route:
    dst: str | None
    """None for the default route."""
    dst_len: int
    table: int
    scope: int
    oif: int | None
    gateway: str | None


@dataclass(frozen=True)
class Neighbour:
    index: int
    dst: str | None
    mac: str | None
    state: int


@dataclass(frozen=True)
class Rule:
    priority: int
    table: int
    src: str | None
    src_len: int
    dst: str | None
    dst_len: int


def parse_link(msg: bytes) -> Link:
    _family, _type, index, flags, _change = IFINFO.unpack_from(msg)
    attrs = parse_attrs(msg, IFINFO.size)
    info = parse_attrs(attrs.get(IFLA_LINKINFO, b""))
    return Link(
        index=index,
        name=read_text(attrs.get(IFLA_IFNAME)),
        flags=flags,
        mtu=read_u32(attrs.get(IFLA_MTU)),
        mac=read_mac(attrs.get(IFLA_ADDRESS)),
        alias=read_text(attrs.get(IFLA_IFALIAS)),
        kind=read_text(info.get(IFLA_INFO_KIND)),
        peer=read_u32(attrs.get(IFLA_LINK)),
    )


def parse_address(msg: bytes) -> Address:
    _family, prefixlen, _flags, _scope, index = IFADDR.unpack_from(msg)
    attrs = parse_attrs(msg, IFADDR.size)
    return Address(index, read_ip(attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)), prefixlen)


def parse_route(msg: bytes) -> Route:
    _family, dst_len, _src_len, _tos, table, _proto, scope, _type, _flags = RTMSG.unpack_from(msg)
    attrs = parse_attrs(msg, RTMSG.size)
    return Route(
        dst=read_ip(attrs.get(RTA_DST)),
        dst_len=dst_len,
        table=read_u32(attrs.get(RTA_TABLE)) or table,
        scope=scope,
        oif=read_u32(attrs.get(RTA_OIF)),
        gateway=read_ip(attrs.get(RTA_GATEWAY)),
    )


def parse_neighbour(msg: bytes) -> Neighbour:
    _family, index, state, _flags, _type = NDMSG.unpack_from(msg)
    attrs = parse_attrs(msg, NDMSG.size)
    return Neighbour(index, read_ip(attrs.get(NDA_DST)), read_mac(attrs.get(NDA_LLADDR)), state)


def parse_rule(msg: bytes) -> Rule:
    _family, dst_len, src_len, _tos, table, _r1, _r2, _action, _flags = RTMSG.unpack_from(msg)
    attrs = parse_attrs(msg, RTMSG.size)
    return Rule(
        priority=read_u32(attrs.get(FRA_PRIORITY)) or 0,
        table=read_u32(attrs.get(FRA_TABLE)) or table,
        src=read_ip(attrs.get(FRA_SRC)),
        src_len=src_len,
        dst=read_ip(attrs.get(FRA_DST)),
        dst_len=dst_len,
    )


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def rtmsg(
    dst_len: int = 0,
    *,
    table: int = 0,
    protocol: int = 0,
    scope: int = RT_SCOPE_UNIVERSE,
    kind: int = 0,
    flags: int = 0,
) -> bytes:
    return RTMSG.pack(socket.AF_INET, dst_len, 0, 0, table, protocol, scope, kind, flags)


def rule_hdr(dst_len: int, src_len: int, table: int, action: int) -> bytes:
    header_table = table if table < 256 else 0  # a larger one only fits FRA_TABLE
    return RTMSG.pack(socket.AF_INET, dst_len, src_len, 0, header_table, 0, 0, action, 0)
