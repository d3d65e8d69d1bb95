"""One build: a commit's files below the site root → the renderer → an immutable folder.

Reads go through `PgObjectSource` in batches (one query per tree level, one per
`BLOB_BATCH` blobs), except the blobs the site's warm build process holds from
its last build (`BuildProcess.blobs`); rendering and writing run in a build process of their own
under the BUILD_* limits (`isolate`), so the worker's event loop keeps renewing
its lease meanwhile and a runaway template cannot stall it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from openbook import metrics, siteconf
from openbook.config import BuildLimits
from openbook.db.database import Database
from openbook.db.objects import PgObjectSource
from openbook.db.sites import Site
from openbook.errors import CorruptObject, InternalError, NotFound, OpenBookError, RenderError
from openbook.fs import buildcache, storage
from openbook.fs.themes import theme_exists
from openbook.publish import compose
from openbook.store.objects import ObjectId, decode_commit
from openbook.store.trees import list_dir
from openbook.worker import isolate
from openbook.worker.child import BuildJob

BLOB_BATCH = 500
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Content:
    """A commit's files below a site's root."""

    files: dict[str, bytes]  # path relative to the root → bytes
    ids: dict[str, ObjectId]  # path relative to the root → blob id


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    stats: dict[str, Any]
    folder: Path
    site: siteconf.SiteConfig  # as the commit configured it: keep_deployments and redirects for what runs after


async def load_content(db: Database, workspace_id: uuid.UUID, commit_id: str, root: str,
                       held: Mapping[str, bytes] | None = None) -> Content:
    """Every file of the commit below `root`, keyed by its path relative to `root`. Blobs in
    `held` (the files a warm build process of the site holds, by id) are not read again.

    Raises RenderError when `root` is not a folder of the commit, CorruptObject
    when a referenced object is missing.
    """
    src = PgObjectSource(db, workspace_id)
    oid = ObjectId(commit_id)
    raw = (await src.get_many([oid])).get(oid)
    if raw is None:
        raise CorruptObject(f"commit {commit_id} is missing", {"id": commit_id})
    commit = decode_commit(oid, raw)
    try:
        entries = await list_dir(src, commit.tree, root, recursive=True)
    except NotFound as exc:
        raise RenderError(root or "/", "the site's root folder does not exist in this commit") from exc
    prefix = f"{root}/" if root else ""
    ids = {path[len(prefix):]: entry.hash for path, entry in entries if entry.kind == "blob"}
    held = held or {}
    content = {path: held[h] for path, h in ids.items() if h in held}
    # Large blobs stay out of the object cache (trees and small files are what walks reread):
    # without `held`, every build would read a site's images again.
    files = [(path, h) for path, h in ids.items() if path not in content]
    for start in range(0, len(files), BLOB_BATCH):
        batch = files[start:start + BLOB_BATCH]
        got = await src.get_many({h for _, h in batch})
        for path, h in batch:
            obj = got.get(h)
            if obj is None or obj.kind != "blob":
                raise CorruptObject(f"blob {h} of {prefix}{path} is missing", {"id": h})
            content[path] = obj.payload
    return Content(content, ids)


class _Clock:
    """Seconds between laps, recorded by phase name."""

    def __init__(self, phases: dict[str, float]) -> None:
        self._phases = phases
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self._phases[phase] = now - self._last
        self._last = now


def _guarded(step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`step(*args, **kwargs)`; an exception other than an OpenBookError becomes InternalError."""
    try:
        return step(*args, **kwargs)
    except OpenBookError:
        raise
    except Exception as exc:
        # Not the content's fault (that is a RenderError): a bug of ours, reported as such.
        raise InternalError(f"the site file reader failed: {type(exc).__name__}: {exc}") from exc


async def build(db: Database, storage_root: Path, themes_path: tuple[Path, ...], site: Site, commit_id: str,
                previous_commit: str | None, limits: BuildLimits | None = None,
                cache_root: Path | None = None) -> BuildOutcome:
    """Render the commit for the site in a build process under `limits` (default: the
    documented defaults) and publish it under STORAGE_PATH (not yet live). The build
    process starts from, and updates, the site's snapshot under `cache_root`
    (BUILD_CACHE_PATH; None: no build cache).

    Raises RenderError/NotFound (content or theme errors; BuildLimitExceeded when the build
    went over a limit), PublishFailed (write errors), CorruptObject, InternalError (a
    renderer bug) and Unavailable (PostgreSQL cannot be reached: retry).
    """
    started = time.perf_counter()
    phases: dict[str, float] = {}
    clock = _Clock(phases)
    cache = buildcache.snapshot_path(cache_root, site.workspace_id, site.id) if cache_root is not None else None
    # The build process restores the site's cache while the commit is read.
    async with await isolate.BuildProcess.start(limits or BuildLimits(), str(site.id), cache) as process:
        clock.lap("start")
        loaded = await load_content(db, site.workspace_id, commit_id, site.root, process.blobs)
        content = loaded.files
        clock.lap("load")
        folder = storage.site_dir(storage_root, site.workspace_id, site.id)
        target = folder / commit_id
        previous = folder / previous_commit if previous_commit and previous_commit != commit_id else None
        config = await asyncio.to_thread(_guarded, compose.configure, site, content,
                                         lambda name: theme_exists(name, themes_path))
        clock.lap("configure")
        job = BuildJob(content, config, themes_path, commit_id, target, previous, str(site.id), uuid.uuid4().hex)
        stats, inside = await process.build(job, loaded.ids)
        clock.lap("build")
    phases.update(inside)
    for phase, seconds in phases.items():
        metrics.BUILD_PHASE.labels(phase).observe(seconds)
    stats["phases_ms"] = {phase: round(seconds * 1000) for phase, seconds in phases.items()}
    stats.setdefault("pages", 0)
    stats.setdefault("files", 0)
    stats.setdefault("bytes", 0)
    stats["source_files"] = len(content)
    stats["duration_ms"] = round((time.perf_counter() - started) * 1000)
    return BuildOutcome(stats, target, config)
