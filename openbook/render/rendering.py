"""Stage 3, render: bytes for the planned outputs whose render key changed, and only those.

An output the plan reuses (its key equals the previous deployment's) comes
back without bytes: the caller reuses that deployment's file. Content pages
render in the process pool when there are many (`parallel`); site-wide
outputs (theme outputs, the contents and 404 pages, toc.js) render here,
since their contexts list the whole site and would cost more to send.
Pages render first, in order, so the first error is the one a serial build meets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from openbook.errors import RenderError
from openbook.render import parallel
from openbook.render.context import PageRenderer, RenderJob
from openbook.render.plan import Plan
from openbook.render.problems import Failures
from openbook.render.result import OutputFile


def render(plan: Plan, workers: int) -> list[OutputFile]:
    """Every planned output, in plan order; `data` is None for those not rendered.
    Raises RenderError, through the plan's failures, for a template that fails (file and
    line); a build that collects its errors leaves out the outputs that failed."""
    data: dict[str, bytes] = {}
    pages: list[tuple[str, Callable[[], RenderJob]]] = []
    site_wide: list[tuple[str, Callable[[], RenderJob]]] = []
    for planned in plan.outputs.values():
        if planned.produce is None:
            continue
        if isinstance(planned.produce, bytes):
            data[planned.path] = planned.produce
        else:
            (pages if planned.pooled else site_wide).append((planned.path, planned.produce))
    renderer, failures = plan.renderer, plan.failures
    jobs = (job() for _, job in pages)
    rendered: Iterable[bytes | RenderError]
    if parallel.use_pool(len(pages), workers):
        rendered = parallel.render_many(renderer.state, jobs, len(pages), workers, collect=failures.collect)
    else:  # lazily: a deployment stops at the first page that fails
        rendered = (_attempt(renderer, job) for job in jobs)
    for (path, _), out in zip(pages, rendered, strict=True):
        _keep(data, path, out, failures)
    for path, job in site_wide:
        _keep(data, path, _attempt(renderer, job()), failures)
    return [OutputFile(p.path, data.get(p.path), p.key) for p in plan.outputs.values()
            if p.produce is None or p.path in data]


def _attempt(renderer: PageRenderer, job: RenderJob) -> bytes | RenderError:
    try:
        return renderer.render(job)
    except RenderError as exc:
        return exc


def _keep(data: dict[str, bytes], path: str, out: bytes | RenderError, failures: Failures) -> None:
    if isinstance(out, RenderError):
        failures.fail(out)
    else:
        data[path] = out
