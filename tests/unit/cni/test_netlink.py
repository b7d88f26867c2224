"""The rtnetlink messages the DEL fallback sends, byte for byte, and how replies are read.

(Sending them is tested in tests/cni, inside a network namespace.)
"""

from __future__ import annotations

import errno
import struct

import pytest

from cni import netlink


def test_getlink_by_name_is_a_request_with_the_name_attribute():
    data = netlink.getlink_request("eni1a2b", seq=7)

    assert data == (
        # nlmsghdr: length 44, RTM_GETLINK (18), NLM_F_REQUEST, seq 7, pid 0
        b"\x2c\x00\x00\x00"
        b"\x12\x00"
        b"\x01\x00"
        b"\x07\x00\x00\x00"
        b"\x00\x00\x00\x00"
        # ifinfomsg: AF_UNSPEC, pad, type 0, index 0, flags 0, change 0
        b"\x00\x00\x00\x00"
        b"\x00\x00\x00\x00"
        b"\x00\x00\x00\x00"
        b"\x00\x00\x00\x00"
        # rtattr IFLA_IFNAME (3), length 12: "eni1a2b\0", no padding needed
        b"\x0c\x00\x03\x00"
        b"eni1a2b\x00"
    )


def test_a_name_attribute_is_padded_to_four_bytes():
    data = netlink.getlink_request("eni1", seq=1)

    assert struct.unpack_from("=I", data)[0] == len(data) == 16 + 16 + 12
    assert data[32:] == b"\x09\x00\x03\x00eni1\x00\x00\x00\x00"


def test_dellink_by_index_asks_for_an_ack():
    data = netlink.dellink_request(42, seq=2)

    assert data == (
        # length 32, RTM_DELLINK (17), NLM_F_REQUEST | NLM_F_ACK, seq 2, pid 0
        b"\x20\x00\x00\x00"
        b"\x11\x00"
        b"\x05\x00"
        b"\x02\x00\x00\x00"
        b"\x00\x00\x00\x00"
        # ifinfomsg with index 42
        b"\x00\x00\x00\x00"
        b"\x2a\x00\x00\x00"
        b"\x00\x00\x00\x00"
        b"\x00\x00\x00\x00"
    )


def newlink(index: int, seq: int, *attrs: bytes) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, 0, 0) + b"".join(attrs)
    return netlink.message(netlink.RTM_NEWLINK, 0, seq, body)


def error_reply(seq: int, error: int) -> bytes:
    return netlink.message(netlink.NLMSG_ERROR, 0, seq, struct.pack("=i", error) + bytes(16))


def test_a_newlink_reply_gives_the_index_and_kind():
    info = netlink.attribute(netlink.IFLA_INFO_KIND, b"veth\x00")
    nested = netlink.IFLA_LINKINFO | 0x8000  # NLA_F_NESTED, as the kernel sets it
    reply = newlink(
        9,
        1,
        netlink.attribute(netlink.IFLA_IFNAME, b"eni1a2b\x00"),
        netlink.attribute(nested, info),
    )

    msg_type, payload = netlink.parse_reply(reply, 1) or (0, b"")

    assert msg_type == netlink.RTM_NEWLINK
    assert netlink.link_kind(payload) == (9, "veth")


def test_a_link_without_linkinfo_has_no_kind():
    reply = newlink(1, 1, netlink.attribute(netlink.IFLA_IFNAME, b"lo\x00"))
    _, payload = netlink.parse_reply(reply, 1) or (0, b"")

    assert netlink.link_kind(payload) == (1, "")


def test_messages_for_other_requests_are_skipped():
    assert netlink.parse_reply(error_reply(5, 0), 6) is None
    assert netlink.parse_reply(error_reply(5, 0) + error_reply(6, 0), 6) == (
        netlink.NLMSG_ERROR,
        struct.pack("=i", 0) + bytes(16),
    )


def test_an_error_reply_raises_its_errno():
    with pytest.raises(OSError) as info:
        netlink.parse_reply(error_reply(3, -errno.ENODEV), 3)

    assert info.value.errno == errno.ENODEV
