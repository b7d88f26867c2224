"""The introspection client: both transports, the contract's error answers, and every way
of not answering turned into one exception whose message names the address."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from ipamd import ctl
from ipamd.ctl.introspection import BadAnswer, Endpoint, Unreachable, get, parse_endpoint
from tests.unit.ctl.support import IntrospectionServer


def address_of(server: IntrospectionServer) -> Endpoint:
    return parse_endpoint(server.address)


def test_a_200_answer_is_the_json_object(endpoint):
    endpoint.serve("/", {"endpoints": ["/v1/status", "/v1/doctor"]})
    assert get(address_of(endpoint), "/", timeout=5) == {"endpoints": ["/v1/status", "/v1/doctor"]}
    assert endpoint.paths == ["/"]


def test_a_404_names_the_path_and_hints_at_an_older_daemon(endpoint):
    with pytest.raises(BadAnswer) as raised:
        get(address_of(endpoint), "/v1/nope", timeout=5)
    assert raised.value.status == 404
    assert str(raised.value) == (
        f"the introspection endpoint at {endpoint.address} answered GET /v1/nope with HTTP 404: "
        "no such endpoint: /v1/nope (is vpc-ipamd older than vpc-ipamctl?)"
    )


def test_a_400_keeps_the_daemons_document(endpoint):
    endpoint.serve("/v1/why?q=x", {"error": "bad query", "candidates": ["a/x", "b/x"]}, 400)
    with pytest.raises(BadAnswer) as raised:
        get(address_of(endpoint), "/v1/why?q=x", timeout=5)
    assert raised.value.status == 400
    assert raised.value.document == {"error": "bad query", "candidates": ["a/x", "b/x"]}
    assert str(raised.value).endswith("with HTTP 400: bad query")


@pytest.mark.parametrize(
    ("body", "shown"),
    [(b"<html>oops</html>", "'<html>oops</html>'"), (b"", "(empty)"), (b"[1, 2]", "'[1, 2]'")],
)
def test_a_body_that_is_not_a_json_object_is_a_bad_answer(endpoint, body, shown):
    endpoint.serve("/v1/status", body)
    with pytest.raises(BadAnswer) as raised:
        get(address_of(endpoint), "/v1/status", timeout=5)
    assert f"HTTP 200 and a body that is not a JSON object: {shown}" in str(raised.value)


def test_refused_tcp_says_so_and_hints_at_the_daemon():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(Unreachable) as raised:
            get(parse_endpoint(f"127.0.0.1:{port}"), "/v1/status", timeout=5)
    assert str(raised.value) == (
        f"cannot reach the introspection endpoint at 127.0.0.1:{port}: connection refused "
        "(is vpc-ipamd running? is DISABLE_INTROSPECTION set?)"
    )


def test_a_missing_unix_socket_says_so(socket_dir: Path):
    path = socket_dir / "gone.sock"
    with pytest.raises(Unreachable) as raised:
        get(parse_endpoint(f"unix:{path}"), "/v1/status", timeout=5)
    assert f"at unix:{path}: no such socket (is vpc-ipamd running?" in str(raised.value)


def test_a_stale_unix_socket_is_refused(socket_dir: Path):
    path = socket_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))  # the file exists, nobody listens
        with pytest.raises(Unreachable) as raised:
            get(parse_endpoint(f"unix:{path}"), "/v1/status", timeout=5)
    assert "connection refused" in str(raised.value)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_a_daemon_that_never_answers_times_out(transport, socket_dir: Path):
    family = socket.AF_INET if transport == "tcp" else socket.AF_UNIX
    with socket.socket(family) as listener:
        listener.bind(("127.0.0.1", 0) if transport == "tcp" else str(socket_dir / "mute.sock"))
        listener.listen(1)  # accepted by the kernel, never read
        if transport == "tcp":
            text = f"127.0.0.1:{listener.getsockname()[1]}"
        else:
            text = f"unix:{socket_dir / 'mute.sock'}"
        started = time.monotonic()
        with pytest.raises(Unreachable) as raised:
            get(parse_endpoint(text), "/v1/status", timeout=0.3)
        assert time.monotonic() - started < 3
    assert str(raised.value) == (
        f"the introspection endpoint at {text} did not answer GET /v1/status within 0.3 s "
        "(is vpc-ipamd stuck?)"
    )


def test_a_daemon_that_closes_without_answering_is_unreachable(socket_dir: Path):
    path = socket_dir / "rude.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(1)
        listener.settimeout(5)

        def accept_and_close() -> None:
            accepted, _ = listener.accept()
            accepted.recv(4096)
            accepted.close()

        closer = threading.Thread(target=accept_and_close)
        closer.start()
        with pytest.raises(Unreachable) as raised:
            get(parse_endpoint(f"unix:{path}"), "/v1/status", timeout=5)
        closer.join()
    assert str(raised.value) == (
        f"the introspection endpoint at unix:{path} gave no HTTP answer to GET /v1/status: "
        "the connection closed before an answer"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:61679", Endpoint("127.0.0.1:61679", host="127.0.0.1", port=61679)),
        (":61679", Endpoint(":61679", host="127.0.0.1", port=61679)),
        ("[::1]:61679", Endpoint("[::1]:61679", host="::1", port=61679)),
        ("unix:/run/vpc-ipam/introspect.sock",
         Endpoint("unix:/run/vpc-ipam/introspect.sock", unix_path="/run/vpc-ipam/introspect.sock")),
    ],
)  # fmt: skip
def test_addresses_take_the_settings_forms(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("bad", ["61679", "localhost", "unix:relative.sock", "127.0.0.1:99999"])
def test_a_bad_address_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        ctl.main(["status", "--introspection", bad])
    assert exit_.value.code == 2
    assert "--introspection" in capsys.readouterr().err


def test_the_default_address_is_the_daemons_default():
    args = ctl.build_parser().parse_args(["status"])
    assert str(args.introspection) == "127.0.0.1:61679"
    assert args.timeout == 5
