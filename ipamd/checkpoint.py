"""Crash-safe persistence of the datastore's state, written on every allocation change.

A checkpoint is what lets a restarted daemon know which pod holds which address without
asking the cloud, so it must never be torn and never silently lost:

- ``FileCheckpoint.save`` writes a temp file in the same directory, fsyncs it, renames it
  onto the path and fsyncs the directory. A crash at any point leaves either the old file or
  the new one, whole. One JSON encoding, one write; no extra copy of the state.
- ``FileCheckpoint.load`` never resets a file it cannot read: it moves it aside to
  ``<path>.corrupt-<UTC time>`` (never over an earlier one), logs at ERROR and raises
  ``CorruptCheckpoint``, so recovery starts from the host and the cloud with the evidence
  kept. Temp files left by a crash are removed.
- ``MemoryCheckpoint`` is the same contract in memory for tests; it stores the state through
  a JSON round trip, so what a test loads is what a file would have given back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

VERSION = 1


class Checkpoint(Protocol):
    def load(self) -> dict[str, Any] | None:
        """The last saved state, or None when nothing was ever saved."""
        ...

    def save(self, state: dict[str, Any]) -> None:
        """Replace the saved state; when this returns, it survives a crash."""
        ...


class CorruptCheckpoint(Exception):
    """The checkpoint could not be read as one; it was moved aside, not deleted."""

    def __init__(self, path: Path, reason: str, moved_to: Path) -> None:
        self.path = path
        self.reason = reason
        self.moved_to = moved_to
        super().__init__(f"checkpoint {path} is corrupt ({reason}); moved to {moved_to}")


class MemoryCheckpoint:
    def __init__(self) -> None:
        self._saved: str | None = None
        self.saves = 0
        """How many times ``save`` was called."""

    def load(self) -> dict[str, Any] | None:
        if self._saved is None:
            return None
        state: dict[str, Any] = json.loads(self._saved)
        return state

    def save(self, state: dict[str, Any]) -> None:
        self._saved = json.dumps(state, allow_nan=False)
        self.saves += 1


class FileCheckpoint:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._temp_prefix = f".{path.name}."
        self._temp = path.with_name(f"{self._temp_prefix}{os.getpid()}.tmp")

    def save(self, state: dict[str, Any]) -> None:
        envelope = {"version": VERSION, "written_at": self._clock(), "state": state}
        data = json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()
        with self._lock:
            try:
                fd = self._open_temp()
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(self._temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(self._temp)
                raise
            _fsync_dir(self.path.parent)

    def load(self) -> dict[str, Any] | None:
        with self._lock:
            self._remove_leftovers()
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return None
            try:
                envelope = json.loads(raw)
            except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
                raise self._quarantine(f"not valid JSON: {error}") from None
            problem = _envelope_problem(envelope)
            if problem is not None:
                raise self._quarantine(problem)
            state: dict[str, Any] = envelope["state"]
            return state

    def peek(self) -> dict[str, Any] | None:
        """What ``load`` would return, read-only: an unreadable file raises ValueError and
        stays where it is, and no leftover is removed (the doctor looks; it never moves)."""
        with self._lock:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return None
            try:
                envelope = json.loads(raw)
            except RecursionError as error:
                raise ValueError(f"not valid JSON: {error}") from None
            problem = _envelope_problem(envelope)
            if problem is not None:
                raise ValueError(problem)
            state: dict[str, Any] = envelope["state"]
            return state

    def quarantine(self, reason: str) -> CorruptCheckpoint:
        """Move a checkpoint that loaded but cannot be used (the datastore found its state
        inconsistent) aside as load does with an unreadable one, so the next save cannot
        silently replace it. Returns the exception for the caller to raise or log."""
        with self._lock:
            return self._quarantine(reason)

    def _open_temp(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(self._temp, flags, 0o600)
        except FileNotFoundError:
            directory = self.path.parent
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _fsync_dir(directory.parent)
            return os.open(self._temp, flags, 0o600)

    def _remove_leftovers(self) -> None:
        """Remove temp files of saves that a crash interrupted; the path holds the last
        complete save."""
        try:
            names = os.listdir(self.path.parent)
        except FileNotFoundError:
            return
        for name in names:
            if name.startswith(self._temp_prefix) and name.endswith(".tmp"):
                log.warning("removing %s, left by an interrupted checkpoint save", name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path.parent / name)

    def _quarantine(self, reason: str) -> CorruptCheckpoint:
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{self.path.name}.corrupt-{stamp}"
        n = 0
        while True:
            target = self.path.with_name(base if n == 0 else f"{base}.{n}")
            try:
                # link, unlike rename, fails rather than replace an earlier quarantined file
                os.link(self.path, target)
            except FileExistsError:
                n += 1
            except OSError:  # a filesystem without hard links
                if target.exists():
                    n += 1
                    continue
                os.rename(self.path, target)
                break
            else:
                os.unlink(self.path)
                break
        _fsync_dir(self.path.parent)
        log.error(
            "CHECKPOINT CORRUPT: %s (%s). Moved it to %s; it is not loaded, so "
            "allocations must be rebuilt from the host and the cloud",
            self.path,
            reason,
            target,
        )
        return CorruptCheckpoint(self.path, reason, target)


def _envelope_problem(envelope: object) -> str | None:
    if not isinstance(envelope, dict):
        return f"a JSON {type(envelope).__name__}, not an object"
    if "version" not in envelope or "state" not in envelope:
        return "no version/state envelope"
    version = envelope["version"]
    if type(version) is not int or version != VERSION:
        return f"unknown version {version!r} (this daemon reads version {VERSION})"
    if not isinstance(envelope["state"], dict):
        return "its state is not an object"
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
