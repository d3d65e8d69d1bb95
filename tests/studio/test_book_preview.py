"""A page previews as the worker publishes it: another tool's configuration file and `{{#include}}`."""

from __future__ import annotations

import uuid

from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.store.trees import Change

from .conftest import SignIn

# An mdBook: its pages in src/ (so published without the src/ prefix), its title in book.toml,
# its navigation in SUMMARY.md, and an include that includes another file in turn.
BOOK = {
    "book.toml": b'[book]\ntitle = "The Included Book"\nsrc = "src"\n',
    "src/SUMMARY.md": b"# Summary\n\n- [Intro](intro.md)\n- [Second chapter](second.md)\n",
    "src/intro.md": b"# Intro\n\n{{#include snippets/greeting.md}}\n",
    "src/snippets/greeting.md": b"Hello from {{#include name.txt}}!\n",
    "src/snippets/name.txt": b"the *included* file",
    "src/second.md": b"# Second\n",
}


async def test_a_book_previews_with_its_configuration_and_includes(sign_in: SignIn, database: Database,
                                                                   workspace_id: uuid.UUID) -> None:
    repo = ContentRepository(database, workspace_id)
    commit = await repo.commit("main", [Change.put(p, c) for p, c in BOOK.items()], "an mdBook", "ada", None)
    browser = await sign_in(workspace_id)

    resp, page = await browser.get("/studio/file?ref=main&path=src/intro.md")
    assert resp.status == 200
    frame = f"/studio/render/-/{commit.id}/intro/index.html"
    assert frame in page
    resp, page = await browser.get(frame)
    assert resp.status == 200
    assert "Hello from the <em>included</em> file!" in page and "{{#include" not in page
    assert "<title>Intro · The Included Book</title>" in page  # book.toml's title
    resp, toc = await browser.get(f"/studio/render/-/{commit.id}/_openbook/toc.js")
    assert resp.status == 200 and "Second chapter" in toc  # the navigation is SUMMARY.md's

    resp, body = await browser.post_json("/studio/preview", {
        "branch": "main", "path": "src/draft.md", "content": "# Draft\n\n{{#include snippets/greeting.md}}\n"})
    assert resp.status == 200, body
    assert f'<base href="/studio/render/-/{commit.id}/draft/">' in body["html"]
    assert "Hello from the <em>included</em> file!" in body["html"] and "{{#include" not in body["html"]
