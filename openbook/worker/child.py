"""The build process: a site's builds, rendered and written under limits the operating system enforces.

`openbook.worker.isolate` starts `main` in a new process from the fork
server (never a fork of the threaded worker) for a site's build; the process
may stay, warm, for the same site's next builds. Before it runs anything a
site's content decides, the process

- becomes the leader of its own process group, so the worker can kill it
  together with its render processes, and dies with the fork server (which
  dies with the worker);
- sets `RLIMIT_AS` (BUILD_MEMORY_MB: an allocation over it fails,
  MemoryError) and `RLIMIT_CPU`: for each build, the soft limit BUILD_CPU_S
  beyond what the process has used so far (the kernel sends SIGXCPU; the
  worker kills the process `CPU_GRACE_S` later), the hard limit
  `lifetime_cpu_s` (the kernel's SIGKILL). Render processes fork from it,
  new for each build, inherit the memory limit and get BUILD_CPU_S of their
  own with the kernel's SIGKILL `CPU_GRACE_S` later;
- turns SIGXCPU into BuildLimitExceeded raised where the build is, so the
  error names the template and line (`progress` says where the build is);
- records where it is (and each render process where it is) in the build's
  board folder, which the worker reads if it must kill the process.

The process starts before the worker has read the commit's files from
PostgreSQL: meanwhile it restores its site's render cache from the build
cache on disk (`fs.buildcache`), so that reading both costs the longer of
the two. Then it receives its `BuildJob`, renders, checks every file against
BUILD_MAX_FILE_MB and the deployment against BUILD_MAX_OUTPUT_MB, writes
the folder, and sends the worker one message: ("ok", stats, phase seconds,
whether it may take another build) or ("error", OpenBookError). Without a
message, the exit code says what happened (`EXIT_*`). After an "ok" it
waits for the site's next job, which brings only the files that changed;
once none has come for `SAVE_IDLE_S`, and before it exits, it appends what
its builds learnt to the site's snapshot (`_save`: usually a few KB), so no
deployment waits for a save. It exits after an error, when the worker
closes the connection, or once it has not a whole BUILD_CPU_S left of its
lifetime limit.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import gc
import math
import os
import resource
import signal
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

from openbook import siteconf
from openbook.config import BuildLimits
from openbook.errors import BuildLimitExceeded, InternalError, OpenBookError, ReuseFailed
from openbook.fs import buildcache, storage
from openbook.fs.themes import load_theme
from openbook.publish import compose
from openbook.render import build_key as render_build_key
from openbook.render import parallel, progress
from openbook.render.cache import SITE_CACHES

CPU_GRACE_S = 5  # between SIGXCPU (the error names the template) and the kernel's SIGKILL
EXIT_MEMORY = 3  # MemoryError, and not even the report of it could be sent
EXIT_POOL_KILLED = 4  # a render process was killed (the kernel: CPU hard limit, out of memory)
BOARD_SLOT = 1024  # bytes each process writes where it is in: one pwrite, read by the worker
COMPACT_AT = 2  # a snapshot is written whole again once what was appended reaches 1/COMPACT_AT of it
SAVE_IDLE_S = 1.0  # a warm process saves what it learnt once it has waited this long for a job
WARM_MEMORY_SHARE = 0.5  # of BUILD_MEMORY_MB a warm process may hold between builds
WARM_CPU_BUILDS = 2  # BUILD_CPU_S a warm process may use for later builds, in all: then it retires
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class BuildJob:
    """Everything one build needs, sent to the build process (it opens no connection)."""

    content: dict[str, bytes]  # files below the site root (with `removed`: those changed since the last job)
    site: siteconf.SiteConfig  # as the commit configures it
    themes_path: tuple[Path, ...]
    commit_id: str
    target: Path  # STORAGE_PATH/<ws>/<site>/<commit>
    previous: Path | None  # the previous deployment's folder: files to reuse
    site_key: str  # the site id: whose caches
    token: str  # the temp folder's suffix (`storage.temp_folder`)
    # None: `content` is every file. Else the job goes to a process that built this site before:
    # `content` has the files added or changed since its last job, and these paths are gone.
    removed: tuple[str, ...] | None = None


def render_and_write(job: BuildJob, limits: BuildLimits,
                     spare: storage.Spare | None = None) -> tuple[dict[str, Any], dict[str, float]]:
    """Render the job's site and publish its folder, made from `spare` when it is one of the job's
    previous build (`storage.publish`); (stats, seconds spent per phase).

    Raises RenderError (BuildLimitExceeded for a file or deployment over its
    size limit), NotFound (an unknown theme) and PublishFailed.
    """
    started = time.perf_counter()
    chain = load_theme(job.site.theme, job.themes_path)
    settings = compose.site_settings(job.site)
    build_key = render_build_key(job.commit_id, job.site.root, chain, settings)
    manifest = storage.read_manifest(job.target) or {}
    kept = manifest.get("stats")
    if manifest.get("build_key") == build_key and isinstance(kept, dict):
        # Same inputs already published (a redelivered or repeated deployment): nothing to do.
        return {**kept, "written": 0, "linked": 0, "render_ms": 0, "rendered": 0, "folder_reused": True}, {}
    output = storage.OutputLimits(limits.max_file_bytes, limits.max_output_bytes)
    # Files whose render key equals the previous build's are not rendered but
    # hard-linked from it; if that build vanished meanwhile, render everything.
    keys = storage.previous_keys(job.previous)
    for attempt_keys in (keys, {}) if keys else ({},):
        result = compose.render_site(job.content, job.site, chain, previous=attempt_keys, site_key=job.site_key,
                                     max_file_bytes=limits.max_file_bytes)
        render_s = time.perf_counter() - started
        stats: dict[str, Any] = {**result.stats, "files": len(result.files),
                                 "bytes": sum(len(f.data) for f in result.files if f.data is not None)}
        progress.at("the deployment's files", "writing them")
        try:
            published = storage.publish(job.target, ((f.path, f.data, f.render_key) for f in result.files),
                                        build_key, job.previous, stats, output, job.token,
                                        spare if attempt_keys is keys else None)
            break
        except ReuseFailed:
            continue
    phases = {"render": render_s, "write": time.perf_counter() - started - render_s}
    return {**stats, "written": published.written, "linked": published.linked,
            "render_ms": round(render_s * 1000), "bytes": published.bytes, "folder_reused": published.reused}, phases


class Board:
    """Where each process of one build is, one small file per process in the build's board folder.

    Called through `progress` on every step; a process forked from the build process
    (a render process) opens its own file at its first step.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pid = 0
        self._fd = -1

    def __call__(self, path: str, activity: str) -> None:
        pid = os.getpid()
        if pid != self._pid:
            self._fd = os.open(self.folder / str(pid), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self._pid = pid
        data = f"{path}\0{activity}".encode("utf-8", "replace")[:BOARD_SLOT]
        os.pwrite(self._fd, data.ljust(BOARD_SLOT, b"\0"), 0)

    @staticmethod
    def read(folder: Path) -> dict[int, tuple[str, str]]:
        """pid → (path, activity) as each process of the build last wrote it."""
        found: dict[int, tuple[str, str]] = {}
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(folder):
                with contextlib.suppress(OSError, ValueError):
                    raw = Path(entry.path).read_bytes().rstrip(b"\0").decode("utf-8", "replace")
                    path, _, activity = raw.partition("\0")
                    if path:
                        found[int(entry.name)] = (path, activity)
        return found


def _die_with_parent() -> None:
    """SIGKILL this process when its parent (the fork server, which exits with the worker) exits."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the call: nobody waits for this build
        os._exit(1)


def lifetime_cpu_s(limits: BuildLimits) -> int:
    """The CPU seconds of a build process in all: its first build, and the later builds it may take
    while warm (`may_stay`). The kernel kills it at this hard limit."""
    return limits.cpu_s * (1 + WARM_CPU_BUILDS) + CPU_GRACE_S


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _address_space() -> int:
    """Bytes of this process's address space (what RLIMIT_AS bounds)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def may_stay(limits: BuildLimits) -> bool:
    """Whether this process may take another build: a whole BUILD_CPU_S, and its grace, are left,
    and what it holds leaves the next build most of BUILD_MEMORY_MB (a process that grew past
    `WARM_MEMORY_SHARE` of it goes: a new one restores only the snapshot)."""
    return (limits.warm_sites > 0 and _cpu_used() + limits.cpu_s + CPU_GRACE_S <= lifetime_cpu_s(limits)
            and _address_space() <= limits.memory_mb * 1024 * 1024 * WARM_MEMORY_SHARE)


def _apply_limits(limits: BuildLimits) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, lifetime_cpu_s(limits)))
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _limit_this_build(limits: BuildLimits) -> None:
    """SIGXCPU, raised as BuildLimitExceeded where the build is, once this build has used
    BUILD_CPU_S from now (the worker kills the process CPU_GRACE_S later, `isolate.BuildProcess`;
    the kernel at the lifetime limit). Render processes forked meanwhile inherit the handler."""
    def over_cpu(signum: int, frame: FrameType | None) -> None:
        path, activity = progress.where()
        raise BuildLimitExceeded(path, f"CPU time limit of {limits.cpu_s} s reached (BUILD_CPU_S) while {activity}",
                                 "cpu")

    signal.signal(signal.SIGXCPU, over_cpu)
    soft = min(math.ceil(_cpu_used()) + limits.cpu_s, lifetime_cpu_s(limits))
    resource.setrlimit(resource.RLIMIT_CPU, (soft, lifetime_cpu_s(limits)))


