"""Checkpoints: round trips, atomic replacement, crashes at every step, corrupt files kept."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ipamd.checkpoint import Checkpoint, CorruptCheckpoint, FileCheckpoint, MemoryCheckpoint
from ipamd.datastore import Datastore, InconsistentState
from sandbox.clock import FakeClock
from tests.unit.ipamd.stores import COOLDOWN, POD, cloud_iface, key, new_store

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
STAMP = "20231114T221320Z"
OLD: dict[str, Any] = {"generation": "old", "allocations": [{"address": "10.0.1.1"}]}
NEW: dict[str, Any] = {"generation": "new", "allocations": [{"address": "10.0.1.2"}] * 50}


class Crash(BaseException):
    """The process dies here: nothing after this point runs (not even cleanup)."""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "checkpoint.json"


def checkpoint(path: Path) -> FileCheckpoint:
    return FileCheckpoint(path, clock=FakeClock(NOW))


def on_disk(path: Path) -> Any:
    return json.loads(path.read_bytes())["state"]


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_nothing_saved_loads_as_none(path: Path):
    assert checkpoint(path).load() is None
    assert MemoryCheckpoint().load() is None


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_save_then_load_round_trips(path: Path, kind: str):
    store: Checkpoint = MemoryCheckpoint() if kind == "memory" else checkpoint(path)
    store.save(OLD)
    assert store.load() == OLD
    store.save(NEW)
    assert store.load() == NEW


def test_file_holds_a_versioned_envelope_readable_by_a_new_instance(path: Path):
    checkpoint(path).save(OLD)
    assert json.loads(path.read_bytes()) == {"version": 1, "written_at": NOW, "state": OLD}
    assert FileCheckpoint(path).load() == OLD
    assert leftovers(path) == []


def test_directory_is_created_0700_and_the_file_is_0600(path: Path):
    checkpoint(path).save(OLD)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    checkpoint(path).save(NEW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_replaces_the_file_rather_than_rewriting_it(path: Path):
    cp = checkpoint(path)
    cp.save(OLD)
    with path.open("rb") as reader:  # a reader of the old file keeps seeing all of it
        inode = os.fstat(reader.fileno()).st_ino
        cp.save(NEW)
        assert json.loads(reader.read())["state"] == OLD
    assert path.stat().st_ino != inode
    assert on_disk(path) == NEW


def test_save_syncs_the_file_before_the_rename_and_the_directory_after(
    path: Path, monkeypatch: pytest.MonkeyPatch
):
    cp = checkpoint(path)
    cp.save(OLD)
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    cp.save(NEW)
    assert events == ["fsync file", "replace", "fsync dir"]


def _fail_on_call(real: Callable[..., Any], n: int, calls: list[int]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == n:
            raise Crash
        return real(*args)

    return wrapper


def _torn_write(real: Callable[[int, Any], int]) -> Callable[[int, Any], int]:
    def wrapper(fd: int, data: Any) -> int:
        real(fd, bytes(data)[: len(data) // 2])
        raise Crash

    return wrapper


Breaker = Callable[[Callable[..., Any]], Callable[..., Any]]

# step -> (the os function that fails, how, which state the path must hold afterwards)
STEPS: dict[str, tuple[str, Breaker, dict[str, Any]]] = {
    "open temp": ("open", lambda real: _fail_on_call(real, 1, [0]), OLD),
    "write temp (torn)": ("write", _torn_write, OLD),
    "fsync temp": ("fsync", lambda real: _fail_on_call(real, 1, [0]), OLD),
    "replace": ("replace", lambda real: _fail_on_call(real, 1, [0]), OLD),
    "fsync directory": ("fsync", lambda real: _fail_on_call(real, 2, [0]), NEW),
}


@pytest.mark.parametrize("step", STEPS.values(), ids=STEPS.keys())
@pytest.mark.parametrize("cleanup_runs", [True, False], ids=["exception", "killed"])
def test_a_crash_at_any_step_leaves_the_old_or_the_new_state_whole(
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: tuple[str, Breaker, dict[str, Any]],
    cleanup_runs: bool,
):
    checkpoint(path).save(OLD)
    name, breaker, survivor = step
    with monkeypatch.context() as patch:
        patch.setattr(os, name, breaker(getattr(os, name)))
        if not cleanup_runs:  # killed: the clause that removes the temp file never ran
            patch.setattr(os, "unlink", _fail_on_call(os.unlink, 1, [0]))
        with pytest.raises(Crash):
            checkpoint(path).save(NEW)
    assert on_disk(path) == survivor
    # a killed save leaves its temp file behind (torn, or whole but never renamed)
    killed_with_temp = not cleanup_runs and name != "open" and survivor is OLD
    assert bool(leftovers(path)) == killed_with_temp
    restarted = checkpoint(path)
    assert restarted.load() == survivor
    assert leftovers(path) == []
    restarted.save({"generation": "after"})
    assert restarted.load() == {"generation": "after"}


def test_leftover_temp_files_are_removed_on_load(path: Path):
    checkpoint(path).save(OLD)
    (path.parent / ".checkpoint.json.12345.tmp").write_bytes(b'{"version": 1, "sta')
    (path.parent / "unrelated.tmp").write_bytes(b"keep me")
    assert checkpoint(path).load() == OLD
    assert leftovers(path) == ["unrelated.tmp"]


CORRUPT = {
    "not json": b'{"version": 1, "state": {',
    "empty file": b"",
    "not utf-8": b"\xff\xfe\x00garbage",
    "an array": b"[1, 2, 3]",
    "a string": b'"state"',
    "no envelope": b'{"interfaces": [], "allocations": []}',
    "no state": b'{"version": 1, "written_at": 1.0}',
    "state not an object": b'{"version": 1, "written_at": 1.0, "state": []}',
    "future version": b'{"version": 2, "written_at": 1.0, "state": {}}',
    "version true": b'{"version": true, "written_at": 1.0, "state": {}}',
    "version a string": b'{"version": "1", "written_at": 1.0, "state": {}}',
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_file_is_moved_aside_and_reported_never_reset(
    path: Path, content: bytes, caplog: pytest.LogCaptureFixture
):
    path.parent.mkdir()
    path.write_bytes(content)
    with (
        caplog.at_level(logging.ERROR, logger="ipamd.checkpoint"),
        pytest.raises(CorruptCheckpoint) as caught,
    ):
        checkpoint(path).load()
    quarantined = path.with_name(f"checkpoint.json.corrupt-{STAMP}")
    assert caught.value.moved_to == quarantined
    assert caught.value.path == path
    assert caught.value.reason
    assert quarantined.read_bytes() == content
    assert not path.exists()
    assert any(
        r.levelno == logging.ERROR and str(quarantined) in r.getMessage() for r in caplog.records
    )
    assert checkpoint(path).load() is None


def test_a_second_corrupt_file_does_not_overwrite_the_first_quarantine(path: Path):
    path.parent.mkdir()
    path.write_bytes(b"first")
    with pytest.raises(CorruptCheckpoint) as first:
        checkpoint(path).load()
    path.write_bytes(b"second")
    with pytest.raises(CorruptCheckpoint) as second:
        checkpoint(path).load()
    assert first.value.moved_to != second.value.moved_to
    assert first.value.moved_to.read_bytes() == b"first"
    assert second.value.moved_to.read_bytes() == b"second"
    assert second.value.moved_to.name.startswith(f"checkpoint.json.corrupt-{STAMP}")


def test_a_save_after_a_quarantine_starts_a_fresh_file(path: Path):
    path.parent.mkdir()
    path.write_bytes(b"{{{")
    with pytest.raises(CorruptCheckpoint):
        checkpoint(path).load()
    checkpoint(path).save(NEW)
    assert checkpoint(path).load() == NEW


def test_a_checkpoint_the_datastore_rejects_can_be_quarantined_too(path: Path):
    checkpoint(path).save({"interfaces": "not a list"})
    state = checkpoint(path).load()
    assert state is not None
    with pytest.raises(InconsistentState) as rejected:
        Datastore.from_state(state, cooldown=COOLDOWN, serving_prefixlen=28)
    moved = checkpoint(path).quarantine(str(rejected.value)).moved_to
    assert json.loads(moved.read_bytes())["state"] == state
    assert checkpoint(path).load() is None


def test_memory_checkpoint_is_isolated_from_the_callers_dicts():
    cp = MemoryCheckpoint()
    state: dict[str, Any] = {"allocations": [{"address": "10.0.1.1"}]}
    cp.save(state)
    state["allocations"].append({"address": "10.0.1.2"})
    loaded = cp.load()
    assert loaded == {"allocations": [{"address": "10.0.1.1"}]}
    assert loaded is not None
    loaded["allocations"].clear()
    assert cp.load() == {"allocations": [{"address": "10.0.1.1"}]}
    assert cp.saves == 1


def test_memory_checkpoint_refuses_what_a_file_could_not_hold():
    cp = MemoryCheckpoint()
    with pytest.raises(ValueError):
        cp.save({"released_at": float("nan")})
    assert cp.load() is None


def test_a_datastore_survives_a_restart_through_the_file(path: Path, clock: FakeClock):
    store = new_store(clock)
    store.add_interface(cloud_iface("eni-0", 0, "10.0.1.0/28"))
    for n in range(3):
        store.assign(key(n), POD)
    store.release(key(1))
    cp = checkpoint(path)
    cp.save(store.to_state())
    state = checkpoint(path).load()
    assert state is not None
    loaded = Datastore.from_state(state, cooldown=COOLDOWN, serving_prefixlen=28, clock=clock)
    assert loaded.allocations() == store.allocations()
    assert loaded.is_cooling(store.allocations()[0].address + 1)


def test_peek_reads_what_load_reads_without_touching_anything(path: Path):
    checkpoint = FileCheckpoint(path)
    assert checkpoint.peek() is None
    checkpoint.save({"a": 1})
    assert checkpoint.peek() == checkpoint.load() == {"a": 1}


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 99, "state": {}}', b"[]"])
def test_peek_of_an_unreadable_checkpoint_raises_and_leaves_it_in_place(path: Path, content: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(ValueError):
        FileCheckpoint(path).peek()
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
