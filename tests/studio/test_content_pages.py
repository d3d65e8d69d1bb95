"""Reading content in the studio: tree, files, rendered pages, history, commits; escaping; tenancy."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

import pytest
from markupsafe import escape

from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.store.trees import Change
from openbook.studio import content as studio_content

from .conftest import SignIn

EVIL = '<img src=x onerror="alert(1)">'
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")


@pytest.fixture
async def book(database: Database, workspace_id: uuid.UUID) -> dict[str, Any]:
    repo = ContentRepository(database, workspace_id)
    first = await repo.commit("main", [
        Change.put("index.md", b"# Welcome\n\nSee ![logo](img/logo.png) and [the guide](guide/intro.md).\n"),
        Change.put("guide/intro.md", b"# Intro\n\n<script>alert('page')</script>\n\nHello **world**.\n"),
        Change.put("img/logo.png", PNG),
        Change.put(f"guide/{EVIL}.md", b"# Odd name\n"),
        Change.put("raw.html", b"<script>alert('raw')</script>"),
    ], f"First draft {EVIL}", "ada", None)
    second = await repo.commit("main", [Change.put("guide/intro.md", b"# Intro\n\nHello again.\n")],
                               "<script>alert('message')</script>", "bob", None)
    return {"first": first.id, "second": second.id}


async def test_tree_file_history_and_commit_show_names_and_messages_escaped(sign_in: SignIn, book: dict[str, Any],
                                                                            workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id, "reader")
    resp, page = await browser.get("/studio/tree?ref=main&path=guide")
    assert resp.status == 200
    assert str(escape(EVIL)) in page and EVIL not in page
    resp, page = await browser.get("/studio/file?ref=main&path=guide/intro.md")
    assert resp.status == 200 and "Hello again." in page
    assert f"/studio/render/-/{book['second']}/guide/intro/index.html" in page and "Edit" not in page
    resp, page = await browser.get("/studio/history?ref=main&path=guide/intro.md")
    assert resp.status == 200 and book["first"][:10] in page and book["second"][:10] in page
    assert "<script>alert('message')</script>" not in page and "&lt;script&gt;alert(" in page
    resp, page = await browser.get(f"/studio/commit/{book['first']}")
    assert resp.status == 200 and "First draft" in page and EVIL not in page
    assert page.count("status-added") == 5


async def test_rendered_pages_are_sandboxed_and_use_the_site_renderer(sign_in: SignIn, book: dict[str, Any],
                                                                      workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id, "reader")
    resp, page = await browser.get(f"/studio/render/-/{book['first']}/guide/intro/index.html")
    assert resp.status == 200 and resp.headers["Content-Security-Policy"].startswith("sandbox allow-same-origin;")
    assert "Hello <strong>world</strong>" in page
    assert "<script>alert('page')</script>" not in page  # the renderer's html mode, as on the site
    resp, page = await browser.get(f"/studio/render/-/{book['first']}/index.html")
    assert resp.status == 200 and 'src="img/logo.png"' in page
    css = next(part.split('"')[0] for part in page.split('href="')[1:] if ".css" in part.split('"')[0])
    asset, _ = await browser.get(f"/studio/render/-/{book['first']}/{css}")
    assert asset.status == 200 and asset.content_type == "text/css"
    image, _ = await browser.get(f"/studio/render/-/{book['first']}/img/logo.png")
    assert image.status == 200 and image.content_type == "image/png"
    raw, _ = await browser.get("/studio/raw?ref=main&path=raw.html")
    assert raw.content_type == "text/plain"
    assert raw.headers["Content-Security-Policy"].startswith("sandbox allow-same-origin;")


async def test_another_workspaces_commits_and_files_are_404(sign_in: SignIn, book: dict[str, Any],
                                                           database: Database) -> None:
    other = await create_workspace(database, f"o-{uuid.uuid4().hex[:8]}", "other")
    stranger = await sign_in(other.id, "admin")
    for path in (f"/studio/commit/{book['first']}", f"/studio/tree?ref={book['first']}",
                 f"/studio/file?ref={book['first']}&path=index.md", f"/studio/raw?ref={book['first']}&path=index.md",
                 f"/studio/render/-/{book['first']}/index.html", f"/studio/history?ref={book['first']}"):
        resp, page = await stranger.get(path)
        assert resp.status == 404, path
        assert "Welcome" not in page


async def test_tree_pages_through_a_large_folder(sign_in: SignIn, database: Database,
                                                 workspace_id: uuid.UUID) -> None:
    repo = ContentRepository(database, workspace_id)
    await repo.commit("main", [Change.put(f"many/p{i:04d}.md", b"x") for i in range(450)]
                      + [Change.put("many/sub/a.md", b"a")], "many", "ada", None)
    browser = await sign_in(workspace_id)
    _, first = await browser.get("/studio/tree?ref=main&path=many")
    assert "sub/" in first and "p0000.md" in first and "p0198.md" in first and "p0199.md" not in first
    assert "page 1 of 3" in first
    _, third = await browser.get("/studio/tree?ref=main&path=many&page=3")
    assert "p0399.md" in third and "p0449.md" in third and "p0398.md" not in third
    assert studio_content.LISTINGS.rows >= 451


async def test_a_very_large_folder_pages_in_stored_order_and_finds_names(
        sign_in: SignIn, database: Database, workspace_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(studio_content, "SORTED_FOLDER_MAX", 300)
    repo = ContentRepository(database, workspace_id)
    await repo.commit("main", [Change.put(f"big/n{i:04d}.md", b"x") for i in range(450)], "big", "ada", None)
    browser = await sign_in(workspace_id)
    seen: set[str] = set()
    for page in (1, 2, 3):
        _, html_page = await browser.get(f"/studio/tree?ref=main&path=big&page={page}")
        assert "listed in the order they are stored" in html_page and "450 entries" in html_page
        names = re.findall(r">(n\d{4}\.md)</a>", html_page)
        assert names == sorted(names) and not seen & set(names)
        seen |= set(names)
    assert len(seen) == 450
    resp, _ = await browser.get("/studio/tree?ref=main&path=big&name=n0123.md")
    assert resp.status == 303 and resp.headers["Location"] == "/studio/file?ref=main&path=big%2Fn0123.md"
    resp, html_page = await browser.get("/studio/tree?ref=main&path=big&name=<nope>")
    assert resp.status == 200 and "There is nothing named <strong>&lt;nope&gt;</strong>" in html_page
