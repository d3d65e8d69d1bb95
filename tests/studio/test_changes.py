"""Change requests: the diff against the target, the merge button, conflicts resolved in the page."""

from __future__ import annotations

import uuid

import pytest
from markupsafe import escape

from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.store.trees import Change

from .conftest import SignIn
from .test_content_pages import PNG


@pytest.fixture
async def repo(database: Database, workspace_id: uuid.UUID) -> ContentRepository:
    content = ContentRepository(database, workspace_id)
    await content.commit("main", [Change.put("a.md", b"# A\n\nThe quick brown fox.\n"), Change.put("old.md", b"x\n"),
                                  Change.put("c.md", b"one\ntwo\nthree\n")], "start", "ada", None)
    await content.create_branch("draft", "main", "ada")
    await content.commit("draft", [Change.put("a.md", b"# A\n\nThe quick red fox.\n"), Change.delete("old.md"),
                                   Change.put("img/new.png", PNG)], "Draft work", "ada", None)
    return content


async def test_the_change_request_shows_what_the_branch_changed_and_merges(sign_in: SignIn, repo: ContentRepository,
                                                                         workspace_id: uuid.UUID) -> None:
    await repo.commit("main", [Change.put("main-only.md", b"m\n")], "main moves on", "bob", None)
    browser = await sign_in(workspace_id)
    _, listing = await browser.get("/studio/changes")
    assert "draft" in listing and "open" in listing
    resp, page = await browser.get("/studio/change?branch=draft")
    assert resp.status == 200
    assert "3 files changed" in page and "main-only.md" not in page  # only the branch's own changes
    assert "The quick <del>brown</del> fox." in page and "The quick <ins>red</ins> fox." in page
    assert "/studio/raw?ref=" in page and "img%2Fnew.png" in page and "Merge into main" in page
    resp, _ = await browser.post("/studio/merge", {"branch": "draft", "target": "main", "message": ""})
    assert resp.status == 303 and "merged=" in resp.headers["Location"]
    assert await repo.read_file("main", "a.md") == b"# A\n\nThe quick red fox.\n"
    (merge,) = await repo.log("main", 1)
    assert len(merge.parents) == 2 and merge.message == "Merge draft into main"
    _, page = await browser.get(resp.headers["Location"])
    assert "Merged into main" in page


async def test_a_conflict_is_resolved_in_the_page_in_one_merge_commit(sign_in: SignIn, repo: ContentRepository,
                                                                      workspace_id: uuid.UUID) -> None:
    await repo.commit("draft", [Change.put("c.md", b"one\nTWO (draft)\nthree\n")], "draft edits c", "ada", None)
    await repo.commit("main", [Change.put("c.md", b"one\nTWO (main)\nthree\n")], "main edits c", "bob", None)
    before = (await repo.branch("main")).head
    browser = await sign_in(workspace_id)
    resp, _ = await browser.post("/studio/merge", {"branch": "draft", "target": "main"})
    assert resp.status == 303 and resp.headers["Location"] == "/studio/conflicts?branch=draft&target=main"
    _, page = await browser.get(resp.headers["Location"])
    assert "c.md" in page and "Both sides changed the same lines." in page
    markers = "<<<<<<< main\nTWO (main)\n=======\nTWO (draft)\n>>>>>>> draft"
    assert str(escape(markers)) in page  # prefilled, escaped
    form = {"branch": "draft", "target": "main", "path-0": "c.md", "choice-0": "edit"}
    resp, page = await browser.post("/studio/resolve", {**form, "text-0": "one\n<<<<<<< main\nTWO\n"})
    assert resp.status == 400 and "still has conflict markers" in page
    assert (await repo.branch("main")).head == before
    resp, page = await browser.post("/studio/resolve", {**form, "choice-0": "", "text-0": ""})
    assert resp.status == 400 and "choose how to resolve c.md" in page
    resp, _ = await browser.post("/studio/resolve", {**form, "text-0": "one\nTWO (both)\nthree\n",
                                                     "message": "Merge draft, both TWOs"})
    assert resp.status == 303
    assert await repo.read_file("main", "c.md") == b"one\nTWO (both)\nthree\n"
    assert await repo.read_file("main", "a.md") == b"# A\n\nThe quick red fox.\n"
    (merge,) = await repo.log("main", 1)
    assert merge.parents[0] == before and len(merge.parents) == 2 and merge.message == "Merge draft, both TWOs"


async def test_readers_review_but_cannot_merge(sign_in: SignIn, repo: ContentRepository,
                                               workspace_id: uuid.UUID) -> None:
    reader = await sign_in(workspace_id, "reader")
    _, page = await reader.get("/studio/change?branch=draft")
    assert "Merge into main" not in page and "Only writers can merge" in page
    resp, _ = await reader.post("/studio/merge", {"branch": "draft", "target": "main"})
    assert resp.status == 403
    assert await repo.read_file("main", "old.md") == b"x\n"
