"""One build: a commit's files below the site root → the renderer → an immutable folder.

Reads go through `PgObjectSource` in batches (one query per tree level, one per
`BLOB_BATCH` blobs); rendering and writing run in a thread so the worker's
event loop keeps renewing its lease meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from openbook import metrics, siteconf
from openbook.db.database import Database
from openbook.db.objects import PgObjectSource
from openbook.db.sites import Site
from openbook.errors import CorruptObject, InternalError, NotFound, OpenBookError, RenderError, ReuseFailed
from openbook.fs import storage
from openbook.fs.themes import load_theme, theme_exists
from openbook.render import build_key as render_build_key
from openbook.store.objects import ObjectId, decode_commit
from openbook.store.trees import list_dir
from openbook.worker import compose

BLOB_BATCH = 500
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    stats: dict[str, Any]
    folder: Path
    site: siteconf.SiteConfig  # as the commit configured it: keep_deployments and redirects for what runs after


async def load_content(db: Database, workspace_id: uuid.UUID, commit_id: str, root: str) -> dict[str, bytes]:
    """Every file of the commit below `root`, keyed by its path relative to `root`.

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
    files = [(path[len(prefix):], entry.hash) for path, entry in entries if entry.kind == "blob"]
    content: dict[str, bytes] = {}
    for start in range(0, len(files), BLOB_BATCH):
        batch = files[start:start + BLOB_BATCH]
        got = await src.get_many({h for _, h in batch})
        for path, h in batch:
            obj = got.get(h)
            if obj is None or obj.kind != "blob":
                raise CorruptObject(f"blob {h} of {prefix}{path} is missing", {"id": h})
            content[path] = obj.payload
    return content


def _render_and_write(content: dict[str, bytes], site: siteconf.SiteConfig, themes_path: tuple[Path, ...],
                      commit_id: str, target: Path, previous: Path | None, site_key: str) -> dict[str, Any]:
    started = time.perf_counter()
    chain = load_theme(site.theme, themes_path)
    settings = compose.site_settings(site)
    build_key = render_build_key(commit_id, site.root, chain, settings)
    manifest = storage.read_manifest(target) or {}
    kept = manifest.get("stats")
    if manifest.get("build_key") == build_key and isinstance(kept, dict):
        # Same inputs already published (a redelivered or repeated deployment): nothing to do.
        return {**kept, "written": 0, "linked": 0, "render_ms": 0, "rendered": 0, "folder_reused": True}
    # Files whose render key equals the previous build's are not rendered but
    # hard-linked from it; if that build vanished meanwhile, render everything.
    keys = storage.previous_keys(previous)
    for attempt_keys in (keys, {}) if keys else ({},):
        # The site's own render caches (parsed pages, templates...): sites built in turn keep theirs.
        with metrics.BUILD_PHASE.labels("render").time():
            result = compose.render_site(content, site, chain, previous=attempt_keys, site_key=site_key)
        render_ms = round((time.perf_counter() - started) * 1000)
        stats: dict[str, Any] = {**result.stats, "files": len(result.files),
                                 "bytes": sum(len(f.data) for f in result.files if f.data is not None)}
        try:
            with metrics.BUILD_PHASE.labels("write").time():
                published = storage.publish(target, ((f.path, f.data, f.render_key) for f in result.files),
                                            build_key, previous, stats)
            break
        except ReuseFailed:
            continue
    return {**stats, "written": published.written, "linked": published.linked, "render_ms": render_ms,
            "bytes": published.bytes, "folder_reused": published.reused}


def _guarded(step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`step(*args, **kwargs)`; an exception other than an OpenBookError becomes InternalError."""
    try:
        return step(*args, **kwargs)
    except OpenBookError:
        raise
    except Exception as exc:
        # Not the content's fault (that is a RenderError): a bug of ours, reported as such.
        raise InternalError(f"the renderer failed: {type(exc).__name__}: {exc}") from exc


async def build(db: Database, storage_root: Path, themes_path: tuple[Path, ...], site: Site, commit_id: str,
                previous_commit: str | None) -> BuildOutcome:
    """Render the commit for the site and publish it under STORAGE_PATH (not yet live).

    Raises RenderError/NotFound (content or theme errors), PublishFailed (write
    errors), CorruptObject, InternalError (a renderer bug) and Unavailable
    (PostgreSQL cannot be reached: retry).
    """
    started = time.perf_counter()
    with metrics.BUILD_PHASE.labels("load").time():
        content = await load_content(db, site.workspace_id, commit_id, site.root)
    folder = storage.site_dir(storage_root, site.workspace_id, site.id)
    target = folder / commit_id
    previous = folder / previous_commit if previous_commit and previous_commit != commit_id else None
    config = await asyncio.to_thread(_guarded, compose.configure, site, content,
                                     lambda name: theme_exists(name, themes_path))
    stats = await asyncio.to_thread(_guarded, _render_and_write, content, config, themes_path, commit_id, target,
                                    previous, str(site.id))
    stats.setdefault("pages", 0)
    stats.setdefault("files", 0)
    stats.setdefault("bytes", 0)
    stats["source_files"] = len(content)
    stats["duration_ms"] = round((time.perf_counter() - started) * 1000)
    return BuildOutcome(stats, target, config)
