"""The daemon's logging: where records go, what a line looks like, and what never appears.

:func:`configure_logging` is the one place that sets up the root logger (``force=True``):
one handler (stderr, stdout, or a file rotated at :data:`LOG_ROTATE_BYTES`, :data:`LOG_KEEP`
kept), the level of ``AWS_VPC_K8S_CNI_LOGLEVEL`` and the formatter of
``VPC_IPAM_LOG_FORMAT``. Why it is owned here, and strictly:

- **One record, one line.** Log pipelines split on newlines, so a traceback or a message
  with a newline must not become several "records". :class:`LogfmtFormatter` escapes
  newlines and control characters inside quoted values; :class:`JsonFormatter` writes one
  JSON object (ASCII, newlines escaped) per line::

    ts=2026-11-22T10:00:00.123Z level=info logger=ipamd.poolloop msg=grew n=9
    {"ts":"2026-11-22T10:00:00.123Z","level":"info","logger":"ipamd.poolloop","msg":"grew","n":9}

  Times are UTC, RFC 3339 with milliseconds; the level is Python's name in lower case.
  An exception adds ``error`` (``ValueError: boom``) and ``stack`` (the traceback).
- **Structured fields.** Callers attach key/values with :func:`fields`, which wraps them
  for ``extra`` under the record attribute ``fields``::

    log.info("pool grew", **fields(eni="eni-1", blocks=9))

  They are rendered after ``msg``, in the order given. ``str``, ``int``, ``float``,
  ``bool`` and ``None`` keep their type (in JSON); anything else is ``str()``-ed. A field
  named like a fixed key (``ts``, ``level``, ``logger``, ``msg``, ``error``, ``stack``) is
  rendered as ``field_<name>`` so it cannot overwrite it.
- **No secrets.** A :class:`RedactingFilter` on the handler rewrites, before any
  formatter runs, the rendered message (so ``%s`` arguments too) and the field values:
  AWS access key ids, secret keys, session and metadata tokens, ``Authorization`` and
  ``Bearer`` credentials, JWTs, ``password=``/``token=`` pairs and passwords in URLs become
  ``<redacted>``; a field whose name ends like ``token``, ``secret`` or ``password`` is
  redacted whole. Formatters redact the exception text they render the same way.
- **Quiet SDKs.** botocore logs signed request headers at DEBUG, urllib3 and the Google
  and Kubernetes clients log URLs and bodies: their loggers stay at WARNING or above
  whatever the daemon's level, so ``AWS_VPC_K8S_CNI_LOGLEVEL=DEBUG`` (aws-node's
  default) shows our debugging, not theirs.
"""

from __future__ import annotations

import functools
import json
import logging
import logging.handlers
import math
import re
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from config import LogFormat, Settings

LOG_ROTATE_BYTES = 10 * 1024 * 1024
"""Size at which the log file is rotated (``AWS_VPC_K8S_CNI_LOG_FILE`` a path)."""
LOG_KEEP = 5
"""Rotated files kept next to the current one."""
FIELDS_ATTR = "fields"
"""Record attribute that carries the structured fields (see :func:`fields`)."""
CORE_KEYS = ("ts", "level", "logger", "msg", "error", "stack")
"""Keys every line may carry; a field with one of these names gets a ``field_`` prefix."""
QUIET_LOGGERS = (
    "botocore",
    "boto3",
    "urllib3",
    "s3transfer",
    "kubernetes",
    "google",
    "google.auth",
    "pyroute2",
)
"""Third-party loggers held at WARNING or above (they log headers, URLs and bodies)."""
REDACTED = "<redacted>"

Scalar = str | int | float | bool | None


class Fields(TypedDict):
    """Keyword arguments for a logging call: ``log.info(msg, **fields(k=v))``."""

    extra: Mapping[str, object]