def _limit_render_process(limits: BuildLimits) -> None:
    """A render process, new for each build, gets BUILD_CPU_S of its own and the kernel's hard kill
    CPU_GRACE_S later (it inherited its build process's lifetime limit, which only goes down)."""
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + CPU_GRACE_S))


@dataclass(slots=True)
class Kept:
    """The site's snapshot on disk as this process knows it: what a save may append to."""

    path: Path | None  # None: no build cache
    whole: int = 0  # bytes of its whole snapshot (0: none this code can use, the next save writes one)
    added: int = 0  # bytes of what builds appended to it since


def _restore(site_key: str, cache: Path | None) -> tuple[dict[str, Any], Kept]:
    """Fill the site's render cache from its snapshot; what it cost, for the build's stats, and
    what the process knows of the snapshot. What builds learn from here on is what `_save` adds."""
    started = time.perf_counter()
    records = buildcache.load(cache) if cache is not None else []
    kept = Kept(cache)
    restored = 0
    # Restoring allocates a few hundred thousand objects that live to the end: no collection
    # should walk them, during the restore or after it (gc.freeze).
    gc.disable()
    try:
        for i, record in enumerate(records):
            got = SITE_CACHES.restore(site_key, record)
            restored += got
            if i == 0:
                kept.whole = len(record) if got else 0
            else:
                kept.added += len(record)
        SITE_CACHES.mark(site_key)
    finally:
        gc.freeze()
        gc.enable()
    if not records:
        return {"restored": 0, "restore_ms": 0}, kept
    return {"restored": restored, "restore_ms": round((time.perf_counter() - started) * 1000),
            "snapshot_bytes": sum(map(len, records)), "records": len(records)}, kept


