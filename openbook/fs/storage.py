"""The published tree under STORAGE_PATH: atomic folders, atomic symlinks.

    STORAGE_PATH/
      <workspace_id>/<site_id>/<commit_id>/    one immutable folder per build
      <workspace_id>/<site_id>/live            symlink -> <commit_id>
      <workspace_id>/<site_id>/previews/<key>  symlink -> ../<commit_id> (a branch preview)
      <workspace_id>/<site_id>/.tmp-pruned-*   a pruned build folder being deleted (retention)
      _hosts/<hostname>                        symlink -> ../<workspace_id>/<site_id>/live
      _hosts/<key>--<hostname>                 symlink -> ../<workspace_id>/<site_id>/previews/<key>

A build is written into `.tmp-*` beside its target (same filesystem), every
file created with O_NOFOLLOW relative to its parent folder's descriptor and
fsynced, then renamed into place: a reader sees all of it or nothing. That
folder may be a spare (`make_spare`): a copy of the previous build made of
hard links, prepared while the site's build process waited for its next
build, in which only the files that differ are replaced. A
symlink is switched by creating a new link and `os.replace`-ing it over the
old one, never unlink-then-link. Files identical to the previous build's are
hard-linked from it. Any write or fsync error becomes PublishFailed (the
deployment fails; an fsync is never retried) and only the temp folder is lost.
No OSError leaves this module: every public function translates them.

Everything here is blocking: the worker calls it through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from openbook.errors import BuildLimitExceeded, InternalError, PublishFailed, ReuseFailed
from openbook.fs.writer import MANIFEST, TMP_PREFIX, Writer, exchange, fsync_dir

HOSTS = "_hosts"
LIVE = "live"
PREVIEWS = "previews"
PRUNED_PREFIX = f"{TMP_PREFIX}pruned-"
SPARE_PREFIX = f"{TMP_PREFIX}spare-"
_BUILD_NAME = re.compile(r"[0-9a-f]{64}")
STALE_TMP_S = 3600.0


@dataclass(frozen=True, slots=True)
class Cleanup:
    """What deleting a site's unused build folders did: the folders (commit ids) gone, and every failure."""

    removed: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Published:
    """Where a build landed and what writing it cost."""

    path: Path
    reused: bool
    written: int
    linked: int
    bytes: int


def site_dir(storage: Path, workspace_id: uuid.UUID, site_id: uuid.UUID) -> Path:
    return storage / str(workspace_id) / str(site_id)


@contextlib.contextmanager
def _failures(what: str) -> Iterator[None]:
    """OSError → PublishFailed naming what was being done and the file."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise PublishFailed(f"{what} failed: {exc.strerror or exc}{where}", {"errno": exc.errno}) from exc


def read_manifest(folder: Path) -> dict[str, object] | None:
    """A build folder's manifest, or None when the folder holds no complete build.

    An unreadable or corrupt manifest is PublishFailed, never "no build": it means
    a damaged disk or wrong permissions, which an operator must see.
    """
    path = folder / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishFailed(f"cannot read {path}: {exc.strerror or exc}", {"path": str(path)}) from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise PublishFailed(f"{path} is corrupt: {exc}", {"path": str(path)}) from exc
    if not isinstance(data, dict):
        raise PublishFailed(f"{path} is corrupt: not a JSON object", {"path": str(path)})
    return data


def remove_stale_temps(folder: Path, older_than_s: float = STALE_TMP_S) -> None:
    """Delete `.tmp-*` folders left by killed workers (old enough that no build still writes them)."""
    now = time.time()
    # Another worker may remove the same folder meanwhile: vanished entries are fine.
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(TMP_PREFIX) and entry.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > older_than_s:
                        shutil.rmtree(entry.path, ignore_errors=True)


def previous_keys(previous: Path | None) -> dict[str, str]:
    """Render keys of an earlier build's files (its manifest), for incremental rendering."""
    manifest = read_manifest(previous) if previous is not None else None
    keys = manifest.get("keys") if manifest is not None else None
    return dict(keys) if isinstance(keys, dict) else {}


