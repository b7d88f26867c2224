"""Network namespace handles: proving a path is one, and netlink sockets inside one.

A CNI runtime hands us a path (``/var/run/netns/cni-…`` or ``/proc/<pid>/ns/net``). Before
anything is created there it is opened and asked, with the ``NS_GET_NSTYPE`` ioctl, what
kind of namespace it is: a regular file, a directory or a mount namespace is refused, and so
is the namespace the host side of the veth lives in (wiring a "pod" into the node itself
would give the node a default route to 169.254.1.1). The opened descriptor is then what is
used, so the namespace checked is the namespace wired.

A netlink socket for another namespace is made by a short-lived thread that calls setns()
(which moves only the calling thread), opens the socket and ends; the socket keeps that
namespace for life and is handed to pyroute2 (``netlink``) or to ``rawnl`` (``channel``, the
per-pod path). Not pyroute2's own ``netns=``, which forks a
child to do it: forking a multi-threaded daemon can leave the child blocked forever on a
lock another thread held at the fork (seen: an ADD that never answered, and an orphaned
child left behind).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from pyroute2 import IPRoute

from ipamd.dataplane import rawnl

NS_GET_NSTYPE = 0xB703
"""ioctl on a namespace file: returns its CLONE_NEW* type (linux/nsfs.h, Linux 4.11+)."""
CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/var/run/netns"
NETLINK_ROUTE = 0

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class NotANetworkNamespace(ValueError):
    """The path given as a pod's network namespace is not a usable one."""


def netns_path(name: str | None) -> str:
    """The file of a host namespace: a name under /var/run/netns, a path, or our own."""
    if name is None:
        return "/proc/thread-self/ns/net"
    return name if "/" in name else f"{NETNS_RUN_DIR}/{name}"


def open_netns(path: str) -> int:
    """An O_RDONLY descriptor of the network namespace at ``path``; the caller closes it.

    Raises NotANetworkNamespace when the path is empty, missing, or anything but a network
    namespace."""
    if not path:
        raise NotANetworkNamespace("no network namespace path was given")
    try:
        # a namespace file is a regular file (nsfs); anything else is refused before it is
        # opened, since opening a FIFO blocks until a writer comes and opening a device
        # can have effects of its own. O_NONBLOCK covers a path swapped in between.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise NotANetworkNamespace(f"{path} is not a namespace file")
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as error:
        raise NotANetworkNamespace(f"{path} cannot be opened: {error.strerror}") from error
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.ENOTTY, errno.EINVAL):
            raise NotANetworkNamespace(f"{path} is not a namespace file") from error
        raise NotANetworkNamespace(f"{path} cannot be inspected: {error.strerror}") from error
    if kind != CLONE_NEWNET:
        os.close(fd)
        raise NotANetworkNamespace(f"{path} is a namespace, but not a network namespace")
    return fd


@contextmanager
def pod_netns(path: str, host_netns: str | None) -> Iterator[int]:
    """``open_netns`` that also refuses the host side's own namespace; closed on exit."""
    fd = open_netns(path)
    try:
        mine = os.fstat(fd)
        host = os.stat(netns_path(host_netns))
        if (mine.st_dev, mine.st_ino) == (host.st_dev, host.st_ino):
            raise NotANetworkNamespace(f"{path} is the node's own network namespace, not a pod's")
        yield fd
    finally:
        os.close(fd)


def in_namespace(fd: int, make: Callable[[], T]) -> T:
    """``make()`` run by a thread inside the network namespace ``fd``; what it returns (a
    socket) stays in that namespace. The calling thread's namespace never changes."""
    outcome: dict[str, object] = {}

    def enter() -> None:
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"setns: {os.strerror(code)}")
            outcome["value"] = make()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    thread = threading.Thread(target=enter, name="netns-enter", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def netlink(netns: str | int | None) -> IPRoute:
    """An rtnetlink socket in a namespace: None = ours, a name or path, or an open fd.

    Never creates a namespace (a missing name is an error)."""
    if netns is None:
        return IPRoute()
    if isinstance(netns, int):
        return _netlink_in(netns)
    fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _netlink_in(fd)
    finally:
        os.close(fd)


def channel(netns: str | int | None) -> rawnl.Channel:
    """A raw rtnetlink channel (``rawnl``) in a namespace: None = ours, a name or path, or
    an open fd. Never creates a namespace (a missing name is an error)."""
    if netns is None:
        return rawnl.Channel.here()
    if isinstance(netns, int):
        return rawnl.Channel(in_namespace(netns, rawnl.open_socket))
    fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        return rawnl.Channel(in_namespace(fd, rawnl.open_socket))
    finally:
        os.close(fd)


def _netlink_in(fd: int) -> IPRoute:
    # SOCK_DGRAM, not SOCK_RAW: pyroute2 hands the socket to asyncio's datagram endpoint
    sock = in_namespace(
        fd, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
    )
    return IPRoute(fileno=sock.detach())
