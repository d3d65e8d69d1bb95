"""Run one build in its own process, under limits the operating system enforces.

A site's `_theme/` templates are the tenant's code. Jinja's sandbox keeps
them from reaching files or Python internals, but not from spending CPU or
memory inside one filter call, where no cooperative check runs. So each
build runs in a process of its own (`child.main`), started by the fork
server (the worker is a threaded asyncio process: forking it could copy a
lock another thread holds), with BUILD_CPU_S and BUILD_MEMORY_MB set by
`setrlimit`, and killed — with its render processes, one process group — at
BUILD_WALL_S after it started. The worker's event loop keeps renewing the
deployment's lease meanwhile, and other builds run on.

The process starts first (`BuildProcess.start`) and restores its site's
build cache while the worker reads the commit; `build` then hands it the job.

A process whose build succeeded stays, warm, for its site's next build
(`close` keeps up to BUILD_WARM_SITES of them, each for BUILD_WARM_IDLE_S at
most, the least recently used going first): with what it learnt in memory
it restores nothing, and the worker sends it only the files that changed
since its last job. It serves one site only (the key is the site, its build
cache and the limits), never another site or workspace. Limits hold per
build: its CPU signal comes BUILD_CPU_S after the build's start (the
process moves its soft limit), the worker kills it CPU_GRACE_S later
(reading its CPU time every `_WATCH_S`), the kernel kills it at its
lifetime limit (`child.lifetime_cpu_s`; it retires before that), and
BUILD_WALL_S counts from the job's hand-off. A failed or killed build ends
its process: the next one starts from the snapshot. A process says when it
takes a job ("started"): a warm one that died while it waited (the OOM
killer) never does, and a new process takes the job in its place.

How a build ends, and what the deployment's error says:

- the build process sends ("ok", ...) or ("error", OpenBookError): the stats,
  or the error it met, raised here as it was (BuildLimitExceeded for SIGXCPU,
  MemoryError and output sizes, naming the template and line); after "ok" it
  saves the site's cache and exits on its own (`_reap` joins it later);
- it is still running at the deadline: killed, BuildLimitExceeded("wall");
- it used BUILD_CPU_S and CPU_GRACE_S more (the signal did not stop it):
  killed, BuildLimitExceeded("cpu");
- it ended without a message: killed by the kernel (the CPU hard limit, the
  OOM killer) or its render process was, BuildLimitExceeded("killed"), or it
  could not even report running out of memory ("memory").

For the last two the process cannot say where it was, so the error names
what each process of the build last recorded on the build's board (one small
file per process, see `child.Board`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from openbook.config import BuildLimits
from openbook.errors import BuildLimitExceeded, InternalError, OpenBookError
from openbook.fs import storage
from openbook.render import parallel
from openbook.worker import child
from openbook.worker.child import Board, BuildJob

Phases = dict[str, float]
_EXIT_WAIT_S = 30.0  # a build process that sent its result gets this long to save its cache and exit
_WATCH_S = 0.5  # how often the worker reads a building process's CPU time
HELD_MAX_BYTES = 256 * 1024 * 1024  # a warm process's files the worker keeps, to send only what changed
_TICKS = os.sysconf("SC_CLK_TCK")
_Key = tuple[str, Path | None, BuildLimits]  # a site, its build cache, the limits: who may take a warm process


@dataclass(frozen=True, slots=True)
class _Finishing:
    """A build process that sent its result and is saving its site's cache."""

    proc: BaseProcess
    site_key: str
    deadline: float  # time.monotonic(): killed after it


_finishing: set[_Finishing] = set()
_warm: dict[_Key, BuildProcess] = {}  # waiting for their site's next build, least recently used first