def _save(site_key: str, kept: Kept) -> None:
    """Add what the site's builds learnt since the last save to its snapshot: appended, or the whole
    snapshot written anew when there is none to append to or the appended records would reach
    half of it (each record makes the next restore do work twice)."""
    if kept.path is None:
        return
    if kept.whole:
        changes = SITE_CACHES.changes(site_key)
        if changes is None:
            return  # nothing new was learnt
        if (kept.added + len(changes)) * COMPACT_AT <= kept.whole and buildcache.append(kept.path, changes):
            kept.added += len(changes)
            SITE_CACHES.mark(site_key)
            return
    whole = SITE_CACHES.snapshot(site_key)
    if buildcache.save(kept.path, whole):
        kept.whole, kept.added = len(whole), 0
        SITE_CACHES.mark(site_key)


def ready() -> None:
    """Does nothing: `isolate.prepare` starts one to have the fork server running."""


def main(conn: Connection, site_key: str, cache: Path | None, limits: BuildLimits, board: Path) -> None:
    """The build process: restore the site's cache, then for each job it receives: run it under
    `limits`, send the worker one message, save what the build learnt. It exits after a failed
    build, when the worker closes the connection, or when it may not take another build."""
    files: dict[str, bytes] = {}  # the last job's files: the next job says what changed
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        progress.observe(Board(board))
        parallel.fork_from_here(functools.partial(_limit_render_process, limits))
        _apply_limits(limits)
        progress.at("the build cache", "reading it")
        restored, kept = _restore(site_key, cache)
    except Exception as exc:
        _send(conn, ("error", _failure(exc, limits)))
        return
    unsaved = False  # a build succeeded since the last save
    published: Path | None = None  # the folder of the last build: the next one's previous, usually
    spare: storage.Spare | None = None
    while True:
        # While it waits, the process prepares the next build's folder (`storage.make_spare`,
        # left as far as it got when a job comes: publishing completes it); then, once no job
        # has come for SAVE_IDLE_S, it saves what builds learnt.
        if spare is None and published is not None:
            progress.at("the deployment's files", "preparing the next build's folder")
            spare = storage.make_spare(published, uuid.uuid4().hex, lambda: conn.poll(0))
        if unsaved and not conn.poll(SAVE_IDLE_S):
            _save(site_key, kept)
            unsaved = False
        try:
            job: BuildJob | None = conn.recv()
        except EOFError:
            job = None
        if job is None:  # the worker let this process go, or gave up on its build (it could not read the commit)
            if spare is not None:
                storage.discard(spare)
            if unsaved:
                _save(site_key, kept)
            return
        _send(conn, ("started",))  # the worker knows this process took the job (it did not die waiting)
        message = _build(job, files, limits, restored, spare)
        restored = {"restored": 0, "restore_ms": 0, "warm": True}
        stay = message[0] == "ok" and may_stay(limits)
        _send(conn, (*message, stay) if message[0] == "ok" else message)
        if spare is not None:
            storage.discard(spare)  # after the message; nothing left when the build used it
            spare = None
        published = job.target if message[0] == "ok" else None
        unsaved = unsaved or message[0] == "ok"
        if not stay:
            if unsaved:  # what earlier builds learnt stays right after a failed one: entries are whole
                _save(site_key, kept)  # after the message: the deployment does not wait for it
            return


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)  # reporting and saving; the worker still watches
    try:
        conn.send(message)
    except MemoryError:
        os._exit(EXIT_MEMORY)


