"""Stage 3, render: bytes for the planned outputs whose render key changed, and only those.

An output the plan reuses (its key equals the previous deployment's) comes
back without bytes: the caller reuses that deployment's file. Content pages
render in the process pool when there are many (`parallel`); site-wide
outputs (theme outputs, the contents and 404 pages, toc.js) render here,
since their contexts list the whole site and would cost more to send.
Pages render first, in order, so the first error is the one a serial build meets.
"""

from __future__ import annotations

from collections.abc import Callable

from openbook.render import parallel
from openbook.render.context import RenderJob
from openbook.render.plan import Plan
from openbook.render.result import OutputFile


def render(plan: Plan, workers: int) -> list[OutputFile]:
    """Every planned output, in plan order; `data` is None for those not rendered.
    Raises RenderError for a template that fails (file and line)."""
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
    renderer = plan.renderer
    jobs = (job() for _, job in pages)
    if parallel.use_pool(len(pages), workers):
        rendered = parallel.render_many(renderer.state, jobs, len(pages), workers)
    else:
        rendered = [renderer.render(job) for job in jobs]
    data.update(zip((path for path, _ in pages), rendered, strict=True))
    for path, job in site_wide:
        data[path] = renderer.render(job())
    return [OutputFile(p.path, data.get(p.path), p.key) for p in plan.outputs.values()]