class BuildProcess:
    """One build process: started before its job is known (it restores the site's build
    cache meanwhile), or taken warm; given the job with `build`; on `close`, kept warm after a
    successful build, else killed if it has not finished."""

    def __init__(self, proc: BaseProcess, conn: Connection, limits: BuildLimits, board: Path, deadline: float,
                 site_key: str, cache: Path | None) -> None:
        self._proc = proc
        self._site_key = site_key
        self._key: _Key = (site_key, cache, limits)
        self._conn = conn
        self._limits = limits
        self._board = board
        self._deadline = deadline  # the event loop's clock
        self._done = False
        self._closed = False
        self._stays = False  # the process may take another build (it said so with its result)
        self._builds = 0
        # The files of its last build, which it holds (None: not kept here, over HELD_MAX_BYTES).
        self._content: dict[str, bytes] | None = None
        self._ids: Mapping[str, str] = {}  # their blob ids, when the caller said
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def warm(self) -> bool:
        """Whether this process built its site before (it restores nothing)."""
        return self._builds > 0

    @property
    def blobs(self) -> dict[str, bytes]:
        """The files this process holds from its last build, by blob id: no need to read them again."""
        content = self._content or {}
        return {blob: content[path] for path, blob in self._ids.items() if path in content}

    @classmethod
    async def start(cls, limits: BuildLimits, site_key: str, cache: Path | None) -> BuildProcess:
        """A build process for site `site_key` whose build cache snapshot is `cache`: the site's
        warm one, or a new one. Raises OSError when no process can be started."""
        _reap()
        warm = _warm.pop((site_key, cache, limits), None)
        if warm is not None:
            warm._cancel_expiry()
            if warm._proc.is_alive():
                warm._done = warm._closed = warm._stays = False
                return warm
            await warm._stop()  # it died while it waited (the OOM killer): a new one
            shutil.rmtree(warm._board, ignore_errors=True)
        # The site's previous build may still be saving what it learnt: wait for it rather than
        # build cold (a snapshot takes a fraction of a second to write, a cold build seconds).
        for saving in [f for f in _finishing if f.site_key == site_key]:
            await asyncio.to_thread(saving.proc.join, max(0.0, saving.deadline - time.monotonic()))
        _reap()
        board = Path(tempfile.mkdtemp(prefix="openbook-build-"))
        # The fork server imports the build process's code when it starts: each build starts warm.
        ctx = parallel.process_context(child.__name__)
        ours, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=child.main, args=(theirs, site_key, cache, limits, board), name="openbook-build")
        try:
            await asyncio.to_thread(proc.start)
        except BaseException:
            ours.close()
            shutil.rmtree(board, ignore_errors=True)
            raise
        finally:
            theirs.close()  # the build process holds the only other end: its exit is our EOF
        return cls(proc, ours, limits, board, asyncio.get_running_loop().time() + limits.wall_s, site_key, cache)

    async def __aenter__(self) -> BuildProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def build(self, job: BuildJob, ids: Mapping[str, str] | None = None) -> tuple[dict[str, Any], Phases]:
        """Run `job` in this process; (stats, seconds per phase). `ids`: the blob id of each
        file of the job (what `blobs` gives back after it; files are compared by id then).

        Raises what the build met (RenderError, NotFound, PublishFailed,
        InternalError), and BuildLimitExceeded when it went over a limit.
        """
        if self._builds:
            self._deadline = asyncio.get_running_loop().time() + self._limits.wall_s
        message, stopped = await self._hand_over(job, ids)
        if message is None and stopped is None and self._builds:
            # A warm process that died while it waited (the OOM killer) never took the job:
            # a new process in its place takes it, as if there had been no warm one.
            await self._stop()
            self._replace_with(await BuildProcess.start(self._limits, self._site_key, self._key[1]))
            message, stopped = await self._hand_over(job, ids)
        if message is not None and message[0] == "started":  # else its setup failed: that is the outcome
            message, stopped = await self._outcome(_cpu_seconds(self._proc.pid))
        if message is not None and message[0] == "ok":
            self._done = True
            self._stays = message[3]
            self._builds += 1
            # Kept for the next job (the process holds the same files); a site's files over the
            # bound are sent whole and read again instead, rather than held by the worker too.
            held = sum(map(len, job.content.values())) <= HELD_MAX_BYTES
            self._content, self._ids = (job.content, ids or {}) if held else (None, {})
            return message[1], message[2]
        if message is not None:
            # It failed cleanly (and removed its temporary folder): it may save what its
            # earlier builds learnt before it exits.
            self._done = True
            error: OpenBookError = message[1]
            raise error
        await self._stop()
        await asyncio.to_thread(storage.remove_temp, job.target, job.token)
        raise _ended(self._proc, stopped, self._limits, Board.read(self._board))

    async def _hand_over(self, job: BuildJob, ids: Mapping[str, str] | None) -> tuple[Any, str | None]:
        """Send `job` (only what changed, to a process that holds the last job's files); the
        process's ("started",), or None and why it did not come (`_outcome`)."""
        sent = job if self._content is None else _changes(self._content, self._ids, job, ids or {})
        # Pickled in a thread, not on the event loop. OSError: the process is gone already
        # (killed while restoring): its end says why.
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self._conn.send, sent)
        return await self._outcome(None)

    def _replace_with(self, other: BuildProcess) -> None:
        """Become `other` (a new process for the same site), whose files are none yet."""
        shutil.rmtree(self._board, ignore_errors=True)
        self._proc, self._conn, self._board, self._deadline = other._proc, other._conn, other._board, other._deadline
        self._builds, self._content, self._ids = 0, None, {}

    async def close(self) -> None:
        """Release the process: one whose build succeeded is kept warm for its site's next build
        (`_keep_warm`), or finishes saving its cache and exits on its own (reaped later, killed
        at its deadline); any other is killed now."""
        if self._closed:
            return
        self._closed = True
        if self._done and self._stays and self._limits.warm_sites > 0:
            _keep_warm(self)
        elif self._done:
            self._retire()
        else:
            await self._stop()
            shutil.rmtree(self._board, ignore_errors=True)

    def _retire(self) -> None:
        """Let the process go: it exits once it has saved what its last build learnt."""
        self._cancel_expiry()
        self._conn.close()
        _finishing.add(_Finishing(self._proc, self._site_key, time.monotonic() + _EXIT_WAIT_S))
        shutil.rmtree(self._board, ignore_errors=True)

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def _stop(self) -> None:
        self._conn.close()
        if self._proc.is_alive():
            _kill(self._proc)
        await asyncio.to_thread(self._proc.join)

    async def _outcome(self, cpu: float | None) -> tuple[Any, str | None]:
        """(the build process's message or None, why the worker stopped waiting: "wall" when the
        deadline passed, "cpu" when the build used its CPU time and grace, else None). `cpu`: the
        process's CPU seconds when the build started."""
        loop = asyncio.get_running_loop()
        conn = self._conn
        readable = asyncio.Event()
        loop.add_reader(conn.fileno(), readable.set)  # a message, or EOF when the process is gone
        # One second more than the process's own signal can need: its soft limit is rounded up.
        most = self._limits.cpu_s + child.CPU_GRACE_S + 1
        try:
            while not readable.is_set():
                left = self._deadline - loop.time()
                if left <= 0:
                    return None, "wall"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(readable.wait(), min(left, _WATCH_S))
                used = _cpu_seconds(self._proc.pid)
                if not readable.is_set() and cpu is not None and used is not None and used - cpu > most:
                    _kill(self._proc)
                    await asyncio.to_thread(self._proc.join)
                    return None, "cpu"
        finally:
            loop.remove_reader(conn.fileno())
        receiving = asyncio.ensure_future(asyncio.to_thread(_receive, conn))
        try:
            # A message is sent whole right after the build; one stuck halfway is killed, which
            # ends the read with EOF.
            return await asyncio.wait_for(asyncio.shield(receiving), max(0.0, self._deadline - loop.time())), None
        except TimeoutError:
            _kill(self._proc)
            await receiving
            return None, "wall"


