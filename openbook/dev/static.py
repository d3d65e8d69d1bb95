"""A small static file server for `openbook dev`: what nginx does in production.

Serves one published site folder (normally the `live` symlink) with pretty
URLs (`/guide/` → `guide/index.html`) and the site's `404.html`. The folder
is re-resolved on every request, so a live switch shows up at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web


def resolve_file(root: Path, url_path: str) -> Path | None:
    """The file that answers `url_path` below `root`, never outside it."""
    base = root.resolve()
    target = (base / url_path.lstrip("/")).resolve()
    if base != target and base not in target.parents:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


def static_app(site_root: Callable[[], Path | None]) -> web.Application:
    async def serve(request: web.Request) -> web.StreamResponse:
        root = site_root()
        if root is None or not root.exists():
            return web.Response(status=503, text="no deployment is live yet\n")
        found = resolve_file(root, request.match_info["path"])
        if found is not None:
            return web.FileResponse(found, headers={"Cache-Control": "no-cache"})
        page = root / "404.html"
        if page.is_file():
            return web.Response(status=404, body=page.read_bytes(), content_type="text/html")
        return web.Response(status=404, text="not found\n")

    app = web.Application()
    app.router.add_get("/{path:.*}", serve)
    return app
