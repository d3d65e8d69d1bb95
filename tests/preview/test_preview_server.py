"""`openbook preview` as a browser sees it: pages from memory, live reload over SSE, errors in the page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from openbook.preview.server import EVENTS_PATH, Preview
from tests.preview.conftest import EventReader, StartPreview, edit

FIXED_INTRO = "---\ntitle: Introduction\norder: 1\n---\n# Introduction\n\nThe second version.\n"


async def wait_for_page(client: Any, events: EventReader, url: str, text: str) -> dict[str, Any]:
    """Read change events until `url` contains `text` (an editor's save may arrive as two writes)."""
    while True:
        name, data = await events.next()
        assert name == "change"
        body = await (await client.get(url)).text()
        if text in body:
            return data


async def test_pages_pretty_urls_404_and_reload_script(book_dir: Path, start_preview: StartPreview) -> None:
    client, _ = await start_preview(book_dir)

    home = await client.get("/")
    assert home.status == 200
    assert home.headers["Content-Type"].startswith("text/html")
    assert home.headers["Cache-Control"] == "no-store"
    body = await home.text()
    assert "Welcome" in body
    assert EVENTS_PATH in body and '"path": "index.html"' in body
    assert body.rstrip().endswith("</html>"), "the script goes inside <body>, before </body>"

    intro = await client.get("/guide/intro/")
    assert intro.status == 200 and "The first version." in await intro.text()

    bare = await client.get("/guide/intro", allow_redirects=False)
    assert bare.status == 301 and bare.headers["Location"] == "/guide/intro/"

    svg = await client.get("/images/dot.svg")
    assert svg.status == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    assert EVENTS_PATH not in await svg.text(), "only HTML gets the reload script"

    missing = await client.get("/no/such/page/")
    assert missing.status == 404
    text = await missing.text()
    assert "not found" in text.lower() and EVENTS_PATH in text


async def test_edit_sends_event_and_page_changes(
    book_dir: Path, start_preview: StartPreview, open_events: Any
) -> None:
    client, preview = await start_preview(book_dir)
    events: EventReader = await open_events(client)
    assert await events.next() == ("hello", {"version": preview.version})

    edit(book_dir / "guide" / "intro.md", FIXED_INTRO)
    change = await wait_for_page(client, events, "/guide/intro/", "The second version.")

    assert "guide/intro/index.html" in change["changed"]
    assert "index.html" not in change["changed"], "pages whose bytes did not change are kept"
    assert change["error"] is None and change["version"] == preview.version

    edit(book_dir / "guide" / "new.md", "# Brand new\n\nA page added while previewing.\n")
    await wait_for_page(client, events, "/guide/new/", "A page added while previewing.")

    (book_dir / "guide" / "new.md").unlink()
    await wait_for_page(client, events, "/guide/new/", "Page not found")
    assert (await client.get("/guide/new/")).status == 404


async def test_broken_front_matter_shows_error_then_recovers(
    book_dir: Path, start_preview: StartPreview, open_events: Any
) -> None:
    client, preview = await start_preview(book_dir)
    events: EventReader = await open_events(client)
    await events.next()  # hello

    edit(book_dir / "guide" / "usage.md", "---\ntitle: [unclosed\n---\n# Usage\n")
    while True:
        name, data = await events.next()
        if data["error"] is not None:
            break
    assert name == "change"
    assert data["error"]["path"] == "guide/usage.md"

    page = await client.get("/guide/intro/")  # any page shows the problem, not only the broken one
    assert page.status == 500
    body = await page.text()
    assert "guide/usage.md" in body and "front matter" in body
    assert EVENTS_PATH in body, "the error page reloads itself once the file is fixed"
    css = next(p for p in preview.files if p.endswith(".css"))
    assert (await client.get("/" + css)).status == 200, "the last good build's assets stay served"

    edit(book_dir / "guide" / "usage.md", "---\ntitle: Usage\n---\n# Usage\n\nFixed.\n")
    while True:
        name, data = await events.next()
        if data["error"] is None:
            break
    assert (await client.get("/guide/usage/")).status == 200
    assert "Fixed." in await (await client.get("/guide/usage/")).text()
    assert "The first version." in await (await client.get("/guide/intro/")).text()


async def test_theme_edit_rebuilds(
    book_dir: Path, themes_dir: Path, start_preview: StartPreview, open_events: Any
) -> None:
    client, preview = await start_preview(book_dir, theme="tinted", extra_dirs=(themes_dir,))
    before = {p for p in preview.files if p.endswith(".css")}
    assert any("tint" in p for p in before)
    events: EventReader = await open_events(client)
    await events.next()  # hello

    edit(themes_dir / "tinted" / "static" / "tint.css", "body { color: #456; }\n")
    _, change = await events.next()
    new_css = [p for p in change["changed"] if "tint" in p and p not in before]
    assert new_css, change
    css = await client.get("/" + new_css[0])
    assert css.status == 200 and "#456" in await css.text()
    assert new_css[0].rsplit("/", 1)[-1] in await (await client.get("/")).text()


async def test_unchanged_save_changes_nothing(book_dir: Path, start_preview: StartPreview) -> None:
    _, preview = await start_preview(book_dir)
    version, files = preview.version, dict(preview.files)
    assert await preview.rebuild() == []
    assert preview.version == version
    assert all(preview.files[p] is f for p, f in files.items()), "nothing swapped"


async def test_shutdown_with_open_event_stream_is_prompt(book_dir: Path, aiohttp_client: Any) -> None:
    from openbook.preview.server import preview_app
    from openbook.render import SiteSettings

    preview = Preview(book_dir, "book", SiteSettings(title="t"))
    client = await aiohttp_client(preview_app(preview, force_polling=True, poll_delay_ms=50))
    response = await client.get(EVENTS_PATH)
    await EventReader(response).next()
    started = asyncio.get_running_loop().time()
    await client.close()
    assert asyncio.get_running_loop().time() - started < 5


async def test_same_problem_again_sends_no_event(book_dir: Path, start_preview: StartPreview) -> None:
    _, preview = await start_preview(book_dir)
    edit(book_dir / "index.md", "---\ntitle: [\n---\n# Home\n")
    await preview.rebuild()
    assert preview.problem is not None and preview.problem.path == "index.md"
    version = preview.version
    assert await preview.rebuild() == []
    assert preview.version == version, "an unchanged problem does not reload the error page"


async def test_a_book_for_another_tool_previews_as_it_deploys(start_preview: StartPreview) -> None:
    mdbook = Path(__file__).resolve().parents[1] / "fixtures" / "books" / "mdbook"
    client, _ = await start_preview(mdbook)
    home = await (await client.get("/")).text()  # src/introduction.md, the first chapter of src/SUMMARY.md
    assert "Welcome, crab fans" in home
    listings = await client.get("/listings/")
    assert listings.status == 200 and "{{#" not in await listings.text()
    assert (await client.get("/src/listings/")).status == 404
