"""`openbook preview DIR --theme T`: render a folder with a theme, serve it from memory, reload on change.

For theme developers and authors. The folder is read with `fs.scan.scan_folder`'s
rules and rendered by the same pure `build_site` the worker uses; the output
stays in memory and is served with pretty URLs and the site's `404.html`.

The folder and every theme folder are watched (`openbook.watch`). A change
rebuilds in a thread, swaps in only the output files whose bytes changed, and
tells every open page over server-sent events (`/_preview/events`) which files
changed; a small script injected into HTML responses reloads the page when its
own file, a shared asset (CSS, JS, `toc.js`) or the error state changed.

A build that fails (invalid front matter, a template error, an unknown theme)
keeps the last good output for assets and answers page requests with an error
page naming the file and the cause; it carries the same script, so fixing the
file brings the page back by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import importlib.resources
import json
import logging
import mimetypes
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from openbook.errors import OpenBookError
from openbook.fs.scan import scan_folder
from openbook.fs.themes import available_themes, load_theme, theme_exists
from openbook.preview.watch import watch_roots
from openbook.render import BuildResult, OutputFile, SiteSettings, ThemeChain, build_site
from openbook.siteconf import read_book_file

log = logging.getLogger("openbook.preview")

EVENTS_PATH = "/_preview/events"
HEARTBEAT_S = 15.0
# Past this many changed files a page reloads whatever it shows: the list is for small edits.
MAX_LISTED_CHANGES = 200

_CLIENT_JS = """(function () {
  "use strict";
  var me = %s;
  if (!window.EventSource) return;
  var events = new EventSource(%s);
  function reload() { events.close(); location.reload(); }
  events.addEventListener("hello", function (e) {
    if (JSON.parse(e.data).version !== me.version) reload();
  });
  events.addEventListener("change", function (e) {
    var d = JSON.parse(e.data);
    var mine = function (p) { return p === me.path || !/\\.html$/.test(p); };
    if (me.error || d.error || d.all || !me.path || d.changed.some(mine)) reload();
    else me.version = d.version;
  });
})();
"""

_ERROR_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Build error · openbook preview</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #fff5f5; color: #2d0a0a; }}
main {{ max-width: 60rem; margin: 3rem auto; padding: 0 1.5rem; }}
h1 {{ font-size: 1.4rem; color: #a4161a; }}
.file {{ font: 600 1rem ui-monospace, monospace; }}
pre {{ white-space: pre-wrap; background: #fff; border: 1px solid #f1b0b0; border-radius: 6px;
      padding: 1rem; font: 0.95rem/1.45 ui-monospace, monospace; }}
p.hint {{ color: #6b3a3a; }}
</style>
</head>
<body>
<main>
<h1>The site could not be built</h1>
<p>In <span class="file" data-preview-error-path>{path}</span>:</p>
<pre data-preview-error-cause>{cause}</pre>
<p class="hint">Fix the file and save it: this page reloads by itself.</p>
</main>
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class BuildProblem:
    """Why the last build failed: the file to fix (or what failed) and the cause."""

    path: str
    cause: str


@dataclass(frozen=True, slots=True)
class _Outcome:
    content: dict[str, bytes] | None
    chain: ThemeChain | None
    result: BuildResult | None
    problem: BuildProblem | None
    seconds: float


class Preview:
    """The preview's state: the last good output, the current build problem, the pages listening.

    Mutated only on the event loop; builds run in a worker thread and hand
    back an `_Outcome` that `_apply` swaps in.
    """

    def __init__(
        self,
        folder: Path,
        theme: str,
        settings: SiteSettings,
        extra_theme_dirs: Sequence[Path] = (),
    ) -> None:
        self.folder = folder
        self.theme = theme
        self.settings = settings
        self.extra_theme_dirs = tuple(extra_theme_dirs)
        self.version = 0
        self.files: dict[str, OutputFile] = {}
        self.result: BuildResult | None = None
        self.problem: BuildProblem | None = None
        self._content: dict[str, bytes] | None = None
        self._chain: ThemeChain | None = None
        self._listeners: set[asyncio.Queue[str | None]] = set()
        self._lock = asyncio.Lock()

    def watched_roots(self) -> list[Path]:
        """The content folder, then every folder themes are looked up in (THEMES_PATH, built-ins)."""
        builtin = importlib.resources.files("openbook.themes")
        roots = [self.folder, *self.extra_theme_dirs]
        if isinstance(builtin, Path):  # an installed wheel or a checkout; a zip cannot change
            roots.append(builtin)
        return roots

    async def rebuild(self, *, content: bool = True, theme: bool = True) -> list[str]:
        """Re-read what changed (the folder, the theme), render, swap; return the changed output paths."""
        async with self._lock:
            outcome = await asyncio.to_thread(self._build, content, theme)
            return self._apply(outcome)

    def _build(self, reread_content: bool, reread_theme: bool) -> _Outcome:
        started = time.perf_counter()
        content, chain = self._content, self._chain
        if self.problem is not None:  # the failed build may not have read everything it was asked to
            reread_content = reread_theme = True
        try:
            if reread_content or content is None:
                content = scan_folder(self.folder)
            if reread_theme or chain is None:
                chain = load_theme(self.theme, self.extra_theme_dirs)
            if content == self._content and chain == self._chain and self.problem is None:
                return _Outcome(content, chain, None, None, time.perf_counter() - started)
            # Only files whose render key changed are rendered; the rest keep their bytes.
            previous = {path: f.render_key for path, f in self.files.items()}
            result = build_site(content, chain, self._laid_out(content), previous=previous)
        except OpenBookError as exc:
            path = str(exc.details.get("path") or exc.details.get("theme") or self.folder)
            cause = str(exc.details.get("cause") or exc.message)
            problem = BuildProblem(path, cause)
        except Exception as exc:  # a renderer bug must not stop the preview; the terminal gets the trace
            log.exception("the renderer failed")
            problem = BuildProblem("openbook", f"internal error: {type(exc).__name__}: {exc}")
        else:
            return _Outcome(content, chain, result, None, time.perf_counter() - started)
        return _Outcome(content, chain, None, problem, time.perf_counter() - started)

    def _laid_out(self, content: dict[str, bytes]) -> SiteSettings:
        """The settings with the layout of a book written for another tool (book.toml, mkdocs.yml,
        .gitbook.yaml): where its pages are and its navigation, as a deployment would see them."""
        book = read_book_file(content)
        if book is None:
            return self.settings
        return dataclasses.replace(self.settings, source=book.source, summary=book.summary, home=book.home,
                                   nav=book.nav)

    def _apply(self, outcome: _Outcome) -> list[str]:
        self._content, self._chain = outcome.content, outcome.chain
        had_problem = self.problem is not None
        if outcome.problem is not None:
            if outcome.problem == self.problem:
                return []  # the page already shows this problem
            self.problem = outcome.problem
            log.error("build failed: %s: %s", outcome.problem.path, outcome.problem.cause)
            changed: list[str] = []
        elif outcome.result is None:
            return []  # nothing that the output depends on changed (e.g. a file saved unchanged)
        else:
            self.problem = None
            changed = self._swap(outcome.result)
            log.info("built in %.2f s: %d file(s) changed", outcome.seconds, len(changed))
        if not changed and not had_problem and self.problem is None:
            return []
        self.version += 1
        self._publish(changed)
        return changed

    def _swap(self, result: BuildResult) -> list[str]:
        """Keep the unchanged OutputFile objects; replace, add and drop only the changed ones."""
        new = {f.path: f for f in result.files}
        changed = list(self.files.keys() - new.keys())
        for path, file in new.items():
            old = self.files.get(path)
            if file.data is None:  # not rendered: same render key as the file we hold
                continue
            if old is None or old.data != file.data:
                changed.append(path)
                self.files[path] = file
        for path in self.files.keys() - new.keys():
            del self.files[path]
        self.result = result
        return sorted(changed)

    # -- server-sent events -------------------------------------------------

    def _publish(self, changed: list[str]) -> None:
        body: dict[str, object] = {
            "version": self.version,
            "changed": changed[:MAX_LISTED_CHANGES],
            "all": len(changed) > MAX_LISTED_CHANGES,
            "error": None
            if self.problem is None
            else {"path": self.problem.path, "cause": self.problem.cause},
        }
        message = f"event: change\ndata: {json.dumps(body)}\n\n"
        for queue in self._listeners:
            queue.put_nowait(message)

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        queue.put_nowait(f"event: hello\ndata: {json.dumps({'version': self.version})}\n\n")
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self._listeners.discard(queue)

    def close_listeners(self) -> None:
        for queue in self._listeners:
            queue.put_nowait(None)

    # -- pages ----------------------------------------------------------------

    def client_script(self, path: str | None) -> bytes:
        """The reload script for a page served from output file `path` (None: the 404 or error page)."""
        me = {"version": self.version, "path": path, "error": self.problem is not None}
        js = _CLIENT_JS % (json.dumps(me), json.dumps(EVENTS_PATH))
        return b"<script>" + js.replace("</", "<\\/").encode() + b"</script>"

    def error_page(self) -> bytes:
        assert self.problem is not None
        page = _ERROR_PAGE.format(path=html.escape(self.problem.path), cause=html.escape(self.problem.cause))
        return _inject(page.encode(), self.client_script(None))


def _inject(page: bytes, script: bytes) -> bytes:
    """`script` right before the last `</body>` (or at the end of a page without one)."""
    at = page.lower().rfind(b"</body>")
    return page + script if at < 0 else page[:at] + script + page[at:]


_TEXT_TYPES = frozenset({"application/javascript", "application/json", "image/svg+xml"})


def _content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    if guessed is None:
        return "application/octet-stream"
    if guessed.startswith("text/") or guessed in _TEXT_TYPES:
        return f"{guessed}; charset=utf-8"
    return guessed


PREVIEW: web.AppKey[Preview] = web.AppKey("preview", Preview)


async def _serve(request: web.Request) -> web.StreamResponse:
    preview = request.app[PREVIEW]
    rel = request.path.lstrip("/")
    wanted = rel + "index.html" if rel == "" or rel.endswith("/") else rel
    found = preview.files.get(wanted)
    if found is None and f"{rel}/index.html" in preview.files:
        # relative links inside pages assume the trailing slash, as nginx's redirect gives
        location = request.path + "/" + (f"?{request.query_string}" if request.query_string else "")
        raise web.HTTPMovedPermanently(location)
    headers = {"Cache-Control": "no-store"}
    is_page = found is None or wanted.endswith(".html")
    if preview.problem is not None and is_page:
        return web.Response(status=500, body=preview.error_page(), headers=headers, content_type="text/html")
    if found is not None:
        data = found.data or b""
        if wanted.endswith(".html"):
            data = _inject(data, preview.client_script(found.path))
        return web.Response(body=data, headers={**headers, "Content-Type": _content_type(wanted)})
    missing = preview.files.get("404.html")
    body = b"<!doctype html><title>Not found</title><h1>Not found</h1>" if missing is None else missing.data or b""
    return web.Response(
        status=404, body=_inject(body, preview.client_script(None)), headers=headers, content_type="text/html"
    )


async def _events(request: web.Request) -> web.StreamResponse:
    preview = request.app[PREVIEW]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = preview.subscribe()
    try:
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                message = ": keep-alive\n\n"  # also finds pages that went away
            if message is None:
                break
            await response.write(message.encode())
    except ConnectionResetError:
        pass  # the page went away
    finally:
        preview.unsubscribe(queue)
    return response


def preview_app(
    preview: Preview, *, force_polling: bool | None = None, poll_delay_ms: int = 300
) -> web.Application:
    """The preview server: builds once at start-up, then watches and rebuilds until cleanup."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(preview, stop, force_polling, poll_delay_ms))
        await preview.rebuild()
        yield
        stop.set()
        await watcher

    async def on_shutdown(app: web.Application) -> None:
        preview.close_listeners()  # event streams would otherwise hold the shutdown open

    app = web.Application()
    app[PREVIEW] = preview
    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get(EVENTS_PATH, _events)
    app.router.add_get("/{path:.*}", _serve)
    return app


