"""One build: a commit's files below the site root → the renderer → an immutable folder.

Reads go through `PgObjectSource` in batches (one query per tree level, one per
`BLOB_BATCH` blobs); rendering and writing run in a thread so the worker's
event loop keeps renewing its lease meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openbook.db.objects import PgObjectSource
from openbook.db.sites import Site
from openbook.errors import CorruptObject, NotFound, PublishFailed, RenderError, ReuseFailed
from openbook.fs import storage
from openbook.fs.themes import load_theme
from openbook.render import SiteSettings, build_site
from openbook.render import build_key as render_build_key
from openbook.store.objects import ObjectId, decode_commit
from openbook.store.trees import list_dir

BLOB_BATCH = 500


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    stats: dict[str, Any]
    folder: Path


async def load_content(pool: Any, workspace_id: uuid.UUID, commit_id: str, root: str) -> dict[str, bytes]:
    """Every file of the commit below `root`, keyed by its path relative to `root`.

    Raises RenderError when `root` is not a folder of the commit, CorruptObject
    when a referenced object is missing.
    """
    src = PgObjectSource(pool, workspace_id)
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


def site_settings(site: Site) -> SiteSettings:
    """Renderer settings from the site row (`settings` jsonb may set base_url, html, strict)."""
    extra = dict(site.settings)
    base_url = extra.pop("base_url", None)
    if base_url is None and site.domains:
        base_url = f"https://{site.domains[0]}/"
    html = extra.pop("html", "escape")
    strict = bool(extra.pop("strict", False))
    return SiteSettings(title=site.name, base_url=base_url, html=html, strict=strict, extra=extra)


def _render_and_write(content: dict[str, bytes], site: Site, themes_path: tuple[Path, ...], commit_id: str,
                      target: Path, previous: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    chain = load_theme(site.theme, themes_path)
    settings = site_settings(site)
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
        result = build_site(content, chain, settings, previous=attempt_keys)
        render_ms = round((time.perf_counter() - started) * 1000)
        stats: dict[str, Any] = {**result.stats, "files": len(result.files),
                                 "bytes": sum(len(f.data) for f in result.files if f.data is not None)}
        try:
            published = storage.publish(target, ((f.path, f.data, f.render_key) for f in result.files),
                                        build_key, previous, stats)
            break
        except ReuseFailed:
            continue
        except OSError as exc:
            raise PublishFailed(f"writing {target} failed: {exc.strerror or exc}") from exc
    return {**stats, "written": published.written, "linked": published.linked, "render_ms": render_ms,
            "bytes": published.bytes, "folder_reused": published.reused}


async def build(pool: Any, storage_root: Path, themes_path: tuple[Path, ...], site: Site, commit_id: str,
                previous_commit: str | None) -> BuildOutcome:
    """Render the commit for the site and publish it under STORAGE_PATH (not yet live).

    Raises RenderError/NotFound (content or theme errors: terminal), PublishFailed
    (write errors: terminal), CorruptObject, and database errors (transient).
    """
    started = time.perf_counter()
    content = await load_content(pool, site.workspace_id, commit_id, site.root)
    folder = storage.site_dir(storage_root, site.workspace_id, site.id)
    target = folder / commit_id
    previous = folder / previous_commit if previous_commit and previous_commit != commit_id else None
    stats = await asyncio.to_thread(_render_and_write, content, site, themes_path, commit_id, target,
                                    previous)
    stats.setdefault("pages", 0)
    stats.setdefault("files", 0)
    stats.setdefault("bytes", 0)
    stats["source_files"] = len(content)
    stats["duration_ms"] = round((time.perf_counter() - started) * 1000)
    return BuildOutcome(stats, target)
