"""Portal: a TCP forwarder from a network namespace's loopback to the host's loopback.

The sandbox runs its daemons inside node namespaces, but the emulators (EC2, IMDS, ...) live in
the test or sandbox process and listen on the host's 127.0.0.1, which a namespace cannot reach.
A Portal listens on ``127.0.0.1:<port>`` *inside* one namespace and carries each connection
made there to one loopback address of the host, byte for byte, both ways. It carries nothing
else: the target must be a host loopback address, the listener is never in the host's own
namespace, and no route, address or link is added anywhere.

Owned here: making sockets inside a namespace (``socket_in_netns``, ``listen_in_netns``, also
for other sandbox code that serves directly inside a namespace) and the forwarder itself.
Not owned: the namespaces. A missing namespace is an error (one is never created), and the
caller brings the namespace's loopback up (``ip -n NAME link set lo up``): a fresh namespace
has ``lo`` down, and listening on 127.0.0.1 there is refused with ``LoopbackDown``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import itertools
import logging
import os
import socket
import struct
import threading
import time
from pathlib import Path
from types import TracebackType

from ipamd.dataplane.nsfd import in_namespace
from sandbox.acceptor import Acceptor

log = logging.getLogger(__name__)

NETNS_DIR = Path("/var/run/netns")
SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1
MAX_CONNECTIONS = 256
BUFFER = 256 * 1024


class NetnsNotFound(FileNotFoundError):
    """The named network namespace does not exist (it is never created here)."""


class LoopbackDown(OSError):
    """The namespace's ``lo`` is down, so nothing in it can reach its 127.0.0.1."""


def netns_path(netns: str) -> Path:
    """``netns`` as a file: a name under /var/run/netns (as ``ip netns add`` makes) or an
    absolute path (e.g. /proc/PID/ns/net). Raises ``NetnsNotFound`` if it does not exist and
    ``ValueError`` if it is the host's own namespace or a relative path."""
    if not netns:
        raise ValueError("empty network namespace name")
    if netns.startswith("/"):
        path = Path(netns)
    elif "/" in netns or netns in (".", ".."):
        raise ValueError(
            f"network namespace {netns!r}: a name under {NETNS_DIR} or an absolute path"
        )
    else:
        path = NETNS_DIR / netns
    try:
        found = path.stat()
    except FileNotFoundError:
        raise NetnsNotFound(
            errno.ENOENT, f"network namespace {netns!r} not found (no {path})", str(path)
        ) from None
    host = os.stat("/proc/self/ns/net")
    if (found.st_dev, found.st_ino) == (host.st_dev, host.st_ino):
        raise ValueError(f"network namespace {netns!r} is the host's own; refusing to use it")
    return path


def socket_in_netns(
    netns: str,
    family: socket.AddressFamily = socket.AF_INET,
    kind: socket.SocketKind = socket.SOCK_STREAM,
    proto: int = 0,
) -> socket.socket:
    """A new socket belonging to ``netns``: bind, connect and listen on it act in that namespace,
    whichever thread calls them. The calling thread and the process stay where they are.
    ``proto`` as for ``socket.socket`` (e.g. ``IPPROTO_ICMP`` for a raw ICMP socket)."""
    fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        return in_namespace(fd, lambda: socket.socket(family, kind, proto))
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
        raise OSError(
            error.errno, f"cannot enter network namespace {netns!r}: not a network namespace"
        ) from error
    finally:
        os.close(fd)