@dataclass(frozen=True, slots=True)
class OutputLimits:
    """Sizes one deployment's files must stay within (BUILD_MAX_FILE_MB, BUILD_MAX_OUTPUT_MB)."""

    file_bytes: int
    total_bytes: int


def temp_folder(target: Path, token: str) -> Path:
    """Where `publish(target, ..., token=token)` writes before the rename."""
    return target.parent / f"{TMP_PREFIX}{target.name}-{token}"


def remove_temp(target: Path, token: str) -> None:
    """Delete what a build killed while publishing `target` with `token` left behind."""
    shutil.rmtree(temp_folder(target, token), ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Spare:
    """A copy of a build folder made of hard links, for `publish` to make the next build from."""

    path: Path
    source: Path  # the build folder it copies
    build_key: str  # that folder's when it was copied
    linked: int  # how many of its files, the first in its manifest's order (all, unless stopped)


def make_spare(build: Path, token: str, stop: Callable[[], bool] = lambda: False) -> Spare | None:
    """A spare of build folder `build` beside it (its folders made, its files hard-linked), or None
    when it holds no complete build or the spare could not be made. `stop` is asked before each
    file: once it says so, the spare is left as far as it got, which `publish` completes."""
    try:
        manifest = read_manifest(build)
    except PublishFailed:
        return None
    files = manifest.get("files") if manifest is not None else None
    if manifest is None or not isinstance(files, dict):
        return None
    path = build.parent / f"{SPARE_PREFIX}{build.name}-{token}"
    try:
        writer = Writer(path)
    except OSError:
        return None
    root = str(build.resolve())
    linked = 0
    try:
        for name in files:
            if stop():
                break
            if not writer.link(f"{root}/{name}", name):
                raise FileNotFoundError(name)
            linked += 1
        if not writer.batch_sync:
            writer.sync_and_close()  # folder by folder now: `publish` syncs only what it touches
        return Spare(path, build, str(manifest.get("build_key")), linked)
    except (OSError, InternalError):
        discard(Spare(path, build, "", 0))
        return None
    finally:
        writer.close()


def discard(spare: Spare) -> None:
    shutil.rmtree(spare.path, ignore_errors=True)


def publish(target: Path, files: Iterable[tuple[str, bytes | None, str]], build_key: str,
            previous: Path | None = None, stats: dict[str, object] | None = None,
            limits: OutputLimits | None = None, token: str | None = None, spare: Spare | None = None) -> Published:
    """Write `files` (path, bytes or None, render key) to `target` atomically.

    `target` is reused as is when it already holds the same `build_key`.
    `previous` is an earlier build of the same site: a file given without bytes
    (the renderer skipped it because its render key matched) is hard-linked
    from it, and so is any file whose bytes are identical. `stats` and every
    file's render key are kept in the manifest. The temp folder's name ends
    with `token` (default: a new one), so whoever killed a build can remove it.
    A complete `spare` of `previous` (`make_spare`) becomes the new build folder
    in its place, with only the files that differ replaced; published or not,
    it is gone when this returns (one of another folder is left as it is).
    Raises ReuseFailed when a skipped file cannot be linked, PublishFailed on
    any write or fsync failure (the temp folder is removed; `target` is
    untouched), BuildLimitExceeded for a file or a total over `limits`
    (checked before writing each file), and InternalError for an output path
    that is not a clean relative path (a renderer bug).
    """
    with _failures(f"writing {target}"):
        return _publish(target, files, build_key, previous, stats, limits, token or uuid.uuid4().hex, spare)


def _over(path: str, size: int, total: int, limits: OutputLimits | None) -> BuildLimitExceeded | None:
    if limits is None:
        return None
    mib = 1024 * 1024
    if size > limits.file_bytes:
        return BuildLimitExceeded(path, f"{size / mib:.1f} MiB, over the limit of {limits.file_bytes / mib:.1f} MiB"
                                        " per file (BUILD_MAX_FILE_MB)", "file_size")
    if total > limits.total_bytes:
        return BuildLimitExceeded(path, f"the deployment's files reach {total / mib:.1f} MiB with this one, over"
                                        f" the limit of {limits.total_bytes / mib:.1f} MiB (BUILD_MAX_OUTPUT_MB)",
                                  "output_size")
    return None


def _publish(target: Path, files: Iterable[tuple[str, bytes | None, str]], build_key: str,
             previous: Path | None, stats: dict[str, object] | None, limits: OutputLimits | None,
             token: str, spare: Spare | None) -> Published:
    existing = read_manifest(target)
    if existing is not None and existing.get("build_key") == build_key:
        return Published(target, reused=True, written=0, linked=0, bytes=0)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(parent)
    prev_files: dict[str, str] = {}
    prev_root: str | None = None  # a plain string: thousands of joins below, pathlib is too slow
    prev_key = None
    if previous is not None:
        manifest = read_manifest(previous)
        if manifest is not None and isinstance(manifest.get("files"), dict):
            prev_files = manifest["files"]  # type: ignore[assignment]
            prev_root = str(previous.resolve())
            prev_key = manifest.get("build_key")
    temp = temp_folder(target, token)
    held: dict[str, str] = {}  # files the folder holds already (a spare's): path → hash
    writer: Writer | None = None
    if spare is not None and spare.source == previous and spare.build_key == prev_key:
        try:
            os.utime(spare.path)  # in use: not a stale temporary folder for another worker's cleanup
            writer = Writer(spare.path, existing=True)
            temp, held = spare.path, dict(itertools.islice(prev_files.items(), spare.linked))
        except OSError:
            writer = None  # gone meanwhile: a new folder, as without a spare
    if writer is None:
        writer = Writer(temp)
    written = linked = total = 0
    hashes: dict[str, str] = {}
    keys: dict[str, str] = {}
    try:
        for path, data, key in files:
            if path in hashes:
                raise InternalError(f"the renderer produced the output path {path!r} twice", {"path": path})
            keys[path] = key
            if data is None:
                known = prev_files.get(path)
                source = f"{prev_root}/{path}"
                if prev_root is None or known is None or (held.pop(path, None) is None
                                                          and not writer.link(source, path)):
                    raise ReuseFailed(f"{path} is not in the previous build to reuse")
                hashes[path] = known
                size = os.stat(source, follow_symlinks=False).st_size
                total += size
                if over := _over(path, size, total, limits):
                    raise over
                linked += 1
                continue
            total += len(data)
            if over := _over(path, len(data), total, limits):
                raise over
            digest = hashlib.sha256(data).hexdigest()
            hashes[path] = digest
            same = prev_root is not None and prev_files.get(path) == digest
            if same and held.pop(path, None) is not None:
                linked += 1
                continue
            if same and prev_root is not None and writer.link(f"{prev_root}/{path}", path):
                linked += 1
                continue
            if held.pop(path, None) is not None:
                writer.remove([path], prune=False)  # the previous build's file: never written into
            writer.write(path, data)
            written += 1
        writer.remove(held)  # the previous build's files this one does not have
        manifest = {"build_key": build_key, "stats": {**(stats or {}), "bytes": total}, "files": hashes,
                    "keys": keys}
        writer.write(MANIFEST, json.dumps(manifest).encode(), checked=False)
        writer.sync_and_close()
        if existing is not None or target.exists():
            exchange(temp, target)
            shutil.rmtree(temp, ignore_errors=True)
        else:
            os.rename(temp, target)
        fsync_dir(parent)
    except BaseException:
        writer.close()
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return Published(target, reused=False, written=written, linked=linked, bytes=total)


def _replace_symlink(link: Path, target: str) -> None:
    """Point `link` at `target` atomically: a new link renamed over the old one."""
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        if os.readlink(link) == target:
            return
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.EINVAL):  # absent, or not a link: replaced below
            raise
    fresh = link.with_name(f"{TMP_PREFIX}{link.name}-{uuid.uuid4().hex}")
    os.symlink(target, fresh)
    try:
        os.replace(fresh, link)
    except BaseException:
        with contextlib.suppress(OSError):  # cleaning up after the error being raised
            os.unlink(fresh)
        raise
    fsync_dir(link.parent)


