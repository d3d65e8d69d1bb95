"""Run one build in its own process, under limits the operating system enforces.

A site's `_theme/` templates are the tenant's code. Jinja's sandbox keeps
them from reaching files or Python internals, but not from spending CPU or
memory inside one filter call, where no cooperative check runs. So each
build runs in a process of its own (`child.main`), started by the fork
server (the worker is a threaded asyncio process: forking it could copy a
lock another thread holds), with BUILD_CPU_S and BUILD_MEMORY_MB set by
`setrlimit`, and killed — with its render processes, one process group — at
BUILD_WALL_S. The worker's event loop keeps renewing the deployment's lease
meanwhile, and other builds run on.

How a build ends, and what the deployment's error says:

- the build process sends ("ok", ...) or ("error", OpenBookError): the stats,
  or the error it met, raised here as it was (BuildLimitExceeded for SIGXCPU,
  MemoryError and output sizes, naming the template and line);
- it is still running at the deadline: killed, BuildLimitExceeded("wall");
- it ended without a message: killed by the kernel (the CPU hard limit, the
  OOM killer) or its render process was, BuildLimitExceeded("killed"), or it
  could not even report running out of memory ("memory").

For the last two the process cannot say where it was, so the error names
what each process of the build last recorded on the build's board (one small
file per process, see `child.Board`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
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
_EXIT_WAIT_S = 10.0  # for a process that sent its message to exit


async def run(job: BuildJob, limits: BuildLimits) -> tuple[dict[str, Any], Phases]:
    """Build `job` in a new process under `limits`; (stats, seconds per phase).

    Raises what the build met (RenderError, NotFound, PublishFailed,
    InternalError), BuildLimitExceeded when it went over a limit, and OSError
    when no process could be started.
    """
    board = Path(tempfile.mkdtemp(prefix="openbook-build-"))
    try:
        return await _run(job, limits, board)
    finally:
        shutil.rmtree(board, ignore_errors=True)


async def _run(job: BuildJob, limits: BuildLimits, board: Path) -> tuple[dict[str, Any], Phases]:
    # The fork server imports the build process's code when it starts: each build starts warm.
    ctx = parallel.process_context(child.__name__)
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child.main, args=(writer, job, limits, board), name="openbook-build")
    started = False
    try:
        await asyncio.to_thread(proc.start)  # pickles the content: not on the event loop
        started = True
        writer.close()  # the build process holds the only writer: its end is our EOF
        message, timed_out = await _outcome(proc, reader, limits.wall_s)
    finally:
        writer.close()
        if started:
            if proc.is_alive():
                _kill(proc)
            await asyncio.to_thread(proc.join)
        reader.close()
    if message is not None:
        if message[0] == "ok":
            return message[1], message[2]
        error: OpenBookError = message[1]
        raise error
    await asyncio.to_thread(storage.remove_temp, job.target, job.token)
    raise _ended(proc, timed_out, limits, Board.read(board))


async def _outcome(proc: BaseProcess, reader: Connection, wall_s: float) -> tuple[Any, bool]:
    """(the build process's message or None, whether the deadline passed first)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wall_s
    readable = asyncio.Event()
    loop.add_reader(reader.fileno(), readable.set)  # a message, or EOF when the process is gone
    try:
        await asyncio.wait_for(readable.wait(), wall_s)
    except TimeoutError:
        return None, True
    finally:
        loop.remove_reader(reader.fileno())
    receiving = asyncio.ensure_future(asyncio.to_thread(_receive, reader))
    try:
        # A message is sent whole right before exiting; a process stuck halfway is killed,
        # which ends the read with EOF.
        return await asyncio.wait_for(asyncio.shield(receiving), max(0.0, deadline - loop.time())), False
    except TimeoutError:
        _kill(proc)
        await receiving
        return None, True


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


def _ended(proc: BaseProcess, timed_out: bool, limits: BuildLimits, board: dict[int, tuple[str, str]]) -> OpenBookError:
    """The error of a build process that ended without a message."""
    code = proc.exitcode
    path, doing = _doing(board, proc.pid)
    if timed_out:
        return BuildLimitExceeded(path, f"killed at the wall-clock limit of {limits.wall_s} s (BUILD_WALL_S) while "
                                        f"{doing}", "wall")
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
