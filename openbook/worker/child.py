"""The build process: one build, rendered and written under limits the operating system enforces.

`openbook.worker.isolate` starts `main` in a new process from the fork
server (never a fork of the threaded worker) for each build. Before it runs
anything a site's content decides, the process

- becomes the leader of its own process group, so the worker can kill it
  together with its render processes, and dies with the fork server (which
  dies with the worker);
- sets `RLIMIT_CPU` (BUILD_CPU_S; the kernel sends SIGXCPU, then SIGKILL
  `CPU_GRACE_S` later) and `RLIMIT_AS` (BUILD_MEMORY_MB: an allocation over
  it fails, MemoryError). Render processes fork from it and inherit both,
  each with its own CPU count;
- turns SIGXCPU into BuildLimitExceeded raised where the build is, so the
  error names the template and line (`progress` says where the build is);
- records where it is (and each render process where it is) in the build's
  board folder, which the worker reads if it must kill the process.

The process starts before the worker has read the commit's files from
PostgreSQL: meanwhile it restores its site's render cache from the build
cache on disk (`fs.buildcache`), so that reading both costs the longer of
the two. Then it receives its `BuildJob`, renders, checks every file against
BUILD_MAX_FILE_MB and the deployment against BUILD_MAX_OUTPUT_MB, writes
the folder, and sends the worker one message: ("ok", stats, phase seconds)
or ("error", OpenBookError). Without a message, the exit code says what
happened (`EXIT_*`). After an "ok" it writes what the build learnt back to
the build cache (the worker does not wait for that) and exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import signal
import time
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
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class BuildJob:
    """Everything one build needs, sent to the build process (it opens no connection)."""

    content: dict[str, bytes]  # files below the site root
    site: siteconf.SiteConfig  # as the commit configures it
    themes_path: tuple[Path, ...]
    commit_id: str
    target: Path  # STORAGE_PATH/<ws>/<site>/<commit>
    previous: Path | None  # the previous deployment's folder: files to reuse
    site_key: str  # the site id: whose caches
    token: str  # the temp folder's suffix (`storage.temp_folder`)


def render_and_write(job: BuildJob, limits: BuildLimits) -> tuple[dict[str, Any], dict[str, float]]:
    """Render the job's site and publish its folder; (stats, seconds spent per phase).

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
                                        build_key, job.previous, stats, output, job.token)
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


def _apply_limits(limits: BuildLimits) -> None:
    def over_cpu(signum: int, frame: FrameType | None) -> None:
        path, activity = progress.where()
        raise BuildLimitExceeded(path, f"CPU time limit of {limits.cpu_s} s reached (BUILD_CPU_S) while {activity}",
                                 "cpu")

    signal.signal(signal.SIGXCPU, over_cpu)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + CPU_GRACE_S))
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _restore(site_key: str, cache: Path | None) -> dict[str, Any]:
    """Fill the site's render cache from its snapshot; what it cost, for the build's stats."""
    started = time.perf_counter()
    data = buildcache.load(cache) if cache is not None else None
    if data is None:
        return {"restored": 0, "restore_ms": 0}
    # Restoring allocates a few hundred thousand objects that live to the end: no collection
    # should walk them, during the restore or after it (gc.freeze).
    gc.disable()
    try:
        restored = SITE_CACHES.restore(site_key, data)
    finally:
        gc.freeze()
        gc.enable()
    return {"restored": restored, "restore_ms": round((time.perf_counter() - started) * 1000),
            "snapshot_bytes": len(data)}


def _save(site_key: str, cache: Path | None) -> None:
    if cache is not None:
        buildcache.save(cache, SITE_CACHES.snapshot(site_key))


def ready() -> None:
    """Does nothing: `isolate.prepare` starts one to have the fork server running."""


def main(conn: Connection, site_key: str, cache: Path | None, limits: BuildLimits, board: Path) -> None:
    """The build process: restore the site's cache, receive the job, run it under `limits`,
    send the worker one message, save what the build learnt, exit."""
    message: tuple[Any, ...]
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        progress.observe(Board(board))
        parallel.fork_from_here()
        _apply_limits(limits)
        progress.at("the build cache", "reading it")
        restored = _restore(site_key, cache)
        try:
            job: BuildJob = conn.recv()
        except EOFError:
            return  # the worker gave up on this build (it could not read the commit)
        stats, phases = render_and_write(job, limits)
        message = ("ok", {**stats, "cache": restored}, phases)
    except OpenBookError as exc:
        message = ("error", exc)
    except MemoryError:
        path, activity = progress.where()
        message = ("error", BuildLimitExceeded(path, f"out of memory (BUILD_MEMORY_MB={limits.memory_mb}) while "
                                                     f"{activity}", "memory"))
    except BrokenProcessPool:
        os._exit(EXIT_POOL_KILLED)  # the worker reads the board: what the render processes were doing
    except Exception as exc:
        # Not the content's fault (that is a RenderError): a bug of ours, reported as such.
        message = ("error", InternalError(f"the renderer failed: {type(exc).__name__}: {exc}"))
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)  # reporting; the hard limit still holds
    try:
        conn.send(message)
    except MemoryError:
        os._exit(EXIT_MEMORY)
    conn.close()
    if message[0] == "ok":
        _save(site_key, cache)  # after the message: the deployment does not wait for it
