"""rtnetlink for the per-pod path, with ``socket`` and ``struct`` only.

One job: the requests that wire, unwire and check one pod, without pyroute2's per-message
cost (0.2-0.4 ms of Python to build and parse each message, and more to open a socket,
which comes with an asyncio event loop). pyroute2 stays for the node-wide work
(``node.py``, ``hostview``, the doctor).

Wire format (linux/netlink.h, linux/rtnetlink.h; host byte order): every message is an
``nlmsghdr`` (length, type, flags, sequence, port), a fixed family header, then attributes
(``rtattr``: length, type, payload, padded to 4 bytes). The family headers used here:

=============  ==========================================================  ==================
message        header                                                      attributes used
=============  ==========================================================  ==================
link           ifinfomsg: family, pad, type, index, flags, change           IFLA_IFNAME, _MTU,
                                                                           _ADDRESS, _LINK,
                                                                           _IFALIAS, _LINKINFO
address        ifaddrmsg: family, prefixlen, flags, scope, index           IFA_LOCAL, _ADDRESS
route          rtmsg: family, dst_len, src_len, tos, table, protocol,      RTA_DST, _OIF,
               scope, type, flags                                          _GATEWAY, _TABLE
neighbour      ndmsg: family, pad, pad, ifindex, state, flags, type        NDA_DST, _LLADDR
rule           fib_rule_hdr: family, dst_len, src_len, tos, table, res,    FRA_DST, _SRC,
               res, action, flags                                          _PRIORITY, _TABLE
=============  ==========================================================  ==================

A request asks for an acknowledgement (NLM_F_ACK): the kernel answers NLMSG_ERROR with
error 0 for success or a negative errno, which is raised as ``NetlinkError`` (an OSError
carrying that errno: ENOENT, ESRCH, ENODEV for "gone", EEXIST for "already there"). A get
answers one message; a dump (NLM_F_DUMP) answers many, in as many datagrams as it takes,
ending with NLMSG_DONE (one whose messages carry NLM_F_DUMP_INTR is asked again). The
socket asks for strict checking of dump requests (NETLINK_GET_STRICT_CHK, Linux 4.20+), so
a route dump can be limited to one table and one output interface by the kernel instead of
being filtered here.

Lookups return small typed records (``Link``, ``Route``, ...) rather than dictionaries.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from types import TracebackType

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

_HDR = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, pad, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg (fib_rule_hdr has the same layout)
_NDMSG = struct.Struct("=BxxxiHBB")  # ndmsg: family, pads, ifindex, state, flags, type
_RTA = struct.Struct("=HH")  # rtattr: len, type
_U32 = struct.Struct("=I")
_ERR = struct.Struct("=i")  # nlmsgerr.error: a negative errno, 0 for an ack
RECV_SIZE = 1 << 16
DUMP_ATTEMPTS = 5
TIMEOUT = 10.0
"""Seconds to wait for the kernel's answer (TimeoutError, an OSError, after that): the
kernel always answers, so this only keeps a request from hanging forever."""
GONE = (errno.ENOENT, errno.ESRCH, errno.ENODEV)
"""What the kernel answers when the thing to delete or read is already gone."""


class NetlinkError(OSError):
    """The kernel refused a request; ``errno`` is its reason."""

    def __init__(self, code: int, request: str) -> None:
        super().__init__(code, os.strerror(code))
        self.request = request


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    length = _RTA.size + len(payload)
    return _RTA.pack(length, kind) + payload + bytes(_align(length) - length)


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def attr_str(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def attr_ip(kind: int, address: str | IPv4Address) -> bytes:
    return attr(kind, IPv4Address(address).packed)


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` on, by type (flag bits stripped; the last of a type wins)."""
    found: dict[int, bytes] = {}
    end = len(data)
    while offset + 4 <= end:
        length, kind = _RTA.unpack_from(data, offset)
        if length < 4:
            break
        found[kind & NLA_TYPE_MASK] = bytes(data[offset + 4 : offset + length])
        offset += _align(length)
    return found


def _u32(value: bytes | None) -> int | None:
    return None if value is None else _U32.unpack(value[:4])[0]


def _ip(value: bytes | None) -> str | None:
    return None if value is None else str(IPv4Address(value[:4]))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.split(b"\0", 1)[0].decode(errors="replace")