def switch_live(storage: Path, workspace_id: uuid.UUID, site_id: uuid.UUID, commit_id: str) -> None:
    """Point `<site>/live` at the `<commit_id>` folder; PublishFailed when it holds no complete build."""
    folder = site_dir(storage, workspace_id, site_id)
    if read_manifest(folder / commit_id) is None:
        raise PublishFailed(f"no complete build to make live in {folder / commit_id}",
                            {"path": str(folder / commit_id)})
    with _failures("switching live"):
        _replace_symlink(folder / LIVE, commit_id)


def live_target(storage: Path, workspace_id: uuid.UUID, site_id: uuid.UUID) -> str | None:
    """The folder name `live` points at, or None when the site has no live link yet."""
    try:
        return os.readlink(site_dir(storage, workspace_id, site_id) / LIVE)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishFailed(f"cannot read the live link: {exc.strerror or exc}") from exc


def switch_preview(storage: Path, workspace_id: uuid.UUID, site_id: uuid.UUID, key: str, commit_id: str,
                   hostnames: Iterable[str]) -> None:
    """Point `<site>/previews/<key>` at the `<commit_id>` folder, and `_hosts/<key>--<host>` at it.

    `key` is a DNS label (SPEC §11), so `<key>--<hostname>` is a safe file name.
    PublishFailed when the folder holds no complete build or a link cannot be written.
    """
    folder = site_dir(storage, workspace_id, site_id)
    if read_manifest(folder / commit_id) is None:
        raise PublishFailed(f"no complete build to preview in {folder / commit_id}", {"path": str(folder / commit_id)})
    with _failures(f"switching preview {key}"):
        _replace_symlink(folder / PREVIEWS / key, f"../{commit_id}")
        for host in hostnames:
            _replace_symlink(storage / HOSTS / f"{key}--{host}", f"../{workspace_id}/{site_id}/{PREVIEWS}/{key}")


