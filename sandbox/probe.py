"""Probes: the traffic the sandbox's connectivity checks send, made in-process.

A check asks "can this pod reach that address, and with which source address does it arrive
there?" many times over, from many pod namespaces. Spawning ``ip netns exec ... ping`` per
probe costs a process each time (and this image has no ping binary), so every probe here makes
its socket inside the namespace with ``sandbox.portal.socket_in_netns`` and uses it from the
calling thread; neither the thread nor the process changes namespace.

Owned here: ``WhoAmI`` (a TCP server in a namespace that answers each connection with the
source address it saw, and records it), ``whoami`` (its client), and ``ping`` (one ICMP echo
over a raw socket). Not owned: the namespaces, links, addresses and routes; a probe never
changes any of them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import socket
import struct
import threading
import time
from types import TracebackType

from sandbox.acceptor import Acceptor
from sandbox.portal import listen_in_netns, socket_in_netns

log = logging.getLogger(__name__)

MAX_ANSWER = 4096
ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8


class ProbeFailed(Exception):
    """A probe from ``netns`` to ``destination`` got no answer: refused, timed out, unreachable.
    ``errno`` is the socket error's number when there was one (None for a timeout)."""

    def __init__(self, netns: str, destination: str, reason: str, errno: int | None) -> None:
        super().__init__(f"probe from network namespace {netns!r} to {destination}: {reason}")
        self.netns = netns
        self.destination = destination
        self.reason = reason
        self.errno = errno


def _endpoint(address: str, port: int) -> str:
    if ipaddress.ip_address(address).version == 6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


class WhoAmI:
    """A TCP server on ``address:port`` inside ``netns`` (port 0: the kernel picks one, see
    ``port``). Each connection is answered with the peer's source address and a newline, then
    closed; ``seen`` lists every source address so far, in order. One daemon thread, named
    ``whoami[NETNS:PORT]``, answers inline (an answer is a few bytes)."""

    def __init__(self, netns: str, address: str, port: int = 0) -> None:
        ipaddress.ip_address(address)  # ValueError unless an IP literal
        if not 0 <= port < 65536:
            raise ValueError(f"port {port} out of range")
        self.netns = netns
        self.address = address
        self._port = port
        self._lock = threading.Lock()
        self._seen: list[str] = []
        self._acceptor = Acceptor(
            name=lambda bound: f"whoami[{netns}:{bound}]",
            on_accept=lambda conn, peer: self._answer(conn, str(peer[0])),
        )

    @property
    def port(self) -> int:
        if not self._acceptor.started:
            raise RuntimeError("whoami server not started")
        return self._acceptor.port

    @property
    def seen(self) -> list[str]:
        """The source addresses of the connections answered so far (a copy)."""
        with self._lock:
            return list(self._seen)

    @property
    def thread(self) -> threading.Thread | None:
        return self._acceptor.thread

    def start(self) -> WhoAmI:
        if self._acceptor.started or self._acceptor.stopping:
            raise RuntimeError("a whoami server starts once")
        self._acceptor.start(listen_in_netns(self.netns, self.address, self._port))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops answering, joins the thread (at most ``timeout`` seconds) and closes the
        listener. Idempotent."""
        self._acceptor.stop(timeout)

    def __enter__(self) -> WhoAmI:
        return self if self._acceptor.started else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _answer(self, conn: socket.socket, source: str) -> None:
        with self._lock:
            self._seen.append(source)
        with conn:
            try:
                conn.settimeout(1.0)
                conn.sendall(source.encode() + b"\n")
                conn.shutdown(socket.SHUT_WR)
            except OSError as e:
                log.debug("whoami %s:%d: answering %s: %s", self.netns, self._port, source, e)


def whoami(
    netns: str, address: str, port: int, *, timeout: float = 3.0, source: str | None = None
) -> str:
    """Connects from inside ``netns`` to a ``WhoAmI`` at ``address:port`` and returns its
    answer: the source address the connection arrived with. ``source`` binds the local address
    first. Raises ``ProbeFailed`` when the connection is refused, times out (``timeout``
    covers connecting and reading) or is answered with nothing."""
    destination = _endpoint(address, port)
    deadline = time.monotonic() + timeout
    with socket_in_netns(netns, _family(address)) as sock:
        try:
            if source is not None:
                sock.bind((source, 0))
            sock.settimeout(timeout)
            sock.connect((address, port))
            answer = b""
            while len(answer) < MAX_ANSWER:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(MAX_ANSWER)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            raise ProbeFailed(netns, destination, f"timed out after {timeout:g}s", None) from None
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise ProbeFailed(netns, destination, reason, e.errno) from None
    text = answer.decode(errors="replace").strip()
    if not text:
        raise ProbeFailed(netns, destination, "connection closed without an answer", None)
    return text


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo_request(ident: int, sequence: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, sequence)
    checksum = _checksum(header + payload)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, checksum, ident, sequence) + payload


def _is_reply(packet: bytes, ident: int, sequence: int, payload: bytes) -> bool:
    """Whether ``packet`` (an IPv4 datagram, as a raw socket receives it) is the echo reply
    to our request: a raw ICMP socket sees every ICMP packet of its namespace."""
    if len(packet) < 20:
        return False
    start = (packet[0] & 0x0F) * 4
    icmp = packet[start:]
    if len(icmp) < 8:
        return False
    kind, code, _, got_ident, got_sequence = struct.unpack("!BBHHH", icmp[:8])
    return (kind, code, got_ident, got_sequence) == (ICMP_ECHO_REPLY, 0, ident, sequence) and (
        icmp[8:] == payload
    )


def ping(netns: str, address: str, *, timeout: float = 2.0) -> bool:
    """Sends one ICMP echo request from inside ``netns`` to ``address`` (IPv4) and returns
    whether its reply came back from that address within ``timeout`` seconds. An unreachable
    destination (no route, no neighbour) is False, not an error; a missing namespace raises."""
    if ipaddress.ip_address(address).version != 4:
        raise ValueError(f"ping: {address!r} is not an IPv4 address")
    ident = secrets.randbits(16)
    sequence = 1
    # Another ping in the same namespace may pick the same id: the random payload tells
    # our reply from theirs.
    payload = b"vpc-ipam" + secrets.token_bytes(8)
    deadline = time.monotonic() + timeout
    with socket_in_netns(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        try:
            sock.sendto(_echo_request(ident, sequence, payload), (address, 0))
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                packet, (source, _) = sock.recvfrom(65535)
                if source == address and _is_reply(packet, ident, sequence, payload):
                    return True
        except TimeoutError:
            return False
        except OSError as e:
            log.debug("ping from %s to %s: %s", netns, address, e)
            return False
    return False
