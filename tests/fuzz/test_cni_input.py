"""Fuzzing vpc-cni's input: the ``CNI_*`` environment and the configuration on stdin.

The entry point (``cni.main.main``) runs in this process against the real socket server and
IPAM service (tests/fuzz/inproc.py): nothing it could reach is shared with the host (the
socket, spool and log live under a private /tmp directory, the DEL fallback's veth removal is
replaced by a recorder), so thousands of examples take seconds. A smaller sample runs the
installed binary as a subprocess against the real daemon (tests/daemon's harness).

For every input: stdout is empty, or one line holding a valid result, or one line holding a
spec error object (``cniVersion``, ``code``, ``msg``, optional ``details``, nothing else);
the exit code is non-zero exactly when it is an error; stderr stays empty; no traceback
anywhere; never code 999 (an internal error is a bug in the plugin). The code is the one the
spec's table gives for what is wrong, computed here independently of ``cni/``: 4 for a bad
environment variable, 6 for stdin that is not a JSON object, 1 for a version we do not speak,
7 for a bad configuration key.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cni import main as cni_main
from cni import netlink
from cni.result import Result
from tests.cni.runtime import binary
from tests.daemon.harness import Daemon
from tests.fuzz.inproc import InProcessDaemon, examples, inprocess_daemon

SUPPORTED = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS")
SINCE = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}
SPEC_CODES = {1, 2, 3, 4, 5, 6, 7, 8, 11, 50, 51, 100}  # 999 is a bug: never expected
ENV_NAMES = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")
# SPEC.md section 2: which variables each command needs, and which it may use.
REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "VERSION": (),
    "GC": ("CNI_PATH",),
    "STATUS": (),
}
USES_POD_VARIABLES = ("ADD", "DEL", "CHECK")
CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 256  # container ids and network names (cni._base.MAX_NAME_LENGTH)
MAX_POD_FIELD = 253  # K8S_POD_NAMESPACE / K8S_POD_NAME / K8S_POD_UID in CNI_ARGS
FUZZ = settings(
    max_examples=examples(300),
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- the oracle: what the spec says the answer must be ---------------------------------------


def ifname_ok(name: str) -> bool:
    raw = name.encode("utf-8", "surrogateescape")
    return (
        0 < len(raw) <= 15
        and name not in (".", "..")
        and not any(b in b"\x00/: \t\n\v\f\r\xa0" for b in raw)
        and not any(c.isspace() for c in name)
    )


def cni_args_ok(value: str) -> bool:
    for item in value.split(";") if value else ():
        key, sep, val = item.partition("=")
        if not sep or not key or "=" in val:
            return False
        if key in ("K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID") and (
            len(val) > MAX_POD_FIELD or any(ord(c) < 32 or ord(c) == 127 for c in val)
        ):
            return False
    return True


def env_is_invalid(env: dict[str, str]) -> bool:
    """True when the spec's code 4 (invalid environment variables) is the answer."""
    command = env.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        return True
    if any(not env.get(name) for name in REQUIRED[command]):
        return True
    if command not in USES_POD_VARIABLES:
        return False
    container_id = env.get("CNI_CONTAINERID", "")
    if container_id and not (
        CONTAINER_ID.fullmatch(container_id) and len(container_id) <= MAX_NAME
    ):
        return True
    ifname = env.get("CNI_IFNAME", "")
    if ifname and not ifname_ok(ifname):
        return True
    netns = env.get("CNI_NETNS", "")
    if "\x00" in netns or len(netns.encode("utf-8", "surrogateescape")) > 4096:
        return True
    return not cni_args_ok(env.get("CNI_ARGS", ""))


def decodes_to_object(stdin: bytes) -> bool:
    def refuse(name: str) -> object:
        raise ValueError(name)

    try:
        return isinstance(json.loads(stdin, parse_constant=refuse), dict)
    except (ValueError, RecursionError):
        return False


