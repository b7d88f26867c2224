"""The daemon's log lines: logfmt and JSON shapes, one line per record, fields, redaction,
rotation and quiet third-party loggers, through real logging into real files."""

from __future__ import annotations

import calendar
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import ipamd.logs
from config import Settings, load_settings
from ipamd.logs import (
    LOG_KEEP,
    LOG_ROTATE_BYTES,
    QUIET_LOGGERS,
    REDACTED,
    JsonFormatter,
    LogfmtFormatter,
    configure_logging,
    fields,
    redact,
)

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
log = logging.getLogger("ipamd.poolloop")


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[None]:
    """Leave the root logger and the quiet loggers as the test found them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for handler in handlers:
        root.removeHandler(handler)  # so force=True does not close pytest's handlers
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, quiet_level in quiet.items():
        logging.getLogger(name).setLevel(quiet_level)


def _settings(path: Path | str, level: str = "DEBUG", form: str = "logfmt") -> Settings:
    return load_settings(
        {
            "AWS_VPC_K8S_CNI_LOG_FILE": str(path),
            "AWS_VPC_K8S_CNI_LOGLEVEL": level,
            "VPC_IPAM_LOG_FORMAT": form,
        }
    )


def _to_file(tmp_path: Path, level: str = "DEBUG", form: str = "logfmt") -> Path:
    path = tmp_path / "ipamd.log"
    configure_logging(_settings(path, level, form))
    return path


def _lines(path: Path) -> list[str]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text().splitlines()


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def parse_logfmt(line: str) -> list[tuple[str, str]]:
    """A small logfmt tokenizer: key=bare or key="escaped", separated by single spaces."""
    pairs, i = [], 0
    while i < len(line):
        eq = line.index("=", i)
        key = line[i:eq]
        assert key and not set(key) & set(' "=')
        i = eq + 1
        if line.startswith('"', i):
            i, chars = i + 1, []
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] == "u":
                    chars.append(chr(int(line[i + 2 : i + 6], 16)))
                    i += 6
                elif line[i] == "\\":
                    chars.append(_UNESCAPE[line[i + 1]])
                    i += 2
                else:
                    chars.append(line[i])
                    i += 1
            value, i = "".join(chars), i + 1
        else:
            end = len(line) if line.find(" ", i) == -1 else line.find(" ", i)
            value, i = line[i:end], end
        pairs.append((key, value))
        if i < len(line):
            assert line[i] == " "
            i += 1
    return pairs


def test_logfmt_line_has_ts_level_logger_msg_then_the_fields_in_order(tmp_path: Path):
    path = _to_file(tmp_path)
    log.info("pool: created %s with %d blocks", "eni-1", 9, **fields(interface="eni-1", blocks=9))
    (line,) = _lines(path)
    assert line.endswith(
        'level=info logger=ipamd.poolloop msg="pool: created eni-1 with 9 blocks" '
        "interface=eni-1 blocks=9"
    )
    pairs = parse_logfmt(line)
    assert [key for key, _ in pairs] == ["ts", "level", "logger", "msg", "interface", "blocks"]
    assert TS.fullmatch(pairs[0][1])


def test_timestamps_are_utc_rfc3339_with_milliseconds():
    created = calendar.timegm((2026, 11, 22, 10, 0, 0)) + 0.123
    record = logging.makeLogRecord({"name": "ipamd", "levelname": "WARNING", "msg": "x"})
    record.created, record.msecs = created, 123.0
    assert LogfmtFormatter().format(record).startswith("ts=2026-11-22T10:00:00.123Z level=warning")
    assert json.loads(JsonFormatter().format(record))["ts"] == "2026-11-22T10:00:00.123Z"


def test_logfmt_quotes_and_escapes_only_the_values_that_need_it(tmp_path: Path):
    path = _to_file(tmp_path)
    odd = {
        "space": "a b",
        "quote": 'say "hi"',
        "equals": "k=v",
        "empty": "",
        "newline": "one\ntwo\r\n",
        "backslash": "C:\\x y",
        "control": "bell\x07",
        "separator": "para\u2028graph",
    }
    plain = {"word": "eni-1", "path": Path("/run/x.sock"), "count": 3, "ratio": 0.5}
    log.info("odd", **fields(**odd, **plain, yes=True, no=False, nothing=None))
    (line,) = _lines(path)
    parsed = dict(parse_logfmt(line))
    assert {key: parsed[key] for key in odd} == odd
    assert 'space="a b" quote="say \\"hi\\"" equals="k=v" empty=""' in line
    assert "word=eni-1 path=/run/x.sock count=3 ratio=0.5 yes=true no=false nothing=null" in line
    assert "backslash=" + '"C:\\\\x y"' in line


def test_json_line_is_one_object_with_typed_fields_in_order(tmp_path: Path):
    path = _to_file(tmp_path, form="json")
    log.info(
        "pool grew by %d",
        2,
        **fields(interface="eni-1", blocks=9, full=False, cap=None, path=Path("/x"), r=0.5),
    )
    (line,) = _lines(path)
    record = json.loads(line)
    assert list(record) == [
        *("ts", "level", "logger", "msg"),
        *("interface", "blocks", "full", "cap", "path", "r"),
    ]
    assert TS.fullmatch(record["ts"])
    assert record["level"] == "info"
    assert record["logger"] == "ipamd.poolloop"
    assert record["msg"] == "pool grew by 2"
    assert (record["blocks"], record["full"], record["cap"]) == (9, False, None)
    assert (record["path"], record["r"]) == ("/x", 0.5)


def test_json_keeps_non_finite_numbers_valid_json(tmp_path: Path):
    path = _to_file(tmp_path, form="json")
    log.info("odd", **fields(a=float("nan"), b=float("inf")))
    (line,) = _lines(path)
    assert json.loads(line)["a"] == "nan"
    assert json.loads(line)["b"] == "inf"


def test_a_field_named_like_a_fixed_key_cannot_overwrite_it(tmp_path: Path):
    path = _to_file(tmp_path, form="json")
    log.info("real", **fields(msg="fake", level="fake", other=1))
    (line,) = _lines(path)
    record = json.loads(line)
    assert (record["msg"], record["level"]) == ("real", "info")
    assert (record["field_msg"], record["field_level"], record["other"]) == ("fake", "fake", 1)


def _fail() -> None:
    try:
        raise KeyError("inner")
    except KeyError as inner:
        raise ValueError("boom\nsecond line") from inner


@pytest.mark.parametrize("form", ["logfmt", "json"])
def test_every_record_is_one_line_even_with_newlines_and_tracebacks(tmp_path: Path, form: str):
    path = _to_file(tmp_path, form=form)
    log.info("first\nsecond\r\nthird")
    try:
        _fail()
    except ValueError:
        log.exception("reconcile failed for %s", "eni-1")
    log.warning("here", stack_info=True)
    lines = _lines(path)
    assert len(lines) == 3
    parsed = [dict(parse_logfmt(line)) if form == "logfmt" else json.loads(line) for line in lines]
    assert parsed[0]["msg"] == "first\nsecond\r\nthird"
    failed = parsed[1]
    assert (failed["level"], failed["msg"]) == ("error", "reconcile failed for eni-1")
    assert failed["error"] == "ValueError: boom\nsecond line"
    assert failed["stack"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'inner'" in failed["stack"]
    assert failed["stack"].endswith("ValueError: boom\nsecond line")
    assert "error" not in parsed[2]
    assert parsed[2]["stack"].startswith("Stack (most recent call last):")


SECRETS = [
    # (text, the secret, text that must survive)
    ("caller AKIAIOSFODNN7EXAMPLE denied", "AKIAIOSFODNN7EXAMPLE", "caller <redacted> denied"),
    ("session ASIAY34FZKBOKMUTVV7A expired", "ASIAY34FZKBOKMUTVV7A", "session <redacted> expired"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY region=eu-west-1",
        "wJalrXUtnFEMI",
        "aws_secret_access_key=<redacted> region=eu-west-1",
    ),
    (
        '{"AccessKeyId": "x", "SecretAccessKey": "wJalr XUtn", "Expiration": "soon"}',
        "wJalr",
        '"SecretAccessKey": "<redacted>", "Expiration": "soon"',
    ),
    ("secret_key = s3cr3tV4lue and more", "s3cr3tV4lue", "secret_key = <redacted> and more"),
    (
        "GET /api Authorization: Bearer abc.def-ghi_jkl retry=2",
        "abc.def-ghi_jkl",
        "Authorization: Bearer <redacted> retry=2",
    ),
    (
        "headers {'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/"
        "ec2/aws4_request, SignedHeaders=host, Signature=fe5f80f77d5fa3beca038a248ff027', "
        "'X-Amz-Date': '20260101T000000Z'}",
        "fe5f80f77d5fa3beca038a248ff027",
        "{'Authorization': 'AWS4-HMAC-SHA256 <redacted>', 'X-Amz-Date': '20260101T000000Z'}",
    ),
    (
        "sent bearer ya29.a0AfH6SMBx3dEXAMPLEtoken to the API",
        "ya29.a0AfH6SMBx3dEXAMPLEtoken",
        "sent bearer <redacted> to the API",
    ),
    (
        "X-aws-ec2-metadata-token: AQAEAHx6oXEXAMPLE== path=/latest/meta-data",
        "AQAEAHx6oXEXAMPLE",
        "X-aws-ec2-metadata-token: <redacted> path=/latest/meta-data",
    ),
    (
        "X-Amz-Security-Token: FwoGZXIvYXdzEJr//////////wEaDEXAMPLE end",
        "FwoGZXIvYXdzEJr",
        "X-Amz-Security-Token: <redacted> end",
    ),
    (
        "url https://ec2/?X-Amz-Security-Token=FwoGZXIvYXdz%2FEXAMPLE&X-Amz-Date=1",
        "FwoGZXIvYXdz",
        "X-Amz-Security-Token=<redacted>&X-Amz-Date=1",
    ),
    (
        "token eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl-_x ok",
        "eyJzdWIiOiJzeXN0ZW0ifQ",
        "token <redacted> ok",
    ),
    ("login user=bob password=hunter2 ok", "hunter2", "user=bob password=<redacted> ok"),
    ('conf password="correct horse" next', "horse", 'password="<redacted>" next'),
    ("call token=abc123xyz&page=2", "abc123xyz", "token=<redacted>&page=2"),
    ("{'client_secret': 'shhh', 'id': 7}", "shhh", "{'client_secret': '<redacted>', 'id': 7}"),
    (
        "proxy http://admin:pa55w0rd@10.0.0.1:3128 failed",
        "pa55w0rd",
        "http://admin:<redacted>@10.0.0.1:3128 failed",
    ),
]


@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_redact_replaces_the_secret_and_keeps_the_rest(text: str, secret: str, kept: str):
    clean = redact(text)
    assert secret not in clean
    assert kept in clean


@pytest.mark.parametrize(
    "text",
    [
        "token_file=/var/run/secrets/kubernetes.io/serviceaccount/token",
        "X-aws-ec2-metadata-token-ttl-seconds: 21600",
        "token: expired, reading it again",
        "the bearer token file is missing",
        "zone asia-east1-a, subnet 10.0.0.0/16",
        "max_tokens=5 secrets=0",
    ],
)
def test_redact_leaves_text_without_secrets_alone(text: str):
    assert redact(text) == text


def test_text_without_any_candidate_is_returned_as_is():
    text = "pool: created eni-1 with 9 blocks"
    assert redact(text) is text


@pytest.mark.parametrize("form", ["logfmt", "json"])
@pytest.mark.parametrize(("text", "secret", "kept"), SECRETS)
def test_secrets_never_reach_the_file_from_msg_args_fields_or_errors(
    tmp_path: Path, form: str, text: str, secret: str, kept: str
):
    path = _to_file(tmp_path, form=form)
    log.info(text)
    log.info("calling %s (try %d)", text, 1)
    log.info("calling", **fields(detail=text, attempt=1))
    try:
        raise RuntimeError(text)
    except RuntimeError:
        log.exception("failed")
    lines = _lines(path)
    assert len(lines) == 4
    assert secret not in "\n".join(lines)
    parsed = [dict(parse_logfmt(line)) if form == "logfmt" else json.loads(line) for line in lines]
    assert kept in parsed[0]["msg"]
    assert kept in parsed[1]["msg"] and parsed[1]["msg"].endswith("(try 1)")
    assert kept in parsed[2]["detail"] and str(parsed[2]["attempt"]) == "1"
    assert kept in parsed[3]["error"] and kept in parsed[3]["stack"]


def test_a_field_named_like_a_secret_is_redacted_whole(tmp_path: Path):
    path = _to_file(tmp_path, form="json")
    log.info("auth", **fields(token="plain", api_key=object(), password="x", retries=3))
    (line,) = _lines(path)
    record = json.loads(line)
    assert (record["token"], record["api_key"], record["password"]) == (REDACTED,) * 3
    assert record["retries"] == 3


def test_bad_arguments_do_not_break_the_caller(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _to_file(tmp_path)
    log.info("%d blocks", "nine")  # logging reports it on stderr; the call returns
    log.info("after")
    assert [dict(parse_logfmt(line))["msg"] for line in _lines(path)] == ["after"]
    assert "Logging error" in capsys.readouterr().err


def test_the_file_is_rotated_and_its_directory_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert (LOG_ROTATE_BYTES, LOG_KEEP) == (10 * 1024 * 1024, 5)
    monkeypatch.setattr(ipamd.logs, "LOG_ROTATE_BYTES", 300)
    monkeypatch.setattr(ipamd.logs, "LOG_KEEP", 2)
    path = tmp_path / "var" / "log" / "vpc-ipam" / "ipamd.log"
    configure_logging(_settings(path))
    for n in range(40):
        log.info("record %d", n, **fields(n=n))
    _lines(path)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["ipamd.log", "ipamd.log.1", "ipamd.log.2"]
    for file in path.parent.iterdir():
        assert file.stat().st_size <= 300
        for line in file.read_text().splitlines():
            assert dict(parse_logfmt(line))["msg"].startswith("record ")
    assert dict(parse_logfmt(_lines(path)[-1]))["n"] == "39"


@pytest.mark.parametrize(("destination", "other"), [("stderr", "stdout"), ("stdout", "stderr")])
def test_stream_destinations_write_there_and_nowhere_else(
    destination: str, other: str, capsys: pytest.CaptureFixture[str]
):
    configure_logging(_settings(destination, form="json"))
    log.warning("to %s", destination)
    captured = capsys.readouterr()
    (line,) = getattr(captured, destination[3:]).splitlines()
    assert json.loads(line)["msg"] == f"to {destination}"
    assert getattr(captured, other[3:]) == ""


def test_third_party_loggers_stay_quiet_even_at_debug(tmp_path: Path):
    path = _to_file(tmp_path, level="DEBUG")
    logging.getLogger("botocore.endpoint").debug("Sending http request: Authorization: x")
    logging.getLogger("urllib3.connectionpool").info("GET /latest/api/token")
    logging.getLogger("google.auth.transport").debug("refreshing")
    logging.getLogger("botocore.credentials").warning("credentials expire soon")
    log.debug("ours at debug")
    assert [dict(parse_logfmt(line))["msg"] for line in _lines(path)] == [
        "credentials expire soon",
        "ours at debug",
    ]
    for name in QUIET_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING


def test_third_party_warnings_follow_a_stricter_daemon_level(tmp_path: Path):
    path = _to_file(tmp_path, level="ERROR")
    logging.getLogger("kubernetes.client").warning("retrying")
    logging.getLogger("pyroute2").error("netlink error")
    assert [dict(parse_logfmt(line))["msg"] for line in _lines(path)] == ["netlink error"]


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("DEBUG", ["debug", "info", "warning", "error", "critical"]),
        ("info", ["info", "warning", "error", "critical"]),
        ("WARN", ["warning", "error", "critical"]),
        ("error", ["error", "critical"]),
        ("FATAL", ["critical"]),
    ],
)
def test_the_level_filters_records(tmp_path: Path, level: str, shown: list[str]):
    path = _to_file(tmp_path, level=level)
    for name in ("debug", "info", "warning", "error", "critical"):
        getattr(log, name)("at %s", name)
    assert [dict(parse_logfmt(line))["level"] for line in _lines(path)] == shown
