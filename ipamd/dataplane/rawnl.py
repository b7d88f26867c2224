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
from ipaddress import IPv4Address, IPv4Network
from types import TracebackType

from ipamd.dataplane.nlmsg import (
    CREATE,
    ERR,
    FR_ACT_TO_TBL,
    FRA_DST,
    FRA_PRIORITY,
    FRA_SRC,
    FRA_TABLE,
    HDR,
    IFA_ADDRESS,
    IFA_LOCAL,
    IFADDR,
    IFF_UP,
    IFLA_EXT_MASK,
    IFLA_IFALIAS,
    IFLA_IFNAME,
    IFLA_INFO_DATA,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_MTU,
    IFLA_NET_NS_FD,
    MAIN_TABLE,
    NAMES,
    NDA_DST,
    NDA_IFINDEX,
    NDA_LLADDR,
    NDMSG,
    NETLINK_GET_STRICT_CHK,
    NETLINK_ROUTE,
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_NOOP,
    NUD_PERMANENT,
    RT_SCOPE_UNIVERSE,
    RTA_DST,
    RTA_GATEWAY,
    RTA_OIF,
    RTA_TABLE,
    RTEXT_FILTER_SKIP_STATS,
    RTM_DELLINK,
    RTM_DELRULE,
    RTM_F_FIB_MATCH,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNEIGH,
    RTM_GETROUTE,
    RTM_GETRULE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
    RTM_NEWRULE,
    RTN_UNICAST,
    RTPROT_STATIC,
    SOL_NETLINK,
    VETH_INFO_PEER,
    Address,
    Link,
    Neighbour,
    Route,
    Rule,
    align,
    attr,
    attr_ip,
    attr_str,
    attr_u32,
    ifinfo,
    parse_address,
    parse_link,
    parse_neighbour,
    parse_route,
    parse_rule,
    rtmsg,
    rule_hdr,
)

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
        self.sock.send(HDR.pack(HDR.size + len(body), msg_type, flags, seq, 0) + body)
        replies: list[bytes] = []
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        while True:
            data = self.sock.recv(RECV_SIZE)
            offset = 0
            while offset + HDR.size <= len(data):
                length, kind, msg_flags, msg_seq, _port = HDR.unpack_from(data, offset)
                if length < HDR.size:
                    break
                start, offset = offset + HDR.size, offset + align(length)
                if msg_seq != seq or kind == NLMSG_NOOP:
                    continue
                if msg_flags & NLM_F_DUMP_INTR:
                    self.interrupted = True
                if kind == NLMSG_DONE:
                    return replies
                if kind == NLMSG_ERROR:
                    (code,) = ERR.unpack_from(data, start)
                    if code:
                        raise NetlinkError(-code, NAMES.get(msg_type, str(msg_type)))
                    return replies
                replies.append(data[start : start + length - HDR.size])
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
            ifinfo()
            + attr_str(IFLA_IFNAME, name)
            + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS),
        )
        return None if msg is None else parse_link(msg)

    def links(self) -> list[Link]:
        """Every link of the namespace (one dump, without their statistics)."""
        body = ifinfo() + attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
        return [parse_link(msg) for msg in self.dump(RTM_GETLINK, body)]

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, mtu: int) -> None:
        """A veth ``name`` here and its peer ``peer`` in the namespace ``peer_netns_fd``, both
        down (the kernel refuses to bring the peer up before the pair is complete)."""
        peer_info = (
            ifinfo()
            + attr_str(IFLA_IFNAME, peer)
            + attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
            + attr_u32(IFLA_MTU, mtu)
        )
        info = attr_str(IFLA_INFO_KIND, "veth") + attr(
            IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info)
        )
        body = (
            ifinfo()
            + attr_str(IFLA_IFNAME, name)
            + attr_u32(IFLA_MTU, mtu)
            + attr(IFLA_LINKINFO, info)
        )
        self.ack(RTM_NEWLINK, CREATE, body)

    def set_link(self, index: int, *, up: bool = True, alias: str | None = None) -> None:
        """Bring link ``index`` up (and set its alias)."""
        body = ifinfo(index, IFF_UP if up else 0, IFF_UP)
        if alias is not None:
            body += attr_str(IFLA_IFALIAS, alias)
        self.ack(RTM_NEWLINK, 0, body)

    def delete_link(self, index: int) -> bool:
        """Delete link ``index``; False when it was already gone."""
        try:
            self.ack(RTM_DELLINK, 0, ifinfo(index))
        except NetlinkError as error:
            if error.errno in GONE:
                return False
            raise
        return True

    # -- addresses, routes, neighbours ---------------------------------------------------

    def addresses(self) -> list[Address]:
        """Every IPv4 address of this namespace."""
        body = IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)
        return [parse_address(msg) for msg in self.dump(RTM_GETADDR, body)]

    def add_address(self, index: int, address: str) -> None:
        """``address/32`` on link ``index``."""
        body = (
            IFADDR.pack(socket.AF_INET, 32, 0, RT_SCOPE_UNIVERSE, index)
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
        body = rtmsg(
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
        body = rtmsg(table=table if table < 256 else 0) + attr_u32(RTA_TABLE, table)
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
        body = rtmsg(32, flags=RTM_F_FIB_MATCH) + attr_ip(RTA_DST, address)
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
            NDMSG.pack(socket.AF_INET, index, NUD_PERMANENT, 0, 0)
            + attr_ip(NDA_DST, address)
            + attr(NDA_LLADDR, lladdr)
        )
        self.ack(RTM_NEWNEIGH, CREATE, body)

    def neighbours(self, index: int) -> list[Neighbour]:
        """The IPv4 neighbour entries of link ``index``."""
        body = NDMSG.pack(socket.AF_INET, 0, 0, 0, 0) + attr_u32(NDA_IFINDEX, index)
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
        body = rule_hdr(0, 0, 0, 0)
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
        body = rule_hdr(dst_len, src_len, table, action) + attr_u32(FRA_PRIORITY, priority)
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
