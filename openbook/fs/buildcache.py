"""The build cache on disk: what a site's builds learnt, kept between build processes.

    BUILD_CACHE_PATH/                  (default STORAGE_PATH/_build-cache)
      <workspace_id>/<site_id>.snapshot  the site's render cache (`render.cache.SiteCache.snapshot`)

A snapshot file is a sequence of records, each one `render.cache` bytes
framed with a length and a CRC-32: the first a whole snapshot (`save`,
written to a temporary file and renamed into place), the others what a
build learnt beyond it (`append`, one `write` in append mode: a one-page
edit of a 5,000-page site appends tens of KB instead of rewriting 60 MB).
`load` returns the records in order up to the first incomplete or damaged
one. Each isolated build process starts from its site's snapshot and adds
to it when it has sent its result (`worker.child`). Inside, every entry
is keyed by the content it was derived from (a page's SHA-256, a template's
source, a digest of a table's inputs), so a snapshot only ever saves work:
a missing, stale, foreign or damaged one costs a slower build, never wrong
output, and records can be applied in any order and over any older
snapshot. Two builds of one site at once both append; a `save` replaces
what was appended meanwhile. Each workspace's snapshots together stay under
`WORKSPACE_MAX_BYTES`: after a write, the least recently used go first.
A snapshot is read only for its own site, never across workspaces.

Failures here never fail a build: reading gives nothing, writing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
import uuid
import zlib
from pathlib import Path

from openbook.config import BUILD_CACHE_DIRNAME

DIRNAME = BUILD_CACHE_DIRNAME
SUFFIX = ".snapshot"
WORKSPACE_MAX_BYTES = 1024 * 1024 * 1024
_TMP_PREFIX = ".tmp-"
STALE_TMP_S = 3600.0
_HEADER = struct.Struct("<4sQI")  # magic, payload length, CRC-32 of the payload
_MAGIC = b"OBc1"


def snapshot_path(root: Path, workspace_id: uuid.UUID, site_id: uuid.UUID) -> Path:
    return root / str(workspace_id) / f"{site_id}{SUFFIX}"


def load(path: Path) -> list[bytes]:
    """The records of the snapshot at `path`, in order ([] without one); marks it as recently used."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    with contextlib.suppress(OSError):
        os.utime(path)
    records = []
    at = 0
    while at + _HEADER.size <= len(data):
        magic, length, crc = _HEADER.unpack_from(data, at)
        start, at = at + _HEADER.size, at + _HEADER.size + length
        record = data[start:at]
        if magic != _MAGIC or len(record) != length or zlib.crc32(record) != crc:
            break  # a write cut short (a killed build process), or not ours: the rest is lost
        records.append(record)
    return records


def _framed(data: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, len(data), zlib.crc32(data)) + data


def save(path: Path, data: bytes, workspace_max_bytes: int = WORKSPACE_MAX_BYTES) -> bool:
    """Make `data` the whole snapshot at `path`, atomically, then keep the workspace's snapshots
    under the bound. False when nothing could be written (disk full, permissions): the next
    build is slower."""
    if len(data) > workspace_max_bytes:
        return False
    temp = path.with_name(f"{_TMP_PREFIX}{path.name}-{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as out:
            out.write(_framed(data))
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        return False
    _bound(path.parent, workspace_max_bytes, keep=path)
    return True


def append(path: Path, data: bytes, workspace_max_bytes: int = WORKSPACE_MAX_BYTES) -> bool:
    """Add `data` as a record at the end of the snapshot at `path` (which must exist: else
    False, and nothing is written), then keep the workspace's snapshots under the bound."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        framed = _framed(data)
        written = os.write(fd, framed)  # one write: a concurrent reader sees a whole record or a cut one
    except OSError:
        return False
    finally:
        os.close(fd)
    _bound(path.parent, workspace_max_bytes, keep=path)
    return written == len(framed)


def _bound(folder: Path, max_bytes: int, keep: Path) -> None:
    """Delete the least recently used snapshots of `folder` (never `keep`) until all fit."""
    found: list[tuple[float, int, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                stat = entry.stat(follow_symlinks=False)
                found.append((stat.st_mtime, stat.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in found)
    now = time.time()
    for mtime, size, path in sorted(found, key=lambda f: f[0]):
        # A temporary file that old belongs to a build process that was killed while writing.
        stale = path.name.startswith(_TMP_PREFIX) and now - mtime > STALE_TMP_S
        if total <= max_bytes and not stale:
            continue
        if path != keep:
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