def loopback_is_up(sock: socket.socket) -> bool:
    """Whether ``lo`` is up in the namespace ``sock`` belongs to (the ioctl asks there)."""
    request = struct.pack("16sh22x", b"lo", 0)
    flags: int = struct.unpack("16sh22x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
    return bool(flags & IFF_UP)


def listen_in_netns(netns: str, host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A TCP socket listening on ``host:port`` inside ``netns`` (port 0: the kernel picks one,
    read it from ``getsockname()``). ``host`` is an IP literal of that namespace. Listening on a
    loopback address while the namespace's ``lo`` is down raises ``LoopbackDown``: for IPv4 the
    bind itself succeeds there, and every connection would then fail."""
    address = ipaddress.ip_address(host)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket_in_netns(netns, family)
    try:
        if address.is_loopback and not loopback_is_up(sock):
            enter = f"nsenter --net={netns} ip" if netns.startswith("/") else f"ip -n {netns}"
            raise LoopbackDown(
                errno.ENETDOWN,
                f"loopback of network namespace {netns!r} is down; "
                f"bring it up first: {enter} link set lo up",
            )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class _Link:
    """One forwarded connection: the client's socket inside the namespace and its upstream on
    host loopback. Sockets are only shut down from other threads, and closed by the link's own
    thread once both directions are done, so no thread ever uses a closed descriptor."""

    def __init__(self, client: socket.socket, thread_name: str) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.thread_name = thread_name
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._aborted = False

    def attach(self, upstream: socket.socket) -> bool:
        with self._lock:
            if self._aborted:
                return False
            self.upstream = upstream
            return True

    def abort(self) -> None:
        """Wakes both directions; each then ends (blocked recv sees EOF, send fails)."""
        with self._lock:
            self._aborted = True
            ends = [self.client, self.upstream]
        for end in ends:
            if end is not None:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.client.close()
        if self.upstream is not None:
            self.upstream.close()


def _pump(src: socket.socket, dst: socket.socket, link: _Link) -> None:
    """Copies ``src`` to ``dst`` until EOF, then half-closes ``dst``; any error ends the link."""
    try:
        while data := src.recv(BUFFER):
            dst.sendall(data)
    except OSError:
        link.abort()
        return
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        link.abort()


class Portal:
    """Forwards connections made to ``listen_host:listen_port`` inside ``netns`` to ``target``
    (a host loopback address). At most ``max_connections`` at once; a connection beyond that
    is closed as soon as it is accepted. Threads are daemons named ``portal[NETNS:PORT]...``."""

    def __init__(
        self,
        netns: str,
        target: tuple[str, int],
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        max_connections: int = MAX_CONNECTIONS,
        connect_timeout: float = 5.0,
    ) -> None:
        host, port = target
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"portal target {host!r} is not a loopback IP address")
        if not 0 < port < 65536:
            raise ValueError(f"portal target port {port} out of range")
        ipaddress.ip_address(listen_host)  # ValueError unless an IP literal
        if not 0 <= listen_port < 65536:
            raise ValueError(f"portal listen port {listen_port} out of range")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        netns_path(netns)  # fails early: missing namespace, or the host's own
        self._netns = netns
        self._target = (host, port)
        self._listen_host = listen_host
        self._listen_port = listen_port
        self._max = max_connections
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._count = itertools.count(1)
        self._acceptor = Acceptor(
            name=lambda port: f"portal[{netns}:{port}]-accept",
            on_accept=lambda client, _peer: self._admit(client),
        )

    @property
    def port(self) -> int:
        """The listening port inside the namespace."""
        if not self._acceptor.started:
            raise RuntimeError("portal not started")
        return self._acceptor.port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` as seen from inside the namespace."""
        host = self._listen_host
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections being forwarded now."""
        with self._lock:
            return len(self._links)

    def start(self) -> Portal:
        if self._acceptor.started or self._acceptor.stopping:
            raise RuntimeError("a portal starts once")
        self._acceptor.start(listen_in_netns(self._netns, self._listen_host, self._listen_port))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Closes the listener and every live connection and joins the threads, waiting at most
        about ``timeout`` seconds in all. Idempotent."""
        if self._acceptor.stopping or not self._acceptor.started:
            self._acceptor.stop()
            return
        deadline = time.monotonic() + timeout
        ended = self._acceptor.stop(timeout)
        # The acceptor has ended, so no link is added from here on and each has its thread.
        with self._lock:
            links = list(self._links)
        for link in links:
            link.abort()
        for link in links:
            if link.thread is not None:
                link.thread.join(max(0.0, deadline - time.monotonic()))
        left = [link.thread_name for link in links if link.thread and link.thread.is_alive()]
        if left or not ended:
            log.warning("portal %s: threads still running after stop: %s", self._name, left)

    def __enter__(self) -> Portal:
        return self if self._acceptor.started else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def _name(self) -> str:
        return f"portal[{self._netns}:{self._acceptor.port}]"

    def _admit(self, client: socket.socket) -> None:
        client.setblocking(True)
        with self._lock:
            full = len(self._links) >= self._max
            if not full:
                link = _Link(client, f"{self._name}-link{next(self._count)}")
                self._links.add(link)
        if full:
            log.warning(
                "portal %s: %d connections already; closing a new one", self._name, self._max
            )
            client.close()
            return
        link.thread = threading.Thread(
            target=self._serve, args=(link,), name=link.thread_name, daemon=True
        )
        link.thread.start()

    def _serve(self, link: _Link) -> None:
        try:
            try:
                upstream = socket.create_connection(self._target, timeout=self._connect_timeout)
            except OSError as e:
                log.debug("portal %s: cannot reach %s: %s", self._name, self._target, e)
                return
            upstream.settimeout(None)
            if not link.attach(upstream):
                upstream.close()
                return
            down = threading.Thread(
                target=_pump,
                args=(upstream, link.client, link),
                name=f"{link.thread_name}-down",
                daemon=True,
            )
            down.start()
            _pump(link.client, upstream, link)
            down.join()
        finally:
            link.close()
            with self._lock:
                self._links.discard(link)
