"""The GCE metadata server, read with the standard library.

Every request carries ``Metadata-Flavor: Google`` and every answer must carry it back (a
proxy or anything else answering on the address is refused). One ``?recursive=true`` read
of ``instance/`` gives identity, zone, machine type and nic0 (address, MAC, gateway, mask,
network, ip-aliases) at once. The host comes from the settings (``GCE_METADATA_HOST``, the
variable Google's libraries read); nothing here defaults to the real address.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from providers.errors import MetadataError

FLAVOR = "Metadata-Flavor"
GOOGLE = "Google"


class MetadataClient:
    def __init__(self, host: str, *, timeout: float = 2.0) -> None:
        if not host:
            raise MetadataError("no metadata host configured (GCE_METADATA_HOST)")
        self.base = f"http://{host}/computeMetadata/v1/"
        self.timeout = timeout
        self.requests = 0

    def get(self, path: str) -> str:
        self.requests += 1
        request = urllib.request.Request(self.base + path, headers={FLAVOR: GOOGLE})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                if answer.headers.get(FLAVOR) != GOOGLE:
                    raise MetadataError(f"{self.base} answered without {FLAVOR}: {GOOGLE}")
                return str(answer.read().decode())
        except urllib.error.HTTPError as error:
            raise MetadataError(
                f"metadata {path!r} answered {error.code}", code=str(error.code)
            ) from error
        except (urllib.error.URLError, OSError) as error:
            raise MetadataError(f"metadata server {self.base} unreachable: {error}") from error

    def instance(self) -> dict[str, Any]:
        """``instance/?recursive=true`` as JSON."""
        text = self.get("instance/?recursive=true")
        try:
            found = json.loads(text)
        except ValueError as bad:
            raise MetadataError(f"metadata instance/ is not JSON: {bad}") from bad
        if not isinstance(found, dict):
            raise MetadataError("metadata instance/ is not a JSON object")
        return found

    def project_id(self) -> str:
        return self.get("project/project-id").strip()
