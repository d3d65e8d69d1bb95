"""The build cache on disk: a whole snapshot, then records appended, read back up to the first damaged one."""

from __future__ import annotations

from pathlib import Path

from openbook.fs import buildcache


def test_records_appended_to_a_snapshot_come_back_in_order_up_to_a_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "ws" / "site.snapshot"
    assert buildcache.load(path) == [] and not buildcache.append(path, b"orphan")  # nothing to append to
    assert buildcache.save(path, b"whole")
    assert buildcache.append(path, b"first") and buildcache.append(path, b"second")
    assert buildcache.load(path) == [b"whole", b"first", b"second"]
    with open(path, "ab") as out:  # a build process killed while appending
        out.write(b"OBc1" + b"\xff" * 9)
    assert buildcache.load(path) == [b"whole", b"first", b"second"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit in the middle: what follows is not trusted
    path.write_bytes(bytes(data))
    assert buildcache.load(path) == [b"whole"]
    assert buildcache.save(path, b"again") and buildcache.load(path) == [b"again"]


def test_a_workspace_keeps_its_snapshots_under_its_bound(tmp_path: Path) -> None:
    older, newer = tmp_path / "ws" / "a.snapshot", tmp_path / "ws" / "b.snapshot"
    assert buildcache.save(older, b"a" * 600, workspace_max_bytes=1000)
    assert buildcache.save(newer, b"b" * 300, workspace_max_bytes=1000)
    assert buildcache.append(newer, b"c" * 200, workspace_max_bytes=1000)
    assert not older.exists() and buildcache.load(newer) == [b"b" * 300, b"c" * 200]
