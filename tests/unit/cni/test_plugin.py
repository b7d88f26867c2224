"""The pure parts of vpc-cni's commands: the pod from CNI_ARGS, chaining a result after a
previous plugin's, which host interfaces the DEL fallback may remove, and telling "the
daemon never answered" from "the daemon said no"."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path

import pytest

from cni import client
from cni.delfallback import host_veths
from cni.env import parse_cni_env
from cni.errors import TRY_AGAIN_LATER, CniError
from cni.plugin import chain, daemon_unreachable, pod_identity
from cni.result import DNS, Interface, IPConfig, Result, Route
from cni.wire import HealthArgs, encode_reply

ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "c1",
    "CNI_NETNS": "/var/run/netns/p",
    "CNI_IFNAME": "eth0",
}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
            "K8S_POD_INFRA_CONTAINER_ID=c1;K8S_POD_UID=7d1c",
            ("default", "web-0", "7d1c"),
        ),
        ("K8S_POD_NAME=web-0", ("", "web-0", "")),
        ("", ("", "", "")),
        ("K8S_POD_NAMESPACE=a;K8S_POD_NAMESPACE=b", ("b", "", "")),
    ],
)
def test_the_pod_comes_from_cni_args_and_other_keys_are_ignored(args, expected):
    env = parse_cni_env({**ENV, "CNI_ARGS": args})

    assert pod_identity(env) == expected


PREV = Result(
    interfaces=[Interface("cni0", mac="aa:bb:cc:dd:ee:ff"), Interface("eth0", sandbox="/n")],
    ips=[IPConfig(ip_interface("192.168.0.5/24"), interface=1)],
    routes=[Route(ip_network("192.168.0.0/16"))],
    dns=DNS(["192.168.0.1"]),
)


def test_a_chained_result_keeps_the_previous_one_and_appends_ours():
    ours = Result(
        interfaces=[Interface("enia1b2"), Interface("eth1", sandbox="/n")],
        ips=[IPConfig(ip_interface("10.0.1.5/32"), ip_address("169.254.1.1"), interface=1)],
        routes=[Route(ip_network("0.0.0.0/0"), ip_address("169.254.1.1"))],
    )

    merged = chain(PREV, ours)

    assert merged.interfaces == PREV.interfaces + ours.interfaces
    assert merged.ips == (
        PREV.ips[0],
        IPConfig(ip_interface("10.0.1.5/32"), ip_address("169.254.1.1"), interface=3),
    )
    assert merged.routes == PREV.routes + ours.routes
    assert merged.dns == PREV.dns


def test_a_chained_ipam_only_result_adds_its_address_tied_to_no_interface():
    ours = Result(ips=[IPConfig(ip_interface("10.0.1.5/32"))], dns=DNS(["10.0.0.2"]))

    merged = chain(PREV, ours)

    assert merged.ips[-1] == IPConfig(ip_interface("10.0.1.5/32"))
    assert merged.dns == DNS(["10.0.0.2"])


def test_the_fallback_removes_only_host_side_interfaces_with_our_prefix():
    prev = Result(
        interfaces=[
            Interface("enia1b2c3d4e5f"),  # ours, host side
            Interface("eth0", sandbox="/var/run/netns/p"),  # the pod's end
            Interface("eni0000", sandbox="/var/run/netns/p"),  # our prefix but in the pod
            Interface("cni0"),  # another plugin's bridge
            Interface("eni/evil"),  # not a name Linux allows
        ]
    )

    assert host_veths(prev, "eni") == ["enia1b2c3d4e5f"]
    assert host_veths(prev, "pod") == []
    assert host_veths(None, "eni") == []


@pytest.fixture
def sock_path() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="vc-", dir="/tmp"))
    try:
        yield directory / "ipamd.sock"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def client_error(path: Path, timeout: float = 2.0) -> CniError:
    with pytest.raises(CniError) as info:
        request = client.new_request("health", HealthArgs(), timeout=timeout)
        client.call(str(path), request, timeout=timeout)
    return info.value


def serve_once(path: Path, reply: bytes | None) -> tuple[socket.socket, threading.Thread]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            if reply is not None:
                conn.sendall(reply)

    thread = threading.Thread(target=serve)
    thread.start()
    return listener, thread


def test_no_socket_means_unreachable(sock_path):
    assert daemon_unreachable(client_error(sock_path))


def test_a_daemon_that_never_answers_is_unreachable(sock_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)  # connect succeeds through the backlog, nobody accepts
    try:
        assert daemon_unreachable(client_error(sock_path, timeout=0.2))
    finally:
        listener.close()


def test_a_daemon_that_closes_without_replying_is_unreachable(sock_path):
    listener, thread = serve_once(sock_path, None)
    try:
        assert daemon_unreachable(client_error(sock_path))
    finally:
        thread.join(5)
        listener.close()


def test_an_error_the_daemon_sent_is_its_answer_even_try_again_later(sock_path):
    busy = encode_reply(CniError(TRY_AGAIN_LATER, "vpc-ipamd is busy", "256 in progress"))
    listener, thread = serve_once(sock_path, busy)
    try:
        error = client_error(sock_path)
    finally:
        thread.join(5)
        listener.close()

    assert error.code == TRY_AGAIN_LATER
    assert not daemon_unreachable(error)
