"""The emulator's state: every object, the global resourceVersion counter and the retained log
of changes watches replay, under one lock whose condition variable wakes waiting watches.

Every write bumps the counter, stamps the object's ``metadata.resourceVersion`` with it (as a
string) and appends a ``Change``. The log keeps the last ``retain`` changes; ``floor`` is the
resourceVersion of the newest change dropped (by trimming or ``compact()``): a watch may start
from any resourceVersion >= ``floor``, an older one is 410 Gone.
"""

from __future__ import annotations

import bisect
import copy
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sandbox.kube import objects
from sandbox.kube.objects import ApiError, Kind, Obj
from sandbox.kube.selectors import Matcher

Key = tuple[str, str, str]  # resource, namespace ("" if cluster-scoped), name
WatchState = Literal["more", "end", "expired"]


@dataclass(frozen=True)
class Change:
    """One committed write; ``previous`` is the object before it (``None`` for ADDED)."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    object: Obj
    previous: Obj | None


def resource_version(document: Obj) -> str | None:
    value = (document.get("metadata") or {}).get("resourceVersion")
    return str(value) if value else None


class Store:
    """Objects, counter, change log, call counts and the unavailable/closed switches."""

    def __init__(self, retain: int = 10_000) -> None:
        self.cond = threading.Condition()
        self._objects: dict[Key, Obj] = {}
        self._rv = 0
        self._log: list[Change] = []
        self._retain = retain
        self._floor = 0
        self._closed = False
        self._unavailable = False
        self._epoch = 0  # bumped when open watches must end (unavailable, stop)
        self._calls: Counter[str] = Counter()

    # --- switches and counters -------------------------------------------------------------

    @property
    def rv(self) -> int:
        with self.cond:
            return self._rv

    @property
    def floor(self) -> int:
        with self.cond:
            return self._floor

    @property
    def epoch(self) -> int:
        with self.cond:
            return self._epoch

    @property
    def unavailable(self) -> bool:
        with self.cond:
            return self._unavailable

    def set_unavailable(self, unavailable: bool) -> None:
        with self.cond:
            self._unavailable = unavailable
            if unavailable:
                self._epoch += 1
                self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self._closed = True
            self._epoch += 1
            self.cond.notify_all()

    def reopen(self) -> None:
        with self.cond:
            self._closed = False

    def count(self, call: str) -> None:
        with self.cond:
            self._calls[call] += 1

    def calls(self) -> dict[str, int]:
        with self.cond:
            return dict(self._calls)

    def reset_calls(self) -> None:
        with self.cond:
            self._calls.clear()

    def compact(self) -> None:
        with self.cond:
            self._log.clear()
            self._floor = self._rv

    # --- reads ------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        with self.cond:
            found = self._objects.get((kind.resource, namespace or "", name))
            if found is None:
                raise objects.not_found(kind, name)
            return copy.deepcopy(found)

    def select(self, kind: Kind, match: Matcher) -> tuple[list[Obj], int]:
        with self.cond:
            items = [
                copy.deepcopy(document)
                for (resource, _, _), document in sorted(self._objects.items())
                if resource == kind.resource and match(document)
            ]
            return items, self._rv

    # --- writes -----------------------------------------------------------------------------

    def _commit(self, kind: Kind, key: Key, type_: str, document: Obj, previous: Obj | None) -> Obj:
        self._rv += 1
        document["metadata"]["resourceVersion"] = str(self._rv)
        if type_ == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = document
        change = Change(self._rv, type_, kind.resource, copy.deepcopy(document), previous)
        self._log.append(change)
        if len(self._log) > self._retain:
            dropped = self._log[: len(self._log) - self._retain]
            del self._log[: len(dropped)]
            self._floor = dropped[-1].rv
        self.cond.notify_all()
        return copy.deepcopy(document)

    def create(self, kind: Kind, namespace: str | None, document: Obj) -> Obj:
        document = copy.deepcopy(document)
        document["kind"], document["apiVersion"] = kind.kind, kind.api_version
        metadata = document.setdefault("metadata", {})
        with self.cond:
            if not metadata.get("name"):
                if not metadata.get("generateName"):
                    raise ApiError(422, "Invalid", "metadata.name: Required value")
                metadata["name"] = metadata["generateName"] + objects.new_uid()[:5]
            name = metadata["name"]
            if kind.namespaced:
                metadata["namespace"] = namespace or metadata.get("namespace") or "default"
            else:
                metadata.pop("namespace", None)
            key = (kind.resource, metadata.get("namespace", ""), name)
            if key in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind.resource} "{name}" already exists',
                    {"name": name, "kind": kind.resource},
                )
            if metadata.get("resourceVersion"):
                raise ApiError(
                    422, "Invalid", "metadata.resourceVersion: must not be set on create"
                )
            metadata["uid"] = objects.new_uid()
            metadata["creationTimestamp"] = objects.now()
            return self._commit(kind, key, "ADDED", document, None)

    def update(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], Obj],
        subresource: str | None = None,
        *,
        whole: bool = False,
    ) -> Obj:
        """Replaces an object with ``change(current copy)``; the result's resourceVersion, if
        set, must be the current one (409 otherwise). Identity fields are kept; with
        ``kind.has_status`` the main resource keeps the old status and ``status`` keeps
        everything but the new status (``whole``: the Python API's writes, no such split)."""
        key = (kind.resource, namespace or "", name)
        with self.cond:
            current = self._objects.get(key)
            if current is None:
                raise objects.not_found(kind, name)
            wanted = change(copy.deepcopy(current))
            if not isinstance(wanted, dict):
                raise ApiError(400, "BadRequest", "the object must be a JSON object")
            precondition = resource_version(wanted)
            if precondition is not None and precondition != resource_version(current):
                raise objects.conflict(kind, name)
            if whole or not kind.has_status:
                result = wanted
            elif subresource == "status":
                result = copy.deepcopy(current)
                result["status"] = wanted.get("status") or {}
            else:
                result = wanted
                result["status"] = copy.deepcopy(current.get("status") or {})
            metadata = result.get("metadata")
            if not isinstance(metadata, dict):
                metadata = result["metadata"] = {}
            for field in ("name", "namespace", "uid", "creationTimestamp"):
                if field in current["metadata"]:
                    metadata[field] = current["metadata"][field]
            result["kind"], result["apiVersion"] = kind.kind, kind.api_version
            return self._commit(kind, key, "MODIFIED", result, copy.deepcopy(current))

    def delete(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        key = (kind.resource, namespace or "", name)
        with self.cond:
            current = self._objects.get(key)
            if current is None:
                raise objects.not_found(kind, name)
            previous = copy.deepcopy(current)
            return self._commit(kind, key, "DELETED", current, previous)

    # --- watches ----------------------------------------------------------------------------

    def start_watch(
        self, kind: Kind, match: Matcher, since: int | None
    ) -> tuple[list[Change], int, int]:
        """Where a watch starts: synthetic ADDED changes for what exists (when ``since`` is
        ``None``), its cursor, and the epoch it belongs to. 410 if ``since`` is too old."""
        with self.cond:
            if since is not None and since < self._floor:
                raise objects.expired(since, self._floor)
            initial = []
            if since is None:
                items, _ = self.select(kind, match)
                initial = [Change(self._rv, "ADDED", kind.resource, item, None) for item in items]
            return initial, self._rv if since is None else since, self._epoch

    def next_changes(
        self, cursor: int, deadline: float, epoch: int
    ) -> tuple[list[Change], int, WatchState]:
        """Changes after ``cursor``, waiting until there are some, ``deadline`` (monotonic)
        passes, or the watch must end (emulator stopped or made unavailable)."""
        with self.cond:
            while True:
                if self._closed or epoch != self._epoch:
                    return [], cursor, "end"
                if cursor < self._floor:
                    return [], cursor, "expired"
                if self._rv > cursor:
                    start = bisect.bisect_right(self._log, cursor, key=lambda c: c.rv)
                    return self._log[start:], self._rv, "more"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], cursor, "end"
                self.cond.wait(remaining)