# --- running the entry point -----------------------------------------------------------------


class Outcome:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr
        self.out: Any = json.loads(stdout) if stdout.strip() else None

    @property
    def error_code(self) -> int:
        return int(self.out["code"]) if self.code else 0

    def __repr__(self) -> str:
        return f"Outcome(code={self.code}, stdout={self.stdout[:600]!r}, stderr={self.stderr!r})"


def check_protocol(outcome: Outcome) -> None:
    """What holds for every invocation, whatever the input."""
    assert outcome.stderr == "", outcome
    assert "Traceback" not in outcome.stdout, outcome
    assert outcome.stdout == "" or outcome.stdout.endswith("\n"), outcome
    assert outcome.stdout.count("\n") <= 1, outcome
    if outcome.code == 0:
        assert outcome.out is None or "code" not in outcome.out, outcome
        return
    assert outcome.code == 1, outcome
    out = outcome.out
    assert isinstance(out, dict), outcome
    assert {"cniVersion", "code", "msg"} <= set(out) <= {"cniVersion", "code", "msg", "details"}
    assert isinstance(out["cniVersion"], str) and out["cniVersion"], outcome
    assert isinstance(out["code"], int) and not isinstance(out["code"], bool), outcome
    assert out["code"] in SPEC_CODES, outcome
    assert isinstance(out["msg"], str) and out["msg"], outcome
    assert isinstance(out.get("details", ""), str), outcome


class Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def run_in_process(env: dict[str, str], stdin: bytes) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        mock.patch.object(sys, "stdin", Stdin(stdin)),
        mock.patch.object(sys, "stdout", out),
        mock.patch.object(sys, "stderr", err),
    ):
        code = cni_main.main()
    outcome = Outcome(code, out.getvalue(), err.getvalue())
    check_protocol(outcome)
    return outcome


@pytest.fixture(scope="module")
def shared_ipamd() -> Iterator[InProcessDaemon]:
    with inprocess_daemon() as daemon:
        yield daemon


@pytest.fixture
def ipamd(shared_ipamd: InProcessDaemon) -> InProcessDaemon:
    shared_ipamd.reset()
    return shared_ipamd


