"""The release spool: atomic private files, ordered reads, corrupt entries set aside."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from cni.spool import SpoolEntry, read_releases, remove, write_release


def write(spool: Path, container_id: str = "abc123", **kw: object) -> Path:
    fields: dict[str, object] = {
        "network": "vpc",
        "container_id": container_id,
        "ifname": "eth0",
        "addresses": ["10.0.1.5/32"],
    }
    fields.update(kw)
    return write_release(spool, **fields)  # type: ignore[arg-type]


def test_a_written_release_reads_back_with_bare_addresses(tmp_path):
    spool = tmp_path / "spool"
    path = write(
        spool, addresses=["10.0.1.5/32", "fd00::5"], recorded_at_ns=1_700_000_000_500_000_000
    )

    [(found, entry)] = read_releases(spool)

    assert found == path
    assert entry == SpoolEntry(
        network="vpc",
        container_id="abc123",
        ifname="eth0",
        addresses=("10.0.1.5", "fd00::5"),
        recorded_at=1_700_000_000.5,
    )


def test_the_file_has_the_documented_name_and_content(tmp_path):
    path = write(tmp_path, recorded_at_ns=1_700_000_000_000_000_001)

    assert path.name == "1700000000000000001-abc123-eth0.json"
    assert json.loads(path.read_bytes()) == {
        "v": 1,
        "network": "vpc",
        "container_id": "abc123",
        "ifname": "eth0",
        "addresses": ["10.0.1.5"],
        "recorded_at": 1_700_000_000.0,
    }


def test_file_name_components_are_sanitized(tmp_path):
    path = write(tmp_path, container_id="../../etc/x y", ifname="e:t/h")

    assert path.parent == tmp_path
    assert re.fullmatch(r"\d+-\.\._\.\._etc_x_y-e_t_h\.json", path.name)


def test_an_empty_address_list_is_recorded(tmp_path):
    write(tmp_path, addresses=[])

    [(_, entry)] = read_releases(tmp_path)

    assert entry.addresses == ()


def test_a_non_address_is_refused_when_writing(tmp_path):
    with pytest.raises(ValueError):
        write(tmp_path, addresses=["not-an-ip"])


def test_a_missing_spool_directory_is_created_private(tmp_path):
    spool = tmp_path / "run" / "vpc-ipam" / "spool"

    path = write(spool)

    for directory in (spool, spool.parent, spool.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_temp_file_is_left_behind(tmp_path):
    write(tmp_path)

    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_releases_are_read_oldest_first(tmp_path):
    for stamp, cid in ((3, "c"), (1, "a"), (2, "b")):
        write(tmp_path, container_id=cid, recorded_at_ns=stamp * 1_000_000_000)

    entries = read_releases(tmp_path)

    assert [e.container_id for _, e in entries] == ["a", "b", "c"]


def test_temp_and_foreign_files_are_skipped(tmp_path):
    write(tmp_path)
    (tmp_path / ".1-x-eth0.json.123.tmp").write_text("{half")
    (tmp_path / "README").write_text("hello")
    (tmp_path / "old.json.corrupt").write_text("junk")

    assert len(read_releases(tmp_path)) == 1
    assert (tmp_path / ".1-x-eth0.json.123.tmp").exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "expected an object"),
        (b'{"v": 2}', "spool version 1, got 2"),
        (b'{"v": true}', "got True"),
        (
            b'{"v":1,"network":"vpc","container_id":"a","ifname":"eth0","addresses":["x"],'
            b'"recorded_at":1}',
            "addresses",
        ),
        (
            b'{"v":1,"network":"","container_id":"a","ifname":"eth0","addresses":[],'
            b'"recorded_at":1}',
            "network",
        ),
        (
            b'{"v":1,"network":"vpc","container_id":"a","ifname":"eth0","addresses":[]}',
            "recorded_at",
        ),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_corrupt_entry_is_moved_aside_and_reported(tmp_path, content: bytes, says: str):
    good = write(tmp_path, recorded_at_ns=5)
    bad = tmp_path / "1-bad-eth0.json"
    bad.write_bytes(content)
    reports: list[tuple[Path, str]] = []

    entries = read_releases(tmp_path, on_corrupt=lambda p, why: reports.append((p, why)))

    assert [p for p, _ in entries] == [good]
    assert not bad.exists()
    [(aside, why)] = reports
    assert aside == tmp_path / "1-bad-eth0.json.corrupt"
    assert aside.read_bytes() == content
    assert says in why
    assert len(read_releases(tmp_path)) == 1


def test_a_corrupt_entry_without_a_reporter_does_not_raise(tmp_path):
    (tmp_path / "1-bad-eth0.json").write_text("nope")

    assert read_releases(tmp_path) == []
    assert (tmp_path / "1-bad-eth0.json.corrupt").exists()


def test_a_missing_spool_directory_is_an_empty_spool(tmp_path):
    assert read_releases(tmp_path / "nowhere") == []


def test_remove_forgets_a_release_and_tolerates_a_second_call(tmp_path):
    path = write(tmp_path)

    remove(path)
    remove(path)

    assert read_releases(tmp_path) == []
