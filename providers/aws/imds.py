"""IMDSv2 client: the instance's own view of itself, read with a session token.

Every read needs a token from ``PUT /latest/api/token``; the token is cached until shortly
before its TTL ends and fetched again once if the service answers 401 (it restarted, or
the clock jumped). The endpoint always comes from configuration
(``AWS_EC2_METADATA_SERVICE_ENDPOINT``); this client never guesses one.

IMDS lags behind EC2 by up to a few seconds after an attach or assign: it is the fast,
free view for start-up, never the authority before a destructive call.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException

from providers.errors import MetadataError

TOKEN_PATH = "/latest/api/token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
DEFAULT_TTL = 21600
REFRESH_MARGIN = 60.0
"""Seconds before expiry at which a cached token is replaced."""


class ImdsClient:
    """Reads ``/latest/...`` paths of one instance's metadata service."""

    def __init__(
        self,
        endpoint: str,
        *,
        token_ttl: int = DEFAULT_TTL,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token_ttl = token_ttl
        self.timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self.requests = 0
        """HTTP requests made, token requests included (tests and benchmarks read it)."""

    def get(self, path: str) -> str:
        """The text at ``/latest/<path>``; MetadataError when missing or unreachable."""
        text = self.get_optional(path)
        if text is None:
            raise MetadataError(f"instance metadata has no {path!r}", code="404")
        return text

    def get_optional(self, path: str) -> str | None:
        """The text at ``/latest/<path>``, or None when the service answers 404."""
        for attempt in (1, 2):
            status, body = self._request("GET", f"/latest/{path}", {TOKEN_HEADER: self._session()})
            if status == 401 and attempt == 1:
                self._token = None  # the service forgot our token: get a new one, once
                continue
            if status == 404:
                return None
            if status != 200:
                raise MetadataError(
                    f"instance metadata {path!r} answered {status}", code=str(status)
                )
            return body
        raise MetadataError(f"instance metadata refused a fresh token for {path!r}", code="401")

    def get_lines(self, path: str) -> tuple[str, ...]:
        """A newline-separated listing; empty when the path does not exist."""
        text = self.get_optional(path)
        return tuple(line.strip() for line in (text or "").splitlines() if line.strip())

    def _session(self) -> str:
        now = self._clock()
        if self._token is None or now >= self._token_expires - REFRESH_MARGIN:
            status, body = self._request("PUT", TOKEN_PATH, {TTL_HEADER: str(self.token_ttl)})
            if status != 200 or not body:
                raise MetadataError(f"IMDSv2 token request answered {status}", code=str(status))
            self._token = body.strip()
            self._token_expires = now + self.token_ttl
        return self._token

    def _request(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        self.requests += 1
        request = urllib.request.Request(
            self.endpoint + path,
            method=method,
            headers=headers,
            data=b"" if method == "PUT" else None,
        )
        # No proxy: the metadata service is link-local (or, in tests, loopback), never proxied.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""
        except (urllib.error.URLError, HTTPException, OSError) as error:
            raise MetadataError(
                f"instance metadata at {self.endpoint} is unreachable: {error}"
            ) from error
