"""An accept loop on a listener inside a network namespace, stoppable at once.

Shared by the portal (which forwards each connection) and the whoami probe server (which
answers each inline). The caller makes the listener in the namespace (``listen_in_netns``)
and hands it over; one daemon thread waits on it and on a wake-up socket pair, so ``stop``
ends the thread at once instead of after a poll interval, then closes what it owns. What a
connection gets is the caller's ``on_accept`` (called on the accept thread with the
connection and its peer).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Acceptor:
    def __init__(
        self,
        *,
        name: Callable[[int], str],
        on_accept: Callable[[socket.socket, Any], None],
    ) -> None:
        self._port = 0
        self._name = name
        self._on_accept = on_accept
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self.thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def started(self) -> bool:
        return self._listener is not None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def port(self) -> int:
        return self._port

    def start(self, listener: socket.socket) -> int:
        """Start accepting on ``listener`` (now owned here); returns its port. The listener
        is closed if starting fails."""
        if self._listener is not None or self._stopping.is_set():
            listener.close()
            raise RuntimeError("an acceptor starts once")
        try:
            listener.setblocking(False)
            self._port = listener.getsockname()[1]
            self._wake = socket.socketpair()
            self._listener = listener
            self.thread = threading.Thread(
                target=self._loop, name=self._name(self._port), daemon=True
            )
            self.thread.start()
        except BaseException:
            listener.close()
            self._close_wake()
            self._listener = None
            raise
        return self._port

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop accepting and close the listener; False if the thread did not end in time
        (its descriptors are then left to it). Idempotent."""
        first = not self._stopping.is_set()
        self._stopping.set()
        if not first or self._listener is None:
            return True
        assert self._wake is not None
        with contextlib.suppress(OSError):
            self._wake[1].send(b"x")
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                log.warning("%s: thread still running after stop", self.thread.name)
                return False
        self._listener.close()
        self._close_wake()
        return True

    def _close_wake(self) -> None:
        if self._wake is not None:
            for end in self._wake:
                end.close()

    def _loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        listener, wake = self._listener, self._wake[0]
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                if any(key.fileobj is wake for key, _ in selector.select()):
                    return
                try:
                    conn, peer = listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as error:  # out of descriptors or memory: let it pass, no spin
                    log.warning("%s: accept failed: %s", self._name(self._port), error)
                    time.sleep(0.05)
                    continue
                self._on_accept(conn, peer)
