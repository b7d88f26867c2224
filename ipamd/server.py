"""The daemon's unix socket: accepts vpc-cni connections and answers each with one reply.

Owns the socket file's life (private directory, mode 0600, a stale socket replaced, anything
else at the path refused), the per-connection threads and their bounds, and the rule that
every connection ends in a reply or a close, never in a crash or a stuck thread: a peer
gets ``read_timeout`` in total to send its request (a slow sender cannot hold a thread),
a request larger than ``cni.wire.MAX_MESSAGE`` is refused after reading at most that much,
and whatever the handler raises becomes an error reply. What a request means is the
handler's business (``ipamd.service``); the protocol itself is ``cni.wire``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import selectors
import socket
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

from cni.errors import DECODING_FAILURE, INTERNAL, TRY_AGAIN_LATER, CniError
from cni.framing import ConnectionClosed, read_message, send_message
from cni.spool import ensure_private_dir
from cni.wire import PodArgs, Request, decode_request, encode_reply
from ipamd.logs import fields

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from types import TracebackType

log = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
_temp_names = itertools.count()


class SocketPathError(Exception):
    """The socket cannot be created at the configured path (and nothing was removed)."""


class SocketServer:
    """A threaded server for ``cni.wire`` requests on a unix socket.

    ``handler`` gets each decoded request and returns the result object, or raises
    CniError for an error reply; any other exception is a code 999 reply. At most
    ``max_clients`` connections are served at once; more get an immediate code 11 reply.
    """

    def __init__(
        self,
        path: Path,
        handler: Callable[[Request], Mapping[str, object]],
        *,
        read_timeout: float = 5.0,
        max_clients: int = 256,
    ) -> None:
        if read_timeout <= 0 or max_clients < 1:
            raise ValueError("read_timeout must be positive and max_clients at least 1")
        self._path = Path(path)
        self._handler = handler
        self._read_timeout = read_timeout
        self._max_clients = max_clients
        self._slots = threading.BoundedSemaphore(max_clients)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._reading: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._wake: tuple[socket.socket, socket.socket] | None = None  # wakes the accept loop
        self._accept_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._numbers = itertools.count(1)
        self._busy_reply = encode_reply(
            CniError(
                TRY_AGAIN_LATER,
                "vpc-ipamd is busy",
                f"{max_clients} requests are already in progress",
            )
        )

    @property
    def path(self) -> Path:
        return self._path

    @property
    def in_flight(self) -> int:
        """Connections being served right now."""
        with self._lock:
            return len(self._threads)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Create the socket and start accepting. SocketPathError if the path is taken."""
        if self._listener is not None or self._stopping.is_set():
            raise RuntimeError("a SocketServer starts once")
        path = self._path
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise SocketPathError(
                f"{path} is longer than the {MAX_SOCKET_PATH} bytes a unix socket path can have"
            )
        ensure_private_dir(path.parent)
        self._refuse_unless_stale_socket(path)
        # Bound under a temporary name, made 0600 and listening, then renamed into place:
        # the socket is never reachable with the umask's mode, and a stale one is replaced
        # in one step.
        temp = path.parent / f".{os.getpid()}.{next(_temp_names)}.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(os.fspath(temp))
            os.chmod(temp, 0o600)
            listener.listen(self._max_clients)
            os.rename(temp, path)
            st = os.lstat(path)
        except BaseException:
            listener.close()
            temp.unlink(missing_ok=True)
            raise
        listener.setblocking(False)
        self._listener = listener
        self._wake = socket.socketpair()
        self._identity = (st.st_dev, st.st_ino)
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name="ipamd-socket-accept", daemon=True
        )
        self._accept_thread.start()
        log.info("serving vpc-cni on %s", path)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, remove the socket file, wait up to ``timeout`` s for requests
        being handled. Connections still sending their request are cut off (their client
        sees the daemon close, which it reports as "try again later")."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            for conn in self._reading:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._accept_thread is not None and self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(b"x")
            self._accept_thread.join()
            for end in self._wake:
                end.close()
        if self._listener is not None:
            self._listener.close()
            self._remove_socket_file()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = sum(t.is_alive() for t in threads)
        if left:
            log.warning("stopped with %d request(s) still being handled after %g s", left, timeout)
        if self._listener is not None:
            log.info("stopped serving on %s", self._path)

    def _refuse_unless_stale_socket(self, path: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            kind = "directory" if stat.S_ISDIR(st.st_mode) else "file that is not a socket"
            raise SocketPathError(f"{path} is a {kind}; refusing to replace it with the socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(os.fspath(path))
        except OSError:
            log.info("replacing stale socket %s", path)
            return
        finally:
            probe.close()
        raise SocketPathError(f"another server is listening on {path}")

    def _remove_socket_file(self) -> None:
        try:
            st = os.lstat(self._path)
        except FileNotFoundError:
            return
        # Another daemon may have replaced the file since: leave its socket alone.
        if (st.st_dev, st.st_ino) == self._identity:
            self._path.unlink(missing_ok=True)

    # --- accepting -----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while not self._stopping.is_set():
                selector.select()
                if self._stopping.is_set():
                    return
                try:
                    conn, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: back off instead of spinning
                    log.error("accept failed on %s: %s", self._path, exc)
                    self._stopping.wait(0.1)
                    continue
                try:
                    self._dispatch(conn)
                except Exception:  # the accept loop must outlive any one connection
                    log.exception("failed to dispatch a connection")
                    conn.close()

    def _dispatch(self, conn: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("busy: refusing a connection (%d in progress)", self._max_clients)
            self._refuse(conn)
            return
        thread = threading.Thread(
            target=self._serve, args=(conn,), name=f"ipamd-conn-{next(self._numbers)}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        try:
            thread.start()
        except RuntimeError as exc:  # the system is out of threads
            log.error("cannot start a connection thread: %s", exc)
            with self._lock:
                self._threads.discard(thread)
            self._slots.release()
            self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        # A fresh socket's send buffer takes this small reply without blocking.
        conn.setblocking(False)
        with contextlib.suppress(OSError):
            conn.send(self._busy_reply)
        conn.close()

    # --- one connection ------------------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        except Exception:
            log.exception("unexpected failure serving a connection")
        finally:
            conn.close()
            with self._lock:
                self._reading.discard(conn)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _converse(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with self._lock:
            if self._stopping.is_set():
                return
            self._reading.add(conn)
        try:
            line = read_message(conn, deadline=started + self._read_timeout)
        except TimeoutError:
            error = CniError(
                DECODING_FAILURE,
                f"no complete request within {self._read_timeout:g} s",
                "a request is one line of JSON ending in a newline",
            )
            self._reject(conn, error, started)
            return
        except ConnectionClosed as exc:
            if exc.received:  # the peer may only have shut down its sending side
                self._reject(
                    conn, CniError(DECODING_FAILURE, "truncated request", str(exc)), started
                )
            else:
                log.debug("a client connected and closed without a request")
            return
        except CniError as error:  # larger than MAX_MESSAGE; the rest stays unread
            self._reject(conn, error, started)
            return
        except OSError as exc:
            log.info("connection failed while reading a request: %s", exc)
            return
        finally:
            with self._lock:
                self._reading.discard(conn)
        try:
            request = decode_request(line)
        except CniError as error:
            self._reject(conn, error, started)
            return
        reply, outcome, code = self._handle(request)
        delivered = self._send(conn, reply)
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info(
            "%s %s%s: %s in %.1f ms%s",
            request.op,
            request.request_id,
            _describe(request),
            outcome,
            elapsed_ms,
            "" if delivered is None else f" (reply not delivered: {delivered})",
            **fields(op=request.op, id=request.request_id, **_keys(request), code=code),
        )
        if elapsed_ms > request.deadline_ms:
            log.warning(
                "%s %s took %.0f ms, longer than the client waits (%d ms)",
                request.op,
                request.request_id,
                elapsed_ms,
                request.deadline_ms,
            )

    def _handle(self, request: Request) -> tuple[bytes, str, int]:
        """The reply to send, a short outcome for the log, and its code (0: success)."""
        try:
            return encode_reply(self._handler(request)), "ok", 0
        except CniError as error:
            return encode_reply(error), f"error {error.code} {error.msg!r}", error.code
        except Exception as exc:
            log.exception("handler failed on %s %s", request.op, request.request_id)
            failure = CniError(
                INTERNAL, "internal error in vpc-ipamd", f"{type(exc).__name__}: {exc}"
            )
            return encode_reply(failure), f"error {INTERNAL} ({type(exc).__name__})", INTERNAL

    def _reject(self, conn: socket.socket, error: CniError, started: float) -> None:
        """Answer a request that never reached the handler."""
        delivered = self._send(conn, encode_reply(error))
        log.warning(
            "rejected a request after %.1f ms: code %d %s%s%s",
            (time.monotonic() - started) * 1000,
            error.code,
            error.msg,
            f" ({error.details})" if error.details else "",
            "" if delivered is None else f" (reply not delivered: {delivered})",
        )

    def _send(self, conn: socket.socket, data: bytes) -> str | None:
        """Send a reply; None when sent, else why not (the client is gone or not reading)."""
        try:
            send_message(conn, data, deadline=time.monotonic() + self._read_timeout)
        except OSError as exc:
            return str(exc) or type(exc).__name__
        return None


def _keys(request: Request) -> dict[str, str]:
    """The attachment and pod a request is about, as log fields."""
    args = request.args
    if not isinstance(args, PodArgs):
        network = getattr(args, "network", None)
        return {"network": network} if network else {}
    keys = {"network": args.network, "container": args.container_id, "ifname": args.ifname}
    if args.pod_name:
        keys["pod"] = f"{args.pod_namespace}/{args.pod_name}"
    return keys


def _describe(request: Request) -> str:
    args = request.args
    if isinstance(args, PodArgs):
        return f" {args.network}/{args.container_id}/{args.ifname}"
    network = getattr(args, "network", None)
    return f" {network}" if network else ""
