"""Network namespace handles: proving a path is one, and netlink sockets inside one.

A CNI runtime hands us a path (``/var/run/netns/cni-…`` or ``/proc/<pid>/ns/net``). Before
anything is created there it is opened and asked, with the ``NS_GET_NSTYPE`` ioctl, what
kind of namespace it is: a regular file, a directory or a mount namespace is refused, and so
is the namespace the host side of the veth lives in (wiring a "pod" into the node itself
would give the node a default route to 169.254.1.1). The opened descriptor is then what is
used, so the namespace checked is the namespace wired.

pyroute2 0.9 puts a netlink socket into another namespace by forking a child that calls
setns() and passes the socket back; ``flags=0`` matters, because its default (``O_CREAT``)
would create a missing named namespace instead of failing.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute

NS_GET_NSTYPE = 0xB703
"""ioctl on a namespace file: returns its CLONE_NEW* type (linux/nsfs.h, Linux 4.11+)."""
CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/var/run/netns"


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
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
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


def netlink(netns: str | int | None) -> IPRoute:
    """An rtnetlink socket in a namespace: None = ours, a name or path, or an open fd.

    Never creates a namespace (a missing name is an error)."""
    if netns is None:
        return IPRoute()
    return IPRoute(netns=netns, flags=0)