def remove_preview(storage: Path, workspace_id: uuid.UUID, site_id: uuid.UUID, key: str,
                   hostnames: Iterable[str]) -> None:
    """Remove a preview's links (its build folders stay until retention prunes them)."""
    with _failures(f"removing preview {key}"):
        for link in (*(storage / HOSTS / f"{key}--{h}" for h in hostnames),
                     site_dir(storage, workspace_id, site_id) / PREVIEWS / key):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)


def _linked_builds(folder: Path) -> set[str]:
    """The build folders `live` and the previews point at (their last path segment)."""
    links = [folder / LIVE]
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        links.extend(Path(e.path) for e in os.scandir(folder / PREVIEWS) if not e.name.startswith(TMP_PREFIX))
    targets: set[str] = set()
    for link in links:
        with contextlib.suppress(FileNotFoundError):
            targets.add(os.readlink(link).rstrip("/").rsplit("/", 1)[-1])
    return targets


def remove_unused_builds(storage: Path, workspace_id: uuid.UUID, site_id: uuid.UUID, in_use: Collection[str],
                         min_age_s: float) -> Cleanup:
    """Delete the site's build folders that no unpruned deployment uses (retention, SPEC §11).

    A `<commit_id>` folder goes when the commit is not in `in_use`, no `live` or
    preview link points at it, and it was last written over `min_age_s` ago (a
    build finished after `in_use` was read is not in it). So folders left by a
    deletion that crashed, or that failed, go the next time. Each is first
    renamed aside to `.tmp-pruned-*` (atomic: a reader gets the whole site or a
    404, and a build never reuses a half-deleted folder), then deleted; such
    leftovers of an interrupted deletion are deleted too. No OSError escapes:
    every failure is returned as one line, and the rest goes on.
    """
    folder = site_dir(storage, workspace_id, site_id)
    removed: list[str] = []
    problems: list[str] = []

    def failed(func: object, path: str, exc_info: tuple[type[BaseException], BaseException, object]) -> None:
        exc = exc_info[1]
        if not isinstance(exc, FileNotFoundError):  # another worker deleting the same leftover
            problems.append(f"deleting {path} failed: {getattr(exc, 'strerror', None) or exc}")

    try:
        linked = _linked_builds(folder)
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return Cleanup((), ())
    except OSError as exc:
        return Cleanup((), (f"reading {folder} failed: {exc.strerror or exc}",))
    now = time.time()
    for entry in entries:
        if entry.name.startswith(PRUNED_PREFIX):
            shutil.rmtree(entry.path, onerror=failed)
            continue
        if not _BUILD_NAME.fullmatch(entry.name) or entry.name in in_use or entry.name in linked:
            continue
        aside = folder / f"{PRUNED_PREFIX}{entry.name}-{uuid.uuid4().hex}"
        try:
            if not entry.is_dir(follow_symlinks=False) or now - entry.stat().st_mtime < min_age_s:
                continue
            os.rename(entry.path, aside)
        except FileNotFoundError:
            continue  # another worker pruned it first
        except OSError as exc:
            problems.append(f"deleting {entry.path} failed: {exc.strerror or exc}")
            continue
        removed.append(entry.name)
        shutil.rmtree(aside, onerror=failed)
    return Cleanup(tuple(sorted(removed)), tuple(problems))