def _mac(value: bytes | None) -> str | None:
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
    _family, _type, index, flags, _change = _IFINFO.unpack_from(msg)
    attrs = parse_attrs(msg, _IFINFO.size)
    info = parse_attrs(attrs.get(IFLA_LINKINFO, b""))
    return Link(
        index=index,
        name=_text(attrs.get(IFLA_IFNAME)),
        flags=flags,
        mtu=_u32(attrs.get(IFLA_MTU)),
        mac=_mac(attrs.get(IFLA_ADDRESS)),
        alias=_text(attrs.get(IFLA_IFALIAS)),
        kind=_text(info.get(IFLA_INFO_KIND)),
        peer=_u32(attrs.get(IFLA_LINK)),
    )


def parse_address(msg: bytes) -> Address:
    _family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(msg)
    attrs = parse_attrs(msg, _IFADDR.size)
    return Address(index, _ip(attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)), prefixlen)


def parse_route(msg: bytes) -> Route:
    _family, dst_len, _src_len, _tos, table, _proto, scope, _type, _flags = _RTMSG.unpack_from(msg)
    attrs = parse_attrs(msg, _RTMSG.size)
    return Route(
        dst=_ip(attrs.get(RTA_DST)),
        dst_len=dst_len,
        table=_u32(attrs.get(RTA_TABLE)) or table,
        scope=scope,
        oif=_u32(attrs.get(RTA_OIF)),
        gateway=_ip(attrs.get(RTA_GATEWAY)),
    )


def parse_neighbour(msg: bytes) -> Neighbour:
    _family, index, state, _flags, _type = _NDMSG.unpack_from(msg)
    attrs = parse_attrs(msg, _NDMSG.size)
    return Neighbour(index, _ip(attrs.get(NDA_DST)), _mac(attrs.get(NDA_LLADDR)), state)


def parse_rule(msg: bytes) -> Rule:
    _family, dst_len, src_len, _tos, table, _r1, _r2, _action, _flags = _RTMSG.unpack_from(msg)
    attrs = parse_attrs(msg, _RTMSG.size)
    return Rule(
        priority=_u32(attrs.get(FRA_PRIORITY)) or 0,
        table=_u32(attrs.get(FRA_TABLE)) or table,
        src=_ip(attrs.get(FRA_SRC)),
        src_len=src_len,
        dst=_ip(attrs.get(FRA_DST)),
        dst_len=dst_len,
    )


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def _rtmsg(
    dst_len: int = 0,
    *,
    table: int = 0,
    protocol: int = 0,
    scope: int = RT_SCOPE_UNIVERSE,
    kind: int = 0,
    flags: int = 0,
) -> bytes:
    return _RTMSG.pack(socket.AF_INET, dst_len, 0, 0, table, protocol, scope, kind, flags)


def _rule_hdr(dst_len: int, src_len: int, table: int, action: int) -> bytes:
    header_table = table if table < 256 else 0  # a larger one only fits FRA_TABLE
    return _RTMSG.pack(socket.AF_INET, dst_len, src_len, 0, header_table, 0, 0, action, 0)


