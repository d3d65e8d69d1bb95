"""The build cache on disk: what a site's builds learnt, kept between build processes.

    BUILD_CACHE_PATH/                  (default STORAGE_PATH/_build-cache)
      <workspace_id>/<site_id>.snapshot  the site's render cache (`render.cache.SiteCache.snapshot`)

Each isolated build process starts from its site's snapshot and writes the
next one when it has sent its result (`worker.child`). Inside, every entry
is keyed by the content it was derived from (a page's SHA-256, a template's
source, a digest of a table's inputs), so a snapshot only ever saves work:
a missing, stale, foreign or damaged one costs a slower build, never wrong
output. Snapshots are written to a temporary file and renamed into place,
so a reader sees a whole one; two builds of one site at once keep the last
written. Each workspace's snapshots together stay under
`WORKSPACE_MAX_BYTES`: after a write, the least recently used go first.
A snapshot is read only for its own site, never across workspaces.

Failures here never fail a build: reading gives nothing, writing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

from openbook.config import BUILD_CACHE_DIRNAME

DIRNAME = BUILD_CACHE_DIRNAME
SUFFIX = ".snapshot"
WORKSPACE_MAX_BYTES = 1024 * 1024 * 1024
_TMP_PREFIX = ".tmp-"
STALE_TMP_S = 3600.0


def snapshot_path(root: Path, workspace_id: uuid.UUID, site_id: uuid.UUID) -> Path:
    return root / str(workspace_id) / f"{site_id}{SUFFIX}"


def load(path: Path) -> bytes | None:
    """The snapshot at `path`, or None; marks it as recently used."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return data


def save(path: Path, data: bytes, workspace_max_bytes: int = WORKSPACE_MAX_BYTES) -> bool:
    """Write `data` at `path` atomically, then keep the workspace's snapshots under the bound.
    False when nothing could be written (disk full, permissions): the next build is slower."""
    if len(data) > workspace_max_bytes:
        return False
    temp = path.with_name(f"{_TMP_PREFIX}{path.name}-{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        return False
    _bound(path.parent, workspace_max_bytes, keep=path)
    return True


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
