"""Only root talks to vpc-ipamd: its socket is 0600 and root's, in a private directory, and
a client of another uid is refused by the kernel before the daemon reads a byte. The same
for the introspection endpoint when it is a unix socket."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from tests.daemon.harness import Daemon

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another uid")


def connect_as_nobody(path: str) -> str:
    """Fork; the child drops to nobody and connects to ``path``: what happened, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: socket calls and _exit only (the parent has threads)
        outcome = b"?"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(path)
                outcome = b"connected"
            except OSError as error:
                outcome = f"{type(error).__name__} {error.errno}".encode()
        finally:
            os.write(write_end, outcome)
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as reader:
            answer = reader.read().decode()
    finally:
        os.waitpid(pid, 0)
    return answer


def test_the_daemon_socket_is_0600_root_owned_in_a_private_directory(daemon: Daemon):
    st = os.lstat(daemon.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (0, 0)
    parent = os.lstat(Path(daemon.socket).parent)
    assert stat.S_IMODE(parent.st_mode) & 0o022 == 0  # nobody else can replace the socket


def test_a_client_of_another_uid_is_refused_even_where_it_can_reach_the_socket(daemon: Daemon):
    workdir = Path(daemon.socket).parent
    assert connect_as_nobody(daemon.socket).startswith("PermissionError")
    os.chmod(workdir, 0o711)  # let nobody traverse: only the socket's own mode is left
    try:
        assert connect_as_nobody(daemon.socket) == "PermissionError 13"
    finally:
        os.chmod(workdir, 0o700)
    daemon.health()  # untouched by the attempts


def test_the_introspection_unix_socket_is_0600_and_refuses_another_uid(daemon: Daemon):
    path = daemon.introspection.removeprefix("unix:")
    st = os.lstat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    parent = Path(path).parent
    mode = stat.S_IMODE(os.lstat(parent).st_mode)
    os.chmod(parent, mode | 0o011)
    try:
        assert connect_as_nobody(path) == "PermissionError 13"
    finally:
        os.chmod(parent, mode)


def test_the_probe_does_connect_where_the_mode_allows_it(tmp_path: Path):
    # the refusals above are the socket's mode, not a probe that cannot connect at all
    place = Path(tempfile.mkdtemp(prefix="vsa-", dir="/tmp"))
    try:
        os.chmod(place, 0o755)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(place / "open.sock"))
            os.chmod(place / "open.sock", 0o777)
            server.listen(1)
            assert connect_as_nobody(str(place / "open.sock")) == "connected"
    finally:
        shutil.rmtree(place, ignore_errors=True)