class Channel:
    """One rtnetlink socket (already in the namespace it is to talk to); one request at a
    time, each answered before the next is sent. Closes its socket on exit."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seq = 0
        self.interrupted = False
        """Whether the last answer was a dump the kernel marked as interrupted."""
        sock.settimeout(TIMEOUT)
        sock.bind((0, 0))
        sock.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)

    @classmethod
    def here(cls) -> Channel:
        """A channel in the calling thread's network namespace."""
        return cls(open_socket())

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- the exchange -------------------------------------------------------------------

    def _exchange(self, msg_type: int, flags: int, body: bytes) -> list[bytes]:
        """Send one request; the payloads of its answer (none for an ack). Raises
        NetlinkError when the kernel answers with an error."""
        self.seq += 1
        seq = self.seq
        self.interrupted = False
        self.sock.send(_HDR.pack(_HDR.size + len(body), msg_type, flags, seq, 0) + body)
        replies: list[bytes] = []
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        while True:
            data = self.sock.recv(RECV_SIZE)
            offset = 0
            while offset + _HDR.size <= len(data):
                length, kind, msg_flags, msg_seq, _port = _HDR.unpack_from(data, offset)
                if length < _HDR.size:
                    break
                start, offset = offset + _HDR.size, offset + _align(length)
                if msg_seq != seq or kind == NLMSG_NOOP:
                    continue
                if msg_flags & NLM_F_DUMP_INTR:
                    self.interrupted = True
                if kind == NLMSG_DONE:
                    return replies
                if kind == NLMSG_ERROR:
                    (code,) = _ERR.unpack_from(data, start)
                    if code:
                        raise NetlinkError(-code, NAMES.get(msg_type, str(msg_type)))
                    return replies
                replies.append(data[start : start + length - _HDR.size])
                if not dump:
                    return replies

    def ack(self, msg_type: int, flags: int, body: bytes) -> None:
        self._exchange(msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, body)

    def get(self, msg_type: int, body: bytes) -> bytes | None:
        """The one message answering a get, or None when it names nothing (ENOENT, ESRCH,
        ENODEV)."""
        try:
            found = self._exchange(msg_type, NLM_F_REQUEST, body)
        except NetlinkError as error:
            if error.errno in GONE:
                return None
            raise
        return found[0] if found else None

    def dump(self, msg_type: int, body: bytes) -> list[bytes]:
        """Every message of a dump. One the kernel marks as interrupted (what it lists
        changed while it was listed, so something may be missing or twice) is asked
        again; NetlinkError EINTR after DUMP_ATTEMPTS of them."""
        for _ in range(DUMP_ATTEMPTS):
            found = self._exchange(msg_type, NLM_F_REQUEST | NLM_F_DUMP, body)
            if not self.interrupted:
                return found
        raise NetlinkError(errno.EINTR, NAMES.get(msg_type, str(msg_type)))

    # -- links --------------------------------------------------------------------------

    def link(self, name: str) -> Link | None:
        """The link named ``name``, or None."""
        if not name or len(name.encode()) >= 16:  # IFNAMSIZ, with the NUL
            return None
        msg = self.get(
            RTM_GETLINK,
            _ifinfo()
            + attr_str(IFLA_IFNAME, name)
            + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS),
        )
        return None if msg is None else parse_link(msg)

    def links(self) -> list[Link]:
        """Every link of the namespace (one dump, without their statistics)."""
        body = _ifinfo() + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        return [parse_link(msg) for msg in self.dump(RTM_GETLINK, body)]

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, mtu: int) -> None:
        """A veth ``name`` here and its peer ``peer`` in the namespace ``peer_netns_fd``, both
        down (the kernel refuses to bring the peer up before the pair is complete)."""
        peer_info = (
            _ifinfo()
            + attr_str(IFLA_IFNAME, peer)
            + attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
            + attr_u32(IFLA_MTU, mtu)
        )
        info = attr_str(IFLA_INFO_KIND, "veth") + attr(
            IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info)
        )
        body = (
            _ifinfo()
            + attr_str(IFLA_IFNAME, name)
            + attr_u32(IFLA_MTU, mtu)
            + attr(IFLA_LINKINFO, info)
        )
        self.ack(RTM_NEWLINK, CREATE, body)

    def set_link(self, index: int, *, up: bool = True, alias: str | None = None) -> None:
        """Bring link ``index`` up (and set its alias)."""
        body = _ifinfo(index, IFF_UP if up else 0, IFF_UP)
        if alias is not None:
            body += attr_str(IFLA_IFALIAS, alias)
        self.ack(RTM_NEWLINK, 0, body)

    def delete_link(self, index: int) -> bool:
        """Delete link ``index``; False when it was already gone."""
        try:
            self.ack(RTM_DELLINK, 0, _ifinfo(index))
        except NetlinkError as error:
            if error.errno in GONE:
                return False
            raise
        return True

    # -- addresses, routes, neighbours ---------------------------------------------------

    def addresses(self) -> list[Address]:
        """Every IPv4 address of this namespace."""
        body = _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)
        return [parse_address(msg) for msg in self.dump(RTM_GETADDR, body)]

    def add_address(self, index: int, address: str) -> None:
        """``address/32`` on link ``index``."""
        body = (
            _IFADDR.pack(socket.AF_INET, 32, 0, RT_SCOPE_UNIVERSE, index)
            + attr_ip(IFA_LOCAL, address)
            + attr_ip(IFA_ADDRESS, address)
        )
        self.ack(RTM_NEWADDR, CREATE, body)

    def add_route(
        self,
        dst: str,
        dst_len: int,
        *,
        oif: int,
        gateway: str | None = None,
        scope: int = RT_SCOPE_UNIVERSE,
        table: int = MAIN_TABLE,
        replace: bool = False,
    ) -> None:
        """A unicast route (protocol static); ``replace`` overwrites one to the same
        destination, otherwise one that exists is an EEXIST."""
        body = _rtmsg(
            dst_len,
            table=table if table < 256 else 0,
            protocol=RTPROT_STATIC,
            scope=scope,
            kind=RTN_UNICAST,
        )
        if dst_len:
            body += attr_ip(RTA_DST, dst)
        body += attr_u32(RTA_OIF, oif)
        if gateway is not None:
            body += attr_ip(RTA_GATEWAY, gateway)
        body += attr_u32(RTA_TABLE, table)
        flags = NLM_F_CREATE | NLM_F_REPLACE if replace else CREATE
        self.ack(RTM_NEWROUTE, flags, body)

    def routes(self, table: int, oif: int | None = None) -> list[Route]:
        """The IPv4 routes of ``table`` (through link ``oif`` only, when given), selected
        by the kernel (strict dump)."""
        body = _rtmsg(table=table if table < 256 else 0) + attr_u32(RTA_TABLE, table)
        if oif is not None:
            body += attr_u32(RTA_OIF, oif)
        return [
            route
            for route in map(parse_route, self.dump(RTM_GETROUTE, body))
            if route.table == table and (oif is None or route.oif == oif)
        ]

    def route_to(self, address: str) -> Route | None:
        """The route entry the kernel would use to reach ``address`` (``ip route get
        fibmatch``: the table entry itself, with its prefix), or None when unreachable."""
        body = _rtmsg(32, flags=RTM_F_FIB_MATCH) + attr_ip(RTA_DST, address)
        try:
            msg = self.get(RTM_GETROUTE, body)
        except NetlinkError as error:
            # no route, or one of type unreachable, prohibit or blackhole
            if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EACCES, errno.EINVAL):
                return None
            raise
        return None if msg is None else parse_route(msg)

    def add_neighbour(self, index: int, address: str, mac: str) -> None:
        """A permanent neighbour entry ``address`` at ``mac`` on link ``index``."""
        lladdr = bytes(int(part, 16) for part in mac.split(":"))
        body = (
            _NDMSG.pack(socket.AF_INET, index, NUD_PERMANENT, 0, 0)
            + attr_ip(NDA_DST, address)
            + attr(NDA_LLADDR, lladdr)
        )
        self.ack(RTM_NEWNEIGH, CREATE, body)

    def neighbours(self, index: int) -> list[Neighbour]:
        """The IPv4 neighbour entries of link ``index``."""
        body = _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0) + attr_u32(NDA_IFINDEX, index)
        return [n for n in map(parse_neighbour, self.dump(RTM_GETNEIGH, body)) if n.index == index]

    # -- rules --------------------------------------------------------------------------

    def add_rule(
        self,
        priority: int,
        table: int,
        *,
        src: IPv4Network | None = None,
        dst: IPv4Network | None = None,
    ) -> None:
        """``priority: [from src] [to dst] lookup table``; EEXIST when it is there."""
        self.ack(RTM_NEWRULE, CREATE, self._rule(priority, table, src, dst, FR_ACT_TO_TBL))

    def delete_rule(
        self,
        priority: int,
        table: int = 0,
        *,
        src: IPv4Network | None = None,
        dst: IPv4Network | None = None,
    ) -> bool:
        """Delete the first rule of ``priority`` with these selectors; False when there is
        none. The kernel matches what is given: a table of 0, or a selector left out,
        matches any."""
        try:
            self.ack(RTM_DELRULE, 0, self._rule(priority, table, src, dst, 0))
        except NetlinkError as error:
            if error.errno in GONE:
                return False
            raise
        return True

    def rules_of(self, address: str) -> list[Rule]:
        """The IPv4 rules whose source or destination is ``address``/32. The kernel cannot
        select rules, so this is a dump; only messages holding the address's bytes are
        parsed."""
        needle = IPv4Address(address).packed
        body = _rule_hdr(0, 0, 0, 0)
        found = []
        for msg in self.dump(RTM_GETRULE, body):
            if needle in msg:
                rule = parse_rule(msg)
                if (rule.src == address and rule.src_len == 32) or (
                    rule.dst == address and rule.dst_len == 32
                ):
                    found.append(rule)
        return found

    @staticmethod
    def _rule(
        priority: int,
        table: int,
        src: IPv4Network | None,
        dst: IPv4Network | None,
        action: int,
    ) -> bytes:
        dst_len = 0 if dst is None else dst.prefixlen
        src_len = 0 if src is None else src.prefixlen
        body = _rule_hdr(dst_len, src_len, table, action) + attr_u32(FRA_PRIORITY, priority)
        if table:
            body += attr_u32(FRA_TABLE, table)
        if dst is not None and dst_len:
            body += attr_ip(FRA_DST, dst.network_address)
        if src is not None and src_len:
            body += attr_ip(FRA_SRC, src.network_address)
        return body


def open_socket() -> socket.socket:
    """An rtnetlink socket in the calling thread's network namespace."""
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
