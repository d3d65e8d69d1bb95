"""A workspace as a git remote (SPEC §12), driven by the real `git` CLI against the real app.

The app listens on a real port (the aiohttp test server); git runs as a
subprocess awaited on the test's loop, so the server keeps serving while
it runs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from openbook.db.workspaces import create_workspace

Headers = dict[str, str]


class Git:
    """git with a private HOME, never prompting, as one user."""

    def __init__(self, home: Path) -> None:
        home.mkdir(exist_ok=True)
        self.env = {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
                    "GIT_AUTHOR_NAME": "Tess Ter", "GIT_AUTHOR_EMAIL": "tess@example.org",
                    "GIT_COMMITTER_NAME": "Tess Ter", "GIT_COMMITTER_EMAIL": "tess@example.org"}

    async def run(self, cwd: Path, *args: str, ok: bool = True) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec("git", *args, cwd=cwd, env=self.env,
                                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        assert proc.returncode is not None
        if ok:
            assert proc.returncode == 0, f"git {' '.join(args)}: {text}"
        return proc.returncode, text


class Remote:
    """One workspace seen through the API (JSON) and through git (its URL with a token)."""

    def __init__(self, api: Any, workspace_id: uuid.UUID, slug: str, headers: Headers, token: str) -> None:
        self.api = api
        self.workspace_id = workspace_id
        self.slug = slug
        self.h = headers
        self.token = token

    def url(self, token: str | None = None, slug: str | None = None) -> str:
        base = str(self.api.make_url("/")).rstrip("/").replace("http://", "")
        return f"http://git:{token or self.token}@{base}/git/{slug or self.slug}.git"

    async def call(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        resp = await self.api.request(method, path, headers=self.h, **kw)
        assert resp.status == expect, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json()

    async def head(self, branch: str = "main") -> str:
        return str((await self.call("GET", f"/api/branches/{branch}", 200))["head"])

    async def file(self, ref: str, path: str) -> bytes:
        resp = await self.api.get(f"/api/refs/{ref}/files/{path}", headers=self.h)
        assert resp.status == 200, await resp.text()
        return bytes(await resp.read())

    async def commit(self, files: dict[str, str], branch: str = "main") -> dict[str, Any]:
        changes = [{"op": "put", "path": p, "content": c} for p, c in files.items()]
        return await self.call("POST", f"/api/branches/{branch}/commits", 201,
                               json={"message": "from the API", "changes": changes})  # type: ignore[no-any-return]


def token_of(headers: Headers) -> str:
    return headers["Authorization"].split()[1]


@pytest.fixture
async def remote(api: Any, database: Any, token_for: Any) -> Remote:
    slug = f"g-{uuid.uuid4().hex[:10]}"
    ws = await create_workspace(database, slug, "git remote")
    headers = token_for(ws.id, "admin", sub="tess")
    return Remote(api, ws.id, slug, headers, token_of(headers))


async def test_clone_push_pull_and_refusals_with_the_git_cli(remote: Remote, tmp_path: Path,
                                                            token_for: Any, database: Any) -> None:
    git = Git(tmp_path / "home")
    site = await remote.call("POST", "/api/sites", 201, json={"name": "Book", "slug": "book", "theme": "book"})
    await remote.commit({"index.md": "# Home\n", "guide/intro.md": "intro\n"})

    # Clone: the API's files, the API's commits.
    await git.run(tmp_path, "clone", "-q", remote.url(), "work")
    work = tmp_path / "work"
    assert (work / "guide/intro.md").read_text() == "intro\n"
    _, log = await git.run(work, "log", "--format=%an|%s")
    assert log.splitlines() == ["tess|from the API", "openbook|root"]

    # Push: a commit made with git becomes an OpenBook commit, deploys, and is audited.
    (work / "guide/intro.md").write_text("intro, by git\n")
    (work / "guide/new.md").write_text("new\n")
    await git.run(work, "add", "-A")
    await git.run(work, "commit", "-q", "-m", "edit with git")
    await git.run(work, "push", "-q", "origin", "main")
    head = await remote.head()
    assert await remote.file("main", "guide/new.md") == b"new\n"
    pushed = await remote.call("GET", f"/api/commits/{head}", 200)
    assert pushed["author"] == "Tess Ter <tess@example.org>" and pushed["message"] == "edit with git"
    deployments = (await remote.call("GET", f"/api/commits/{head}/deployments", 200))["deployments"]
    assert [(d["site_id"], d["trigger"]) for d in deployments] == [(site["id"], "push")]
    audit = (await remote.call("GET", "/api/audit?limit=5", 200))["entries"]
    assert any(e["action"] == "branch.pushed" and e["details"]["via"] == "git" and e["details"]["after"] == head
               for e in audit)

    # Pull: an API merge (and the commits under it) come back as git commits.
    await remote.call("POST", "/api/branches", 201, json={"name": "feature", "from": "main"})
    await remote.commit({"feature.md": "feature\n"}, branch="feature")
    await remote.commit({"index.md": "# Home, edited\n"})
    merged = await remote.call("POST", "/api/merge", 201, json={"source": "feature", "target": "main"})
    await git.run(work, "pull", "-q", "--ff-only", "origin", "main")
    assert (work / "feature.md").read_text() == "feature\n" and (work / "index.md").read_text() == "# Home, edited\n"
    _, parents = await git.run(work, "log", "-1", "--format=%P")
    assert len(parents.split()) == 2
    # The same commit keeps its git id in every clone.
    await git.run(tmp_path, "clone", "-q", remote.url(), "again")
    _, first = await git.run(work, "rev-parse", "HEAD")
    _, second = await git.run(tmp_path / "again", "rev-parse", "HEAD")
    assert first == second and merged["commit"]["id"] == await remote.head()

    # Refusals: each names its reason, and the branch stays where it was.
    before = await remote.head()
    await git.run(work, "reset", "-q", "--hard", "HEAD~1")
    (work / "other.md").write_text("diverged\n")
    await git.run(work, "add", "-A")
    await git.run(work, "commit", "-q", "-m", "diverged")
    code, out = await git.run(work, "push", "--force", "origin", "main", ok=False)
    assert code != 0 and "non-fast-forward" in out and "--force or not" in out
    await git.run(work, "reset", "-q", "--hard", "origin/main")
    for name, make in [("a\\b.md", lambda p: p.write_text("x\n")), ("link.md", lambda p: p.symlink_to("index.md"))]:
        make(work / name)
        await git.run(work, "add", "-A")
        await git.run(work, "commit", "-q", "-m", f"add {name}")
        code, out = await git.run(work, "push", "origin", "main", ok=False)
        assert code != 0 and "[remote rejected]" in out, out
        assert ("backslash not allowed" if "\\" in name else "symlinks are not stored") in out
        await git.run(work, "reset", "-q", "--hard", "origin/main")
    code, out = await git.run(work, "push", "origin", "HEAD:refs/tags/v1", ok=False)
    assert code != 0 and "only branches" in out
    code, out = await git.run(work, "push", "origin", ":main", ok=False)
    assert code != 0 and "published by site(s) book" in out
    assert await remote.head() == before

    # New branches and deletions are a writer's.
    await git.run(work, "push", "-q", "origin", "HEAD:refs/heads/topic")
    assert await remote.head("topic") == before
    await git.run(work, "push", "-q", "origin", ":topic")
    await remote.call("GET", "/api/branches/topic", 404)

    # Roles, credentials and tenancy.
    reader = token_of(token_for(remote.workspace_id, "reader"))
    await git.run(tmp_path, "clone", "-q", remote.url(reader), "as-reader")
    (tmp_path / "as-reader/r.md").write_text("r\n")
    await git.run(tmp_path / "as-reader", "add", "-A")
    await git.run(tmp_path / "as-reader", "commit", "-q", "-m", "reader")
    code, out = await git.run(tmp_path / "as-reader", "push", "origin", "main", ok=False)
    assert code != 0 and "403" in out
    anonymous = remote.url().replace(f"git:{remote.token}@", "")
    code, out = await git.run(tmp_path, "clone", "-q", anonymous, "anonymous", ok=False)
    assert code != 0 and "could not read Username" in out
    other = await create_workspace(database, f"g-{uuid.uuid4().hex[:10]}", "other")
    code, out = await git.run(tmp_path, "clone", "-q", remote.url(slug=other.slug), "other", ok=False)
    assert code != 0 and "not found" in out  # what git says for a 404


async def test_401_asks_for_basic_credentials_and_bearer_works(remote: Remote) -> None:
    path = f"/git/{remote.slug}.git/info/refs?service=git-upload-pack"
    resp = await remote.api.get(path)
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    basic = base64.b64encode(f"anyone:{remote.token}".encode()).decode()
    for auth in (f"Basic {basic}", f"Bearer {remote.token}"):
        resp = await remote.api.get(path, headers={"Authorization": auth})
        assert resp.status == 200 and resp.content_type == "application/x-git-upload-pack-advertisement"
        assert (await resp.read()).startswith(b"001e# service=git-upload-pack\n0000")