def _scalar(value: object) -> Scalar:
    """Scalars stay (non-finite floats become text, which JSON cannot hold); the rest: str()."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def fields(**values: object) -> Fields:
    """Structured fields for one logging call, rendered after the message in this order."""
    return {"extra": {FIELDS_ATTR: values}}


# --- redaction --------------------------------------------------------------------------

_CANDIDATE = re.compile(
    r"AKIA|ASIA|eyJ|://[^\s/@]+@"
    r"|(?i:secret|authoriz|bearer|token|passw|api_?key|private_?key|signature|credential)"
)
"""Cheap first look: text without any of these cannot hold a secret we know of."""
_SEP = r"""["']?\s*[:=]\s*["']?"""
_WORD = r"""[^\s'",;&)\]}]+"""
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers: keep the scheme, drop the credentials (AWS SigV4's run to the
    # end of the line or quote: Credential=..., SignedHeaders=..., Signature=...).
    (
        re.compile(
            rf"""(?i)(?P<key>\b(?:proxy-)?authorization{_SEP})"""
            r"""(?:(?P<long>aws4-hmac-sha256|digest)\s+[^'"\r\n]+"""
            rf"""|(?P<short>bearer|basic|negotiate)\s+{_WORD}|{_WORD})"""
        ),
        "auth",
    ),
    (
        re.compile(
            r"(?i)(?P<key>\b(?:x-aws-ec2-metadata-token|x-amz-security-token"
            rf"|x-goog-iam-authorization-token){_SEP}){_WORD}"
        ),
        "key",
    ),
    (re.compile(r"(?i)(?P<key>\bbearer\s+)[A-Za-z0-9\-._~+/]{12,}=*"), "key"),
    # password=..., token=..., aws_secret_access_key = ..., "SecretAccessKey": "..."
    # (a colon only after a quoted key: "token: expired" in prose is no secret).
    (
        re.compile(
            r"""(?i)(?P<key>\b[\w.-]*?(?:passw(?:or)?d|secret|token|api_?key|signature"""
            r"""|private_?key|secret_?access_?key|secret_?key|credentials?)["']?"""
            r"""(?:\s*=\s*|(?<=["'])\s*:\s*))"""
            rf"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|{_WORD})"""
        ),
        "value",
    ),
    (re.compile(r"(?P<key>://[^\s/:@]+:)[^\s/@]+(?=@)"), "key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "whole"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "whole"),
)
"""Each pattern and what of its match survives: nothing, the key, the key and auth scheme,
or the key and the quotes around the value."""
_SECRET_FIELD = re.compile(
    r"(?i)(?:passw(?:or)?d|secret|token|authorization|api_?key|access_?key|private_?key"
    r"|signature|credentials?)$"
)


def _replace(kind: str, match: re.Match[str]) -> str:
    if kind == "whole":
        return REDACTED
    key = match["key"]
    if kind == "auth":
        scheme = match["long"] or match["short"]
        return f"{key}{scheme} {REDACTED}" if scheme else f"{key}{REDACTED}"
    if kind == "value":
        value = match["value"]
        quote = value[0] if value[0] in "\"'" else ""
        closing = quote if quote and len(value) > 1 and value.endswith(quote) else ""
        return f"{key}{quote}{REDACTED}{closing}"
    return f"{key}{REDACTED}"


def redact(text: str) -> str:
    """``text`` with every secret we recognise replaced by ``<redacted>``."""
    if _CANDIDATE.search(text) is None:
        return text
    for pattern, kind in _RULES:
        text = pattern.sub(functools.partial(_replace, kind), text)
    return text


def _scrub_field(name: str, value: object) -> Scalar:
    value = _scalar(value)
    if not isinstance(value, str):
        return value
    return REDACTED if _SECRET_FIELD.search(name) else redact(value)


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record's rendered message (args included) and its fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad args: the handler reports them when it formats the record
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        values = getattr(record, FIELDS_ATTR, None)
        if isinstance(values, Mapping):
            setattr(
                record,
                FIELDS_ATTR,
                {str(key): _scrub_field(str(key), value) for key, value in values.items()},
            )
        return True


# --- formatting -------------------------------------------------------------------------


def _timestamp(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


def _record_fields(record: logging.LogRecord) -> list[tuple[str, Scalar]]:
    values = getattr(record, FIELDS_ATTR, None)
    if not isinstance(values, Mapping):
        return []
    named = ((str(key), value) for key, value in values.items())
    return [(f"field_{k}" if k in CORE_KEYS else k, _scalar(v)) for k, v in named]


class _LineFormatter(logging.Formatter):
    """The pairs of one line, in order: ts, level, logger, msg, fields, error, stack."""

    def pairs(self, record: logging.LogRecord) -> list[tuple[str, Scalar]]:
        out: list[tuple[str, Scalar]] = [
            ("ts", _timestamp(record)),
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("msg", record.getMessage()),
            *_record_fields(record),
        ]
        stack = []
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            summary = traceback.format_exception_only(type(error), error)
            out.append(("error", redact("".join(summary).strip())))
            stack.append(self.formatException(record.exc_info))
        elif record.exc_text:
            stack.append(record.exc_text)
        if record.stack_info:
            stack.append(self.formatStack(record.stack_info))
        if stack:
            out.append(("stack", redact("\n".join(stack))))
        return out


_NEEDS_QUOTES = re.compile(r'[\x00-\x20="\x7f\x85\u2028\u2029]')
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BAD_KEY = re.compile(r'[\x00-\x20="\x7f\x85\u2028\u2029]')
_TO_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f\x85\u2028\u2029]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def logfmt_value(value: Scalar) -> str:
    """One value as logfmt writes it: bare when it can be, else double-quoted and escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and _NEEDS_QUOTES.search(text) is None:
        return text
    return '"' + _TO_ESCAPE.sub(_escape, text) + '"'


def _logfmt_key(key: str) -> str:
    return _BAD_KEY.sub("_", key) or "_"


class LogfmtFormatter(_LineFormatter):
    """``ts=... level=info logger=... msg="..." key=value ...``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{_logfmt_key(k)}={logfmt_value(v)}" for k, v in self.pairs(record))


class JsonFormatter(_LineFormatter):
    """One JSON object per line: ts, level, logger, msg, the fields, error and stack."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(dict(self.pairs(record)), separators=(",", ":"))


FORMATTERS: dict[LogFormat, type[_LineFormatter]] = {
    LogFormat.LOGFMT: LogfmtFormatter,
    LogFormat.JSON: JsonFormatter,
}


def _handler(destination: str) -> logging.Handler:
    if destination == "stderr":
        return logging.StreamHandler(sys.stderr)
    if destination == "stdout":
        return logging.StreamHandler(sys.stdout)
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    return logging.handlers.RotatingFileHandler(
        destination, maxBytes=LOG_ROTATE_BYTES, backupCount=LOG_KEEP, encoding="utf-8"
    )


def configure_logging(settings: Settings) -> None:
    """Replace the root logger's handlers with the one the settings describe."""
    handler = _handler(settings.daemon.log_file)
    handler.setFormatter(FORMATTERS[settings.daemon.log_format]())
    handler.addFilter(RedactingFilter())
    level = settings.daemon.log_level.python_level
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Never below WARNING, even at DEBUG: botocore logs signed headers and the other
    # clients URLs and bodies there. Above the daemon's level when it is higher, since
    # their records would otherwise reach the handler regardless of the root's level.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
