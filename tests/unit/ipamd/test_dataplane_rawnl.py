"""rawnl and nlmsg without a kernel: a socket that replays datagrams."""

from __future__ import annotations

import errno
import struct
from ipaddress import IPv4Network

import pytest

from ipamd.dataplane import nlmsg, rawnl

HDR = struct.Struct("=IHHII")


class ReplaySocket:
    """Stands for a netlink socket: keeps what is sent, answers with the datagrams queued
    for each request (their sequence numbers set to the request's)."""

    def __init__(self, *answers: list[tuple[int, int, bytes]]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []
        self.pending: list[bytes] = []

    def bind(self, address: tuple[int, int]) -> None:
        pass

    def settimeout(self, seconds: float) -> None:
        pass

    def setsockopt(self, level: int, option: int, value: int) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        seq = HDR.unpack_from(data)[3]
        for kind, flags, payload in self.answers.pop(0):
            self.pending.append(HDR.pack(HDR.size + len(payload), kind, flags, seq, 0) + payload)
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.pending.pop(0)

    def close(self) -> None:
        pass


def error(code: int) -> tuple[int, int, bytes]:
    return (nlmsg.NLMSG_ERROR, 0, struct.pack("=i", code) + bytes(16))


def done(flags: int = 0) -> tuple[int, int, bytes]:
    return (nlmsg.NLMSG_DONE, flags, struct.pack("=i", 0))


def rule_message(priority: int, table: int, src: str | None, dst: str | None) -> bytes:
    return rawnl.Channel._rule(
        priority,
        table,
        None if src is None else IPv4Network(f"{src}/32"),
        None if dst is None else IPv4Network(f"{dst}/32"),
        nlmsg.FR_ACT_TO_TBL,
    )


def test_attributes_are_padded_to_four_bytes_and_read_back():
    data = nlmsg.attr_str(nlmsg.IFLA_IFNAME, "eth0") + nlmsg.attr_u32(nlmsg.IFLA_MTU, 1400)
    assert len(data) == 12 + 8  # 4 + "eth0\0" padded to 8, then 4 + 4
    found = nlmsg.parse_attrs(data)
    assert found[nlmsg.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", found[nlmsg.IFLA_MTU]) == (1400,)


def test_a_rule_request_reads_back_as_the_rule_it_asks_for():
    rule = nlmsg.parse_rule(rule_message(1536, 3, "10.0.2.7", None))
    assert rule == nlmsg.Rule(1536, 3, "10.0.2.7", 32, None, 0)


def test_an_error_answer_is_raised_with_its_errno():
    channel = rawnl.Channel(ReplaySocket([error(-errno.EEXIST)]))  # type: ignore[arg-type]
    with pytest.raises(rawnl.NetlinkError) as raised:
        channel.add_rule(512, 254, dst=IPv4Network("10.0.2.7/32"))
    assert raised.value.errno == errno.EEXIST
    assert isinstance(raised.value, OSError)


def test_deleting_what_is_gone_is_not_an_error():
    channel = rawnl.Channel(ReplaySocket([error(-errno.ENOENT)], [error(0)]))  # type: ignore[arg-type]
    assert channel.delete_rule(512, dst=IPv4Network("10.0.2.7/32")) is False
    assert channel.delete_rule(512, dst=IPv4Network("10.0.2.7/32")) is True


def test_a_get_of_nothing_is_none():
    channel = rawnl.Channel(ReplaySocket([error(-errno.ENODEV)]))  # type: ignore[arg-type]
    assert channel.link("eni0123456789ab") is None


def test_an_interrupted_dump_is_asked_again_and_filtered_by_address():
    ours = rule_message(512, 254, None, "10.0.2.7")
    other = rule_message(512, 254, None, "10.0.2.8")
    sock = ReplaySocket(
        [(nlmsg.RTM_NEWRULE, nlmsg.NLM_F_MULTI | nlmsg.NLM_F_DUMP_INTR, ours), done()],
        [(nlmsg.RTM_NEWRULE, nlmsg.NLM_F_MULTI, other), (nlmsg.RTM_NEWRULE, 2, ours), done()],
    )
    channel = rawnl.Channel(sock)  # type: ignore[arg-type]
    assert channel.rules_of("10.0.2.7") == [nlmsg.Rule(512, 254, None, 0, "10.0.2.7", 32)]
    assert len(sock.sent) == 2


def test_a_dump_interrupted_every_time_fails():
    answer = [(nlmsg.RTM_NEWRULE, nlmsg.NLM_F_DUMP_INTR, b""), done()]
    sock = ReplaySocket(*[answer] * rawnl.DUMP_ATTEMPTS)
    channel = rawnl.Channel(sock)  # type: ignore[arg-type]
    with pytest.raises(rawnl.NetlinkError) as raised:
        channel.rules_of("10.0.2.7")
    assert raised.value.errno == errno.EINTR