def _changes(held: dict[str, bytes], held_ids: Mapping[str, str], job: BuildJob, ids: Mapping[str, str]) -> BuildJob:
    """`job` for a process that holds `held` (its last job's files, with their blob ids when
    known): only what changed."""
    def same(path: str, data: bytes) -> bool:
        old = held.get(path)
        if old is None:
            return False
        if path in ids and path in held_ids:
            return ids[path] == held_ids[path]
        return old is data or old == data

    changed = {path: data for path, data in job.content.items() if not same(path, data)}
    return dataclasses.replace(job, content=changed, removed=tuple(p for p in held if p not in job.content))


def _keep_warm(process: BuildProcess) -> None:
    """Keep `process` for its site's next build (a warm one kept before for the same site goes),
    within BUILD_WARM_SITES (the least recently used go first), for BUILD_WARM_IDLE_S at most."""
    limits = process._limits
    replaced = _warm.pop(process._key, None)
    if replaced is not None:
        replaced._retire()
    _warm[process._key] = process
    process._expiry = asyncio.get_running_loop().call_later(limits.warm_idle_s, _expire, process)
    while len(_warm) > limits.warm_sites:
        _warm.pop(next(iter(_warm)))._retire()


def _expire(process: BuildProcess) -> None:
    key = process._key
    if _warm.get(key) is process:
        del _warm[key]
        process._retire()