async def _watch(preview: Preview, stop: asyncio.Event, force_polling: bool | None, delay_ms: int) -> None:
    roots = preview.watched_roots()
    content_root = roots[0]
    try:
        async for touched in watch_roots(roots, stop, force_polling=force_polling, poll_delay_ms=delay_ms):
            await preview.rebuild(content=content_root in touched, theme=bool(touched - {content_root}))
    except Exception:
        log.exception("watching for changes failed; restart the preview to pick up edits")


def run_preview_cli(
    folder: Path, theme: str, *, title: str | None, host: str, port: int, extra_theme_dirs: Sequence[Path]
) -> int:
    """Check the arguments (exit 2 with a message naming the problem), then serve until Ctrl-C."""
    if not folder.is_dir():
        print(f"openbook: preview: {folder} is not a folder", file=sys.stderr)
        return 2
    if not theme_exists(theme, extra_theme_dirs):
        known = ", ".join(available_themes(extra_theme_dirs)) or "none"
        print(f"openbook: preview: unknown theme {theme!r} (available: {known})", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("aiohttp.access", "watchfiles"):  # our own lines say what was rebuilt
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = SiteSettings(title=title or folder.resolve().name)
    preview = Preview(folder, theme, settings, extra_theme_dirs)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print(f"openbook preview: {folder} with theme {theme!r} on {url} (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(preview_app(preview), host=host, port=port, print=None, access_log=None)
    return 0