def _build(job: BuildJob, files: dict[str, bytes], limits: BuildLimits, restored: dict[str, Any],
           spare: storage.Spare | None) -> tuple[Any, ...]:
    """Run one job: ("ok", stats, phases) or ("error", OpenBookError). `files` becomes its files."""
    if job.removed is None:
        files.clear()
    for path in job.removed or ():
        files.pop(path, None)
    files.update(job.content)
    try:
        _limit_this_build(limits)
        stats, phases = render_and_write(dataclasses.replace(job, content=files, removed=None), limits, spare)
        return ("ok", {**stats, "cache": restored}, phases)
    except BrokenProcessPool:
        os._exit(EXIT_POOL_KILLED)  # the worker reads the board: what the render processes were doing
    except Exception as exc:
        return ("error", _failure(exc, limits))


def _failure(exc: Exception, limits: BuildLimits) -> OpenBookError:
    """What the worker is told of an exception that ended a build."""
    if isinstance(exc, OpenBookError):
        return exc
    if isinstance(exc, MemoryError):
        return _out_of_memory(limits)
    # Not the content's fault (that is a RenderError): a bug of ours, reported as such.
    return InternalError(f"the renderer failed: {type(exc).__name__}: {exc}")


def _out_of_memory(limits: BuildLimits) -> BuildLimitExceeded:
    path, activity = progress.where()
    return BuildLimitExceeded(path, f"out of memory (BUILD_MEMORY_MB={limits.memory_mb}) while {activity}", "memory")