def link_host(storage: Path, hostname: str, workspace_id: uuid.UUID, site_id: uuid.UUID) -> None:
    """`_hosts/<hostname>` -> the site's `live` link (valid hostnames only: they are safe names)."""
    with _failures(f"linking _hosts/{hostname}"):
        _replace_symlink(storage / HOSTS / hostname, f"../{workspace_id}/{site_id}/{LIVE}")


def unlink_host(storage: Path, hostname: str) -> None:
    """Remove `_hosts/<hostname>` (nothing to do when it is already gone)."""
    with _failures(f"removing _hosts/{hostname}"), contextlib.suppress(FileNotFoundError):
        os.unlink(storage / HOSTS / hostname)


def reconcile_hosts(storage: Path, domains: Iterable[tuple[str, uuid.UUID, uuid.UUID]],
                    previews: Iterable[tuple[str, uuid.UUID, uuid.UUID]] = ()) -> None:
    """Make `_hosts/` hold exactly one link per domain and per (preview key, domain of its site).

    `domains` are (hostname, workspace, site); `previews` (key, workspace, site) of the
    previews that have a deployed build. Links are created, re-pointed or removed.
    """
    wanted = {host: f"../{ws}/{site}/{LIVE}" for host, ws, site in domains}
    hosts_of: dict[uuid.UUID, list[str]] = {}
    for host, _, site in domains:
        hosts_of.setdefault(site, []).append(host)
    for key, ws, site in previews:
        for host in hosts_of.get(site, ()):
            wanted[f"{key}--{host}"] = f"../{ws}/{site}/{PREVIEWS}/{key}"
    hosts = storage / HOSTS
    with _failures("reconciling _hosts"):
        hosts.mkdir(exist_ok=True)
        for entry in os.scandir(hosts):
            if entry.name not in wanted and entry.is_symlink() and not entry.name.startswith(TMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):  # removed by another process meanwhile
                    os.unlink(entry.path)
        for name, target in wanted.items():
            _replace_symlink(hosts / name, target)
