"""Editing in the studio: commit with expected_head, a moved head said plainly, preview, upload, rename, delete."""

from __future__ import annotations

import re
import uuid

import aiohttp
import pytest

from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.store.trees import Change

from .conftest import SignIn
from .test_content_pages import PNG


@pytest.fixture
async def repo(database: Database, workspace_id: uuid.UUID) -> ContentRepository:
    content = ContentRepository(database, workspace_id)
    await content.commit("main", [Change.put("index.md", b"# Home\n\nFirst line.\nSecond line.\n")], "start",
                         "ada", None)
    await content.create_branch("draft", "main", "ada")
    return content


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


async def test_edit_commits_with_the_head_it_was_opened_on(sign_in: SignIn, repo: ContentRepository,
                                                           workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id)
    _, page = await browser.get("/studio/edit?branch=draft&path=index.md")
    head = hidden(page, "expected_head")
    assert head == (await repo.branch("draft")).head and "First line." in page
    resp, _ = await browser.post("/studio/edit", {
        "branch": "draft", "original": "index.md", "path": "index.md", "expected_head": head,
        "content": "# Home\n\n<script>alert(1)</script>\nSecond line.\n", "message": "Say <b>hi</b>"})
    assert resp.status == 303 and resp.headers["Location"].startswith("/studio/file?ref=draft&path=index.md")
    assert await repo.read_file("draft", "index.md") == b"# Home\n\n<script>alert(1)</script>\nSecond line.\n"
    (latest,) = await repo.log("draft", 1)
    assert latest.message == "Say <b>hi</b>" and latest.author == "ada" and latest.parents == (head,)
    _, page = await browser.get("/studio/edit?branch=draft&path=index.md")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


async def test_a_moved_head_is_said_plainly_and_the_edit_can_be_reapplied(sign_in: SignIn, repo: ContentRepository,
                                                                          workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id)
    _, page = await browser.get("/studio/edit?branch=draft&path=index.md")
    opened = hidden(page, "expected_head")
    theirs = await repo.commit("draft", [Change.put("index.md", b"# Home\n\nFirst line, by bob.\nSecond line.\n")],
                               "Bob's edit", "bob", None)
    mine = "# Home\n\nFirst line.\nSecond line, by ada.\n"
    resp, page = await browser.post("/studio/edit", {"branch": "draft", "original": "index.md", "path": "index.md",
                                                     "expected_head": opened, "content": mine, "message": "Ada's"})
    assert resp.status == 409
    assert "draft changed while you were editing" in page and "Bob&#39;s edit" in page and "bob" in page
    assert "First line<del>, by bob</del>." in page  # their change of the file, against my text
    assert await repo.read_file("draft", "index.md") == b"# Home\n\nFirst line, by bob.\nSecond line.\n"
    assert hidden(page, "expected_head") == theirs.id and "Save on the new head" in page
    assert "Second line, by ada." in page  # the text is kept
    resp, _ = await browser.post("/studio/edit", {"branch": "draft", "original": "index.md", "path": "index.md",
                                                  "expected_head": theirs.id, "content": mine, "message": "Ada's"})
    assert resp.status == 303
    assert await repo.read_file("draft", "index.md") == mine.encode()
    assert (await repo.log("draft", 1))[0].parents == (theirs.id,)


async def test_preview_renders_the_draft_with_the_site_theme(sign_in: SignIn, repo: ContentRepository,
                                                             workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id)
    resp, body = await browser.post_json("/studio/preview", {"branch": "draft", "path": "guide/new.md",
                                                             "content": "# Draft\n\nSome *words*.\n"})
    assert resp.status == 200, body
    head = (await repo.branch("draft")).head
    assert f'<base href="/studio/render/-/{head}/guide/new/">' in body["html"]
    assert f"/studio/render/-/{head}/static/" in body["html"] and "../static/" not in body["html"]
    assert "Some <em>words</em>." in body["html"] and "stylesheet" in body["html"]
    resp, body = await browser.post_json("/studio/preview", {"branch": "draft", "path": "x.png", "content": "x"})
    assert resp.status == 400 and "only .md" in body["error"]["message"]


async def test_upload_rename_and_delete_each_make_one_commit(sign_in: SignIn, repo: ContentRepository,
                                                             workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id)
    _, page = await browser.get("/studio/upload?branch=draft&folder=img")
    data = aiohttp.FormData()
    for name, value in {"csrf": browser.csrf, "branch": "draft", "folder": "img",
                        "expected_head": hidden(page, "expected_head"), "message": ""}.items():
        data.add_field(name, value)
    data.add_field("file", PNG, filename="logo.png", content_type="image/png")
    resp, _ = await browser.post("/studio/upload", data)
    assert resp.status == 303 and await repo.read_file("draft", "img/logo.png") == PNG
    bad = aiohttp.FormData()
    for name, value in {"csrf": browser.csrf, "branch": "draft", "folder": ""}.items():
        bad.add_field(name, value)
    bad.add_field("file", b"<script>", filename="x.html", content_type="text/html")
    resp, text = await browser.post("/studio/upload", bad)
    assert resp.status == 400 and "not an image" in text
    head = (await repo.branch("draft")).head
    resp, _ = await browser.post("/studio/move", {"branch": "draft", "path": "img/logo.png", "action": "rename",
                                                  "new_path": "img/brand.png", "expected_head": head})
    assert resp.status == 303
    assert await repo.read_file("draft", "img/brand.png") == PNG
    assert [e.path for e in await repo.diff(head, "draft")] == ["img/brand.png", "img/logo.png"]
    resp, _ = await browser.post("/studio/move", {"branch": "draft", "path": "img/brand.png", "action": "delete",
                                                  "expected_head": (await repo.branch("draft")).head})
    assert resp.status == 303
    assert [(e.path, e.status) for e in await repo.diff("main", "draft")] == []


async def test_readers_cannot_edit(sign_in: SignIn, repo: ContentRepository, workspace_id: uuid.UUID) -> None:
    reader = await sign_in(workspace_id, "reader")
    assert (await reader.get("/studio/edit?branch=draft&path=index.md"))[0].status == 403
    resp, _ = await reader.post("/studio/edit", {"branch": "draft", "path": "index.md", "content": "x"})
    assert resp.status == 403
    assert await repo.read_file("draft", "index.md") == b"# Home\n\nFirst line.\nSecond line.\n"