@pytest.fixture(autouse=True)
def no_host_veths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DEL fallback must never remove a link of this host: record instead."""
    removed: list[str] = []

    def record(name: str) -> str:
        removed.append(name)
        return "absent"

    monkeypatch.setattr(netlink, "delete_veth", record)
    return removed


def conf_for(daemon: InProcessDaemon, version: str = "1.1.0", **keys: Any) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": "vpc-ipam",
        "type": "vpc-cni",
        "socketPath": daemon.socket,
        "spoolDir": str(daemon.workdir / "spool"),
        "logFile": str(daemon.workdir / "cni.log"),
        "timeoutSeconds": 5,
        **keys,
    }


def pod_env(command: str, container_id: str = "c0", **extra: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": "/var/run/netns/fuzz",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=fuzz",
        **extra,
    }


# --- strategies --------------------------------------------------------------------------------

# Environment values as the kernel hands them over: any bytes but NUL (which execve cannot
# carry), decoded the way Python decodes the environment.
env_bytes = st.binary(max_size=40).filter(lambda b: b"\x00" not in b).map(os.fsdecode)
env_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
huge = st.sampled_from([70_000, 257, 300, 16]).map(lambda n: "a" * n)
container_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True)
ifnames = st.from_regex(r"[a-z][a-z0-9]{0,14}", fullmatch=True)
pod_fields = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,40}", fullmatch=True)
cni_args = st.one_of(
    st.builds(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_UID={}".format,
        pod_fields,
        pod_fields,
        pod_fields,
    ),
    st.just(""),
)
VALID = {
    "CNI_COMMAND": st.sampled_from(COMMANDS),
    "CNI_CONTAINERID": container_ids,
    "CNI_NETNS": st.sampled_from(["/var/run/netns/x", "/proc/1/ns/net"]),
    "CNI_IFNAME": ifnames,
    "CNI_ARGS": cni_args,
    "CNI_PATH": st.just("/opt/cni/bin:/usr/lib/cni"),
}
JUNK = st.one_of(
    env_bytes,
    env_text,
    huge,
    st.just(""),
    st.sampled_from(["add", "Add", " ADD", "ADD\n", "VERSION;rm -rf /", "../..", ".", "a:b"]),
    st.sampled_from(["K8S_POD_NAME", "=x", "a=b=c", "a=b;", ";", "K8S_POD_NAME=" + "p" * 300]),
)
envs = st.fixed_dictionaries(
    {},
    optional={name: st.one_of(VALID[name], VALID[name], JUNK) for name in ENV_NAMES},
)


def json_values(max_leaves: int = 10) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


# Replacements for one configuration key, each with the code the spec gives for it.
BAD_VALUES: dict[str, st.SearchStrategy[tuple[Any, int]]] = {
    "cniVersion": st.one_of(
        st.sampled_from(["0.1.0", "0.2.0", "2.0.0", "1.1", "v1.0.0", "1.0.0 ", "latest"]).map(
            lambda v: (v, 1)
        ),
        st.text(min_size=1, max_size=20).filter(lambda v: v not in SUPPORTED).map(lambda v: (v, 1)),
        st.sampled_from([None, "", 1, 1.0, True, ["1.0.0"], {"v": "1.0.0"}]).map(lambda v: (v, 7)),
    ),
    "name": st.sampled_from(
        ["", "-net", ".net", "a b", "a/b", "net\n", "ne\u00e9t", "a\x00b", "n" * 257, 5, None, []]
    ).map(lambda v: (v, 7)),
    "type": st.sampled_from(["", "/bin/sh", "../vpc-cni", ".", "..", "a\\b", "a\x00", 1]).map(
        lambda v: (v, 7)
    ),
    "capabilities": st.sampled_from([[], "x", 1, {"portMappings": "yes"}]).map(lambda v: (v, 7)),
    "runtimeConfig": st.sampled_from([[], "x", 1, True]).map(lambda v: (v, 7)),
    "args": st.sampled_from([[], "x", 1]).map(lambda v: (v, 7)),
    "prevResult": st.sampled_from(
        [[], "x", 1, {"cniVersion": "9.9.9"}, {"ips": "x"}, {"ips": [{"address": "nope"}]}]
    ).map(lambda v: (v, 7)),
    "socketPath": st.sampled_from(["relative.sock", "", "/" + "s" * 120, "/a\x00b", 7]).map(
        lambda v: (v, 7)
    ),
    "spoolDir": st.sampled_from(["spool", "", 1, ["/x"]]).map(lambda v: (v, 7)),
    "logFile": st.sampled_from(["log", 1, "/a\x00b"]).map(lambda v: (v, 7)),
    "timeoutSeconds": st.sampled_from([0, -1, "5", True, 1e9, 601, [], {}]).map(lambda v: (v, 7)),
    "vethPrefix": st.sampled_from(["", "toolong", "eth", "lo", "vlan", "a/b", "é", 5]).map(
        lambda v: (v, 7)
    ),
    "cni.dev/valid-attachments": st.sampled_from(
        ["x", [1], [{"containerID": "-bad", "ifname": "eth0"}], [{"containerID": "c"}]]
    ).map(lambda v: (v, 7)),
}


# --- the environment ----------------------------------------------------------------------------


@FUZZ
@given(env=envs)
def test_any_environment_gets_a_result_or_the_spec_error_for_it(ipamd: InProcessDaemon, env):
    ipamd.reset()
    conf = conf_for(ipamd)
    outcome = run_in_process(env, json.dumps(conf).encode())

    if env_is_invalid(env):
        assert outcome.error_code == 4, (env, outcome)
        assert "CNI_" in outcome.out["msg"], outcome  # the spec: name the variables
        return
    command = env["CNI_COMMAND"]
    if command == "CHECK":  # this configuration has no prevResult: code 7 by the spec
        assert outcome.error_code == 7, outcome
    elif command == "ADD":
        assert outcome.error_code in (0, 11), outcome  # 11: pool empty (the daemon says so)
        if outcome.code == 0:
            Result.from_json(outcome.out)  # a valid 1.1.0 result
            run_in_process({**env, "CNI_COMMAND": "DEL"}, json.dumps(conf).encode())
    else:
        assert outcome.error_code == 0, outcome
    assert ipamd.allocations() == 0


@FUZZ
@given(
    value=st.builds("{}\x00{}".format, st.text(max_size=15), st.text(max_size=15)),
    name=st.sampled_from(ENV_NAMES),
)
def test_a_nul_byte_in_any_variable_is_refused_or_ignored_without_a_crash(
    ipamd: InProcessDaemon, value: str, name: str
):
    ipamd.reset()
    # execve cannot pass a NUL, but the entry point takes any mapping: it must still answer
    env = {**pod_env("ADD"), name: value}
    stdin = json.dumps(conf_for(ipamd)).encode()
    code, output, _ = cni_main.invoke(env, stdin)
    if code:
        assert output is not None and output["code"] != 999, output
        assert output["code"] == (4 if env_is_invalid(env) else output["code"])
    else:
        run_in_process(pod_env("DEL"), stdin)
    assert ipamd.allocations() == 0


# --- stdin ---------------------------------------------------------------------------------------

stdins = st.one_of(
    st.binary(max_size=300),
    json_values().map(lambda v: json.dumps(v).encode()),
    json_values().map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-16")),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b"   \n",
            b"\x00",
            b'{"cniVersion": "1.0.0"',
            b'{"cniVersion": NaN}',
            b'{"cniVersion": "1.0.0", "name": "n", "type": "t", "timeoutSeconds": Infinity}',
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b'{"cniVersion": "1.1.0", "name": "' + b"n" * 200_000 + b'", "type": "t"}',
            b"\xef\xbb\xbf{}",
            b'{"cniVersion":"1.1.0"}{"cniVersion":"1.1.0"}',
            b'{"cniVersion":"1.1.0","name":"vpc","type":"vpc-cni"}\x00',
        ]
    ),
)


@FUZZ
@given(stdin=stdins, command=st.sampled_from(COMMANDS))
def test_any_stdin_gets_a_result_or_the_spec_error_for_it(ipamd: InProcessDaemon, stdin, command):
    ipamd.reset()
    outcome = run_in_process(pod_env(command), stdin)

    if command == "VERSION":  # VERSION reads nothing but an optional cniVersion
        assert outcome.code == 0, outcome
        assert outcome.out["supportedVersions"] == list(SUPPORTED)
        return
    if not decodes_to_object(stdin):
        assert outcome.error_code == 6, (stdin[:200], outcome)
        return
    assert outcome.error_code in (0, 1, 7, 11), (stdin[:200], outcome)
    if outcome.code == 0 and command == "ADD":
        run_in_process(pod_env("DEL"), stdin)
    assert ipamd.allocations() == 0


@FUZZ
@given(
    broken=st.dictionaries(st.sampled_from(sorted(BAD_VALUES)), st.just(0), min_size=1).flatmap(
        lambda keys: st.fixed_dictionaries({key: BAD_VALUES[key] for key in keys})
    ),
    extra=st.dictionaries(
        st.text(max_size=12).filter(lambda k: k not in BAD_VALUES), json_values(4), max_size=3
    ),
    command=st.sampled_from(["ADD", "DEL", "CHECK", "GC", "STATUS"]),
)
def test_each_bad_configuration_key_gets_its_spec_code(
    ipamd: InProcessDaemon, broken: dict[str, tuple[Any, int]], extra, command
):
    ipamd.reset()
    conf = {**extra, **conf_for(ipamd)}
    for key, (value, _) in broken.items():
        if value is None:
            conf.pop(key, None)
        else:
            conf[key] = value
    codes = {code for key, (value, code) in broken.items()}
    expected = 1 if 1 in codes else 7
    if expected == 7 and command == "DEL" and set(broken) == {"prevResult"}:
        expected = 0  # DEL is best effort: an unreadable prevResult is dropped
    if set(broken) <= {"timeoutSeconds"} and broken["timeoutSeconds"][0] is None:
        expected = 0  # absent: the default

    outcome = run_in_process(pod_env(command), json.dumps(conf).encode())

    if expected == 0:
        assert outcome.code == 0, outcome
    else:
        assert outcome.error_code == expected, (conf, outcome)
        if expected == 7:
            assert any(key in outcome.out["msg"] for key in broken), outcome
    assert ipamd.allocations() == 0


@FUZZ
@given(
    command=st.sampled_from(["CHECK", "GC", "STATUS", "DEL"]),
    version=st.sampled_from(SUPPORTED),
    container_id=container_ids,
    ifname=ifnames,
    args=cni_args,
)
def test_valid_input_succeeds_at_every_version_unless_the_command_is_newer(
    ipamd: InProcessDaemon, command, version, container_id, ifname, args
):
    ipamd.reset()
    conf = conf_for(ipamd, version)
    env = pod_env("ADD", container_id, CNI_IFNAME=ifname, CNI_ARGS=args)
    added = run_in_process(env, json.dumps(conf).encode())
    assert added.code == 0, added
    assert added.out["cniVersion"] == version
    Result.from_json(added.out)
    conf["prevResult"] = added.out

    outcome = run_in_process({**env, "CNI_COMMAND": command}, json.dumps(conf).encode())

    since = SINCE.get(command, "0.0.0")
    if tuple(map(int, version.split("."))) < tuple(map(int, since.split("."))):
        assert outcome.error_code == 1, outcome
    else:
        assert (outcome.code, outcome.stdout) == (0, ""), outcome
    deleted = run_in_process({**env, "CNI_COMMAND": "DEL"}, json.dumps(conf).encode())
    assert (deleted.code, deleted.stdout) == (0, ""), deleted
    assert ipamd.allocations() == 0


# --- the installed binary, a smaller sample --------------------------------------------------


def exec_binary(env: dict[str, str], stdin: bytes) -> Outcome:
    done = subprocess.run(
        binary(),
        input=stdin,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        check=False,
        timeout=60,
    )
    outcome = Outcome(done.returncode, done.stdout.decode(), done.stderr.decode())
    check_protocol(outcome)
    return outcome


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(env=envs, stdin=st.one_of(stdins, st.none()))
def test_the_installed_binary_answers_any_input_in_the_protocol(daemon: Daemon, env, stdin):
    conf = {
        "cniVersion": "1.1.0",
        "name": "vpc-ipam",
        "type": "vpc-cni",
        "socketPath": daemon.socket,
        "spoolDir": str(daemon.spool),
        "timeoutSeconds": 10,
    }
    data = json.dumps(conf).encode() if stdin is None else stdin
    outcome = exec_binary(env, data)

    if env_is_invalid(env):
        assert outcome.error_code == 4, outcome
    elif env["CNI_COMMAND"] != "VERSION" and not decodes_to_object(data):
        assert outcome.error_code == 6, outcome
    if outcome.code == 0 and env["CNI_COMMAND"] == "ADD":
        exec_binary({**env, "CNI_COMMAND": "DEL"}, data)
    daemon.health()  # still serving
    if daemon.checkpoint.exists():
        assert daemon.checkpoint_allocations() == {}


def test_surrogate_escaped_environment_reaches_the_log_as_one_line(ipamd: InProcessDaemon):
    log = ipamd.workdir / "cni.log"
    log.unlink(missing_ok=True)
    env = pod_env("ADD", CNI_CONTAINERID=os.fsdecode(b"bad\xff\nid"), CNI_IFNAME="e\nth0")
    outcome = run_in_process(env, json.dumps(conf_for(ipamd)).encode())
    assert outcome.error_code == 4
    (line,) = log.read_bytes().splitlines()
    assert b" ADD " in line and b"error 4" in line


# --- what the fuzzing found, kept as plain regression tests ---------------------------------


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"CNI_CONTAINERID": "a" * 70_000}, "CNI_CONTAINERID"),  # was 999: request too large
        ({"CNI_CONTAINERID": "a" * 257}, "CNI_CONTAINERID"),
        ({"CNI_ARGS": "K8S_POD_NAME=" + "p" * 70_000}, "CNI_ARGS"),  # was 999
        ({"CNI_ARGS": "K8S_POD_NAMESPACE=a\x01b"}, "CNI_ARGS"),
        ({"CNI_IFNAME": "eth\x000"}, "CNI_IFNAME"),  # was accepted: the kernel reads "eth"
        ({"CNI_NETNS": "/var/run/netns/x\x00y"}, "CNI_NETNS"),
        ({"CNI_NETNS": "/" + "n" * 70_000}, "CNI_NETNS"),  # was 999
    ],
)
def test_identifiers_too_long_or_unsendable_are_code_4_naming_the_variable(
    ipamd: InProcessDaemon, variables: dict[str, str], named: str
):
    code, output, _ = cni_main.invoke({**pod_env("ADD"), **variables}, b"{}")
    assert code == 1 and output is not None
    assert output["code"] == 4 and named in str(output["msg"]), output
    assert ipamd.allocations() == 0


def test_a_container_id_of_256_characters_is_accepted(ipamd: InProcessDaemon):
    stdin = json.dumps(conf_for(ipamd)).encode()
    env = pod_env("ADD", "c" * 256)
    assert run_in_process(env, stdin).code == 0
    assert ipamd.allocations() == 1
    assert run_in_process({**env, "CNI_COMMAND": "DEL"}, stdin).code == 0
    assert ipamd.allocations() == 0


def test_a_network_name_too_long_is_code_7(ipamd: InProcessDaemon):
    outcome = run_in_process(pod_env("ADD"), json.dumps(conf_for(ipamd, name="n" * 257)).encode())
    assert outcome.error_code == 7 and "name" in outcome.out["msg"]


def huge_prev_result(address: str) -> dict[str, Any]:
    interfaces = [{"name": f"x{i}", "sandbox": "/var/run/netns/x"} for i in range(3000)]
    return {"cniVersion": "1.1.0", "interfaces": interfaces, "ips": [{"address": address}]}


def test_del_with_a_prev_result_too_large_to_send_still_releases_by_key(ipamd: InProcessDaemon):
    stdin = json.dumps(conf_for(ipamd)).encode()
    added = run_in_process(pod_env("ADD"), stdin)
    assert added.code == 0 and ipamd.allocations() == 1
    conf = conf_for(ipamd, prevResult=huge_prev_result(added.out["ips"][0]["address"]))

    deleted = run_in_process(pod_env("DEL"), json.dumps(conf).encode())

    assert (deleted.code, deleted.stdout) == (0, ""), deleted  # was 999, and DEL must not fail
    assert ipamd.allocations() == 0


def test_check_with_a_prev_result_too_large_to_send_is_code_7(ipamd: InProcessDaemon):
    conf = conf_for(ipamd, prevResult=huge_prev_result("10.0.1.9/32"))
    outcome = run_in_process(pod_env("CHECK"), json.dumps(conf).encode())
    assert outcome.error_code == 7, outcome  # was 999