def retire_warm() -> None:
    """Let every warm build process go (the worker stops; tests)."""
    while _warm:
        _warm.pop(next(iter(_warm)))._retire()


# At exit multiprocessing joins this process's children: warm ones must be let go first
# (exit functions run last registered first, and multiprocessing registered its own on import).
atexit.register(retire_warm)


def _cpu_seconds(pid: int | None) -> float | None:
    """The CPU time process `pid` has used (not its children), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


def prepare() -> None:
    """Start the fork server now rather than at the first build (it imports and warms up the
    renderer: most of a second). Blocking: call it in a thread."""
    proc = parallel.process_context(child.__name__).Process(target=child.ready, name="openbook-build-ready")
    proc.start()
    proc.join()


def _reap() -> None:
    """Join the build processes that finished saving; kill those past their deadline."""
    for saving in list(_finishing):
        if saving.proc.is_alive() and time.monotonic() > saving.deadline:
            _kill(saving.proc)
        if not saving.proc.is_alive():
            saving.proc.join()
            _finishing.discard(saving)


def _receive(reader: Connection) -> Any:
    try:
        return reader.recv()
    except (EOFError, OSError):
        return None


def _kill(proc: BaseProcess) -> None:
    """SIGKILL the build process and its render processes (its process group)."""
    assert proc.pid is not None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        # Not yet the leader of its own group (it sets that first thing): no render process yet.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _ended(proc: BaseProcess, stopped: str | None, limits: BuildLimits,
           board: dict[int, tuple[str, str]]) -> OpenBookError:
    """The error of a build process that ended without a message (`stopped`: why the worker
    killed it, see `BuildProcess._outcome`)."""
    code = proc.exitcode
    path, doing = _doing(board, proc.pid)
    if stopped == "wall":
        return BuildLimitExceeded(path, f"killed at the wall-clock limit of {limits.wall_s} s (BUILD_WALL_S) while "
                                        f"{doing}", "wall")
    if stopped == "cpu":
        return BuildLimitExceeded(path, f"killed {child.CPU_GRACE_S} s after the CPU time limit of {limits.cpu_s} s "
                                        f"(BUILD_CPU_S) while {doing}", "cpu")
    if code == child.EXIT_MEMORY:
        return BuildLimitExceeded(path, f"out of memory (BUILD_MEMORY_MB={limits.memory_mb}) while {doing}", "memory")
    if code == child.EXIT_POOL_KILLED or code in (-signal.SIGKILL, -signal.SIGXCPU):
        return BuildLimitExceeded(path, f"killed by the operating system (over BUILD_CPU_S={limits.cpu_s}, or out of"
                                        f" memory) while {doing}", "killed")
    return InternalError(f"the build process ended with exit code {code} while {doing}")


def _doing(board: dict[int, tuple[str, str]], builder: int | None) -> tuple[str, str]:
    """(path, activity) naming what the build's processes were busy with.

    Render processes clear their entry between chunks, so a busy one is one that
    was inside a page when the build ended: those are named, else the build process.
    """
    busy = sorted({where for pid, where in board.items() if pid != builder})
    if not busy:
        return board.get(builder or 0, ("the build", "starting"))
    path = busy[0][0]
    same = [activity for p, activity in busy if p == path]
    others = [f"{p} ({activity})" for p, activity in busy if p != path]
    listed = ", ".join(same[:3]) + (f" and {len(same) - 3} more" if len(same) > 3 else "")
    return path, listed + (f"; also {', '.join(others[:3])}" if others else "")
