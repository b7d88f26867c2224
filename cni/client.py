"""The binary's side of the socket: one request to vpc-ipamd, one reply, under one deadline.

Owns turning every way the exchange can fail into the CNI error a runtime should see: the
daemon missing, refusing, overloaded, silent or closing early is code 11 (try again later;
the runtime retries the pod), a reply we cannot read is code 6 or 100 (see ``cni.wire``),
and an error the daemon sent is raised with its code, msg and details unchanged.

Kept to ``_socket``, ``os``, ``time`` and ``cni.wire`` (no threads, no selectors of our own):
it runs once per pod inside a binary with a start-up budget of a few milliseconds. The
socket is ``_socket.socket``, the C type that ``socket.socket`` only wraps: ``import socket``
also imports ``enum``, ``selectors`` and ``array``, milliseconds this one connection never uses.
"""

from __future__ import annotations

import _socket
import os
import time

from cni.errors import TRY_AGAIN_LATER, CniError
from cni.framing import read_message, send_message
from cni.wire import Request, decode_reply, encode_request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cni.messages import Args


def new_request(op: str, args: Args, *, timeout: float) -> Request:
    """A request with a fresh id whose deadline is the time ``call`` will wait."""
    return Request(
        op=op,
        args=args,
        request_id=os.urandom(8).hex(),
        deadline_ms=max(1, int(timeout * 1000)),
    )


def call(
    socket_path: str, request: Request, *, timeout: float, data: bytes | None = None
) -> dict[str, object]:
    """Send ``request`` to the daemon at ``socket_path`` and return the reply's result.

    ``timeout`` (seconds) bounds the whole exchange, connect included; ``data`` is the
    request already encoded, when the caller had to encode it first. Raises CniError:
    the daemon's own error unchanged, or one of ours described in the module docstring.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    if data is None:
        data = encode_request(request)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        return _exchange(sock, socket_path, request, data, timeout=timeout)
    finally:
        sock.close()


def _exchange(
    sock: _socket.socket,
    path: str,
    request: Request,
    data: bytes,
    *,
    timeout: float,
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.connect(path)
    except TimeoutError:
        raise _timed_out(path, request, timeout) from None
    except BlockingIOError as exc:  # EAGAIN: a unix socket's listen queue is full
        raise CniError(
            TRY_AGAIN_LATER,
            f"vpc-ipamd at {path} is overloaded (its listen queue is full)",
            str(exc),
        ) from None
    except OSError as exc:  # ENOENT, ECONNREFUSED, EACCES, ...
        raise CniError(
            TRY_AGAIN_LATER, f"vpc-ipamd is not reachable at {path}", f"connect: {exc}"
        ) from None
    send_error: OSError | None = None
    try:
        send_message(sock, data, deadline=deadline)
    except TimeoutError:
        raise _timed_out(path, request, timeout) from None
    except OSError as exc:
        # The daemon may have answered and closed before reading us (it does when it is
        # busy); its reply is still queued on our side, so read before giving up.
        send_error = exc
    try:
        line = read_message(sock, deadline=deadline)
    except TimeoutError:
        raise _timed_out(path, request, timeout) from None
    except OSError as exc:  # ConnectionClosed, ECONNRESET
        raise CniError(
            TRY_AGAIN_LATER,
            "vpc-ipamd closed the connection without replying",
            f"{request.op} {request.request_id} via {path}: {send_error or exc}",
        ) from None
    return decode_reply(line).unwrap()


def _timed_out(path: str, request: Request, timeout: float) -> CniError:
    return CniError(
        TRY_AGAIN_LATER,
        f"vpc-ipamd did not answer within {timeout:g} s",
        f"{request.op} {request.request_id} via {path}",
    )
