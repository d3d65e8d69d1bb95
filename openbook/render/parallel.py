"""Parse and render large builds in a process pool.

Pool processes come from a fork server, not from `fork()` of the building
process: the worker and the preview server call `build_site` from a thread of
an asyncio process, and a child forked from a threaded process can deadlock on
a lock another thread held at the time. The fork server is a fresh,
single-threaded process that has imported the renderer once, so starting a
pool costs milliseconds.

The fork server and pool processes ignore SIGINT and SIGTERM (see
`fork_server`): the building process decides when they stop, so a worker
asked to shut down still finishes its build, even when the signal went to its
whole process group. Each pool process exits as soon as the building process
is gone, however it ended: a killed worker must leave no process behind (pool
processes would hold the fork server's lifeline open, so it would stay too).

An isolated build process (`openbook.worker.child`) is single-threaded and
was itself started by the fork server: it calls `fork_from_here`, and its
pools fork from it directly, inheriting its signal handlers and what it has
imported and cached, at no start-up cost; the function it passes sets each
pool process's own limits before the process takes any work.

Work goes out in chunks of `CHUNK_PAGES`, at most `IN_FLIGHT_PER_WORKER`
chunks per process at a time, so memory follows the pages in flight, not the
size of the site. Results come back in submission order: a parallel build
equals the serial one, and the first error is the one a serial build raises.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from multiprocessing.context import ForkServerContext
from typing import Any, TypeVar

from openbook.errors import InternalError, RenderError
from openbook.render import progress
from openbook.render.context import PageRenderer, RenderJob, RenderState
from openbook.render.markdown import HtmlMode
from openbook.render.pages import ParsedPage, parse_page

# Below this many pages, starting processes costs more than it saves.
PARALLEL_MIN_PAGES = 200
CHUNK_PAGES = 32
IN_FLIGHT_PER_WORKER = 2
_POLL_S = 1.0

_T = TypeVar("_T")
_R = TypeVar("_R")


def default_workers() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def use_pool(pages: int, workers: int) -> bool:
    return workers > 1 and pages >= PARALLEL_MIN_PAGES


def parse_many(items: Iterable[tuple[str, bytes]], count: int, mode: HtmlMode, workers: int) -> list[ParsedPage]:
    """`pages.parse_page` of each of the `count` (source, bytes), in order; `items` is consumed as
    chunks go out. A page that does not parse comes back with its problem (`parse_page`)."""
    out: list[ParsedPage] = []
    # Each page's placeholders keep their pool process's nonce, which the page names
    # (`ParsedDoc.prefix`): `links.write_links` rewrites them if the page renders.
    for parsed in _map(_init_parse, (os.getpid(),), _parse_chunk, items, count, workers, mode):
        out.extend(parsed)
    return out


def render_many(state: RenderState, jobs: Iterable[RenderJob], count: int, workers: int, *,
                collect: bool = False) -> list[bytes | RenderError]:
    """Each job's rendered bytes, in order; `jobs` is consumed as chunks go out.
    Raises the first RenderError, or — when `collect` — gives it in the job's place."""
    out: list[bytes | RenderError] = []
    initargs = (os.getpid(), state.without_static())
    for chunk in _map(_init_render, initargs, _render_chunk, jobs, count, workers, collect):
        out.extend(chunk)
    return out


def _map(  # a generator only its own module drives to the end (or to an exception)
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    fn: Callable[..., _R | RenderError],
    items: Iterable[_T],
    count: int,
    workers: int,
    *args: Any,
) -> Iterator[_R]:
    processes = max(1, min(workers, -(-count // CHUNK_PAGES)))
    context = multiprocessing.get_context("fork") if _may_fork() else process_context()
    pool = ProcessPoolExecutor(processes, context, initializer=initializer, initargs=initargs)
    pending: deque[Future[_R | RenderError]] = deque()

    def take() -> _R:
        result = pending.popleft().result()
        if isinstance(result, RenderError):  # sent back as a value: the first in order is raised
            raise result
        return result

    try:
        it = iter(items)
        while chunk := list(islice(it, CHUNK_PAGES)):
            pending.append(pool.submit(fn, chunk, *args))
            if len(pending) >= processes * IN_FLIGHT_PER_WORKER:
                yield take()
        while pending:
            yield take()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def process_context(*preload: str) -> ForkServerContext:
    """The fork server's context, which every OpenBook process starts its children from.

    The fork server imports `preload` (besides the main module and the renderer) when it
    starts, so that children find them imported; once it runs, `preload` changes nothing.
    """
    ctx = multiprocessing.get_context("forkserver")
    # Children import the main module (multiprocessing's rule for non-fork starts);
    # preloading it in the fork server does that once instead of once per process.
    ctx.set_forkserver_preload(["__main__", "openbook.render.fork_server", *preload])
    return ctx


_fork_here = False
_on_start: Callable[[], None] | None = None


def fork_from_here(on_start: Callable[[], None] | None = None) -> None:
    """Pools of this process fork from it: call only in a process that will have no other thread
    when it starts a pool (the isolated build process); otherwise they come from the fork server.
    Each pool process forked from here calls `on_start` first."""
    global _fork_here, _on_start
    _fork_here = True
    _on_start = on_start


def _may_fork() -> bool:
    # Checked at each pool: a thread started meanwhile (a finished pool's threads are joined)
    # would make a fork unsafe, and the fork server is then the safe way.
    return _fork_here and threading.active_count() == 1


# --- in pool processes ---------------------------------------------------------------------

_renderer: PageRenderer | None = None


def _detach(builder: int) -> None:
    if _on_start is not None:
        _on_start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the fork server ignores it, its children not
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # already ignored, unless another fork server runs
    threading.Thread(target=_exit_with, args=(builder,), name="openbook-exit-with-builder", daemon=True).start()


def _exit_with(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll
        while _alive(pid):
            time.sleep(_POLL_S)
    else:
        select.select([fd], [], [])  # readable once the process has ended
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _init_parse(builder: int) -> None:
    _detach(builder)


def _parse_chunk(chunk: list[tuple[str, bytes]], mode: HtmlMode) -> list[ParsedPage]:
    out = [parse_page(source, data, mode) for source, data in chunk]
    progress.idle()
    return out


def _init_render(builder: int, state: RenderState) -> None:
    global _renderer
    _detach(builder)
    _renderer = PageRenderer(state)


def _render_chunk(jobs: list[RenderJob], collect: bool = False) -> list[bytes | RenderError] | RenderError:
    if _renderer is None:
        raise InternalError("a pool process got render jobs before its initializer ran")
    out: list[bytes | RenderError] = []
    for job in jobs:
        try:
            out.append(_renderer.render(job))
        except RenderError as exc:
            if not collect:
                return exc  # the chunk's first: the rest would not be used
            out.append(exc)
    progress.idle()
    return out
