"""The ``repair`` op over the daemon's socket: finding ids in, what was repaired out.

A long list goes in batches of :data:`BATCH` ids whose answers are merged: ``repaired``
and ``skipped`` concatenated, ``findings_left`` from the last answer (the daemon diagnoses
afresh on each request).
Every failure of the exchange (a CniError: daemon down, refused, timed out, an error
answer) becomes :class:`RepairFailed` with the daemon's own words.
"""

from __future__ import annotations

from collections.abc import Sequence

from cni import client
from cni.errors import CniError
from cni.wire import MAX_IDS, RepairArgs

BATCH = min(MAX_IDS, 200)
"""Ids per request. The wire would take MAX_IDS, but the answer names each id again with
its action or reason (about 150 bytes each), and 1000 of those overflow one message
(cni.wire.MAX_MESSAGE, 64 KiB)."""


class RepairFailed(Exception):
    """The daemon did not repair: ``str()`` says why, in one line."""


def send(socket_path: str, ids: Sequence[str], *, timeout: float) -> dict[str, object]:
    """Ask the daemon at ``socket_path`` to repair the findings ``ids``; its merged answer."""
    repaired: list[object] = []
    skipped: list[object] = []
    answer: dict[str, object] = {}
    for start in range(0, len(ids), BATCH):
        batch = tuple(ids[start : start + BATCH])
        request = client.new_request("repair", RepairArgs(findings=batch), timeout=timeout)
        try:
            answer = client.call(socket_path, request, timeout=timeout)
        except CniError as error:
            raise RepairFailed(str(error)) from None
        repaired.extend(_list(answer.get("repaired")))
        skipped.extend(_list(answer.get("skipped")))
    return {**answer, "repaired": repaired, "skipped": skipped}


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
