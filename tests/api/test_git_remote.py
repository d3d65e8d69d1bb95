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
    # The same commit keeps its git id in every clone, shallow ones too.
    await git.run(tmp_path, "clone", "-q", "--depth", "1", remote.url(), "again")
    _, first = await git.run(work, "rev-parse", "HEAD")
    _, second = await git.run(tmp_path / "again", "rev-parse", "HEAD")
    assert first == second and merged["commit"]["id"] == await remote.head()
    _, shallow_log = await git.run(tmp_path / "again", "log", "--format=%s")
    assert len(shallow_log.splitlines()) == 1 and (tmp_path / "again/feature.md").exists()
    await git.run(tmp_path / "again", "fetch", "-q", "--unshallow")
    _, full_log = await git.run(tmp_path / "again", "log", "--format=%s")
    assert full_log.splitlines()[-1] == "root" and len(full_log.splitlines()) == 6
    await git.run(tmp_path / "again", "fsck", "--strict")

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


def pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


def pkt_lines(data: bytes) -> list[bytes]:
    lines, pos = [], 0
    while pos < len(data):
        size = int(data[pos:pos + 4], 16)
        lines.append(data[pos + 4:pos + size] if size else b"")
        pos += size or 4
    return lines


async def test_bad_packs_and_ref_names_change_nothing(remote: Remote, tmp_path: Path) -> None:
    git = Git(tmp_path / "home")
    await remote.commit({"index.md": "# Home\n"})
    await git.run(tmp_path, "clone", "-q", remote.url(), "work")
    work = tmp_path / "work"
    (work / "page.md").write_text("page\n")
    await git.run(work, "add", "-A")
    await git.run(work, "commit", "-q", "-m", "page")
    _, old = await git.run(work, "rev-parse", "origin/main")
    _, new = await git.run(work, "rev-parse", "HEAD")
    old, new = old.strip(), new.strip()
    pack = subprocess.run(["git", "pack-objects", "--stdout", "--revs"], cwd=work, input=f"{new}\n^{old}\n".encode(),
                          capture_output=True, check=True).stdout
    commit_only = subprocess.run(["git", "pack-objects", "--stdout"], cwd=work, input=f"{new}\n".encode(),
                                 capture_output=True, check=True).stdout
    head = await remote.head()
    auth = {"Authorization": f"Bearer {remote.token}", "Content-Type": "application/x-git-receive-pack-request"}

    async def push(ref: bytes, data: bytes) -> list[bytes]:
        body = pkt(b"%s %s %s\0report-status" % (old.encode(), new.encode(), ref)) + b"0000" + data
        resp = await remote.api.post(f"/git/{remote.slug}.git/git-receive-pack", data=body, headers=auth)
        assert resp.status == 200, await resp.text()
        return pkt_lines(await resp.read())

    for data, why in [(b"PACK\0\0\0\2\0\0\0\1" + os.urandom(200), b"unpack pack"),
                      (os.urandom(300), b"unpack not a git pack"),
                      (pack[:len(pack) * 2 // 3], b"unpack pack checksum mismatch")]:
        status = await push(b"refs/heads/main", data)
        assert status[0].startswith(why) and status[1].startswith(b"ng refs/heads/main pack refused"), status
    status = await push(b"refs/heads/main", commit_only)
    assert status[0] == b"unpack ok\n" and b"is neither in the pack nor on the server" in status[1], status
    status = await push(b"refs/heads/bad..name", pack)
    assert status[1].startswith(b"ng refs/heads/bad..name invalid branch name"), status
    assert await remote.head() == head
    # The server keeps serving, and the good pack still goes in.
    assert (await push(b"refs/heads/main", pack))[:2] == [b"unpack ok\n", b"ok refs/heads/main\n"]
    assert await remote.file("main", "page.md") == b"page\n"


async def test_two_pushes_to_one_branch_exactly_one_wins(remote: Remote, tmp_path: Path) -> None:
    git = Git(tmp_path / "home")
    await remote.commit({"big.md": "".join(f"line {i}\n" for i in range(2000))})
    clones = []
    for name in ("one", "two"):
        await git.run(tmp_path, "clone", "-q", remote.url(), name)
        # An edit of a large file: git sends it as a delta against the server's copy (a thin pack).
        big = tmp_path / name / "big.md"
        big.write_text(big.read_text().replace("line 7\n", f"line 7 by {name}\n"))
        await git.run(tmp_path / name, "commit", "-q", "-am", f"edit by {name}")
        clones.append(tmp_path / name)
    results = await asyncio.gather(*(git.run(c, "push", "origin", "main", ok=False) for c in clones))
    winners = [c for c, (code, _) in zip(clones, results, strict=True) if code == 0]
    losers = [out for code, out in results if code != 0]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "fetch first" in losers[0]
    _, winner_head = await git.run(winners[0], "rev-parse", "HEAD")
    _, remote_head = await git.run(winners[0], "ls-remote", "origin", "refs/heads/main")
    assert remote_head.split()[0] == winner_head.strip()
    assert f"by {winners[0].name}" in (await remote.file("main", "big.md")).decode()


async def test_a_new_workspace_clones_empty_and_takes_an_existing_history(remote: Remote, tmp_path: Path) -> None:
    git = Git(tmp_path / "home")
    _, out = await git.run(tmp_path, "clone", remote.url(), "empty")
    assert "empty repository" in out
    repo = tmp_path / "book"
    await git.run(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "index.md").write_text("# Old book\n")
    await git.run(repo, "add", "-A")
    await git.run(repo, "commit", "-q", "-m", "years ago")
    (repo / "more.md").write_text("more\n")
    await git.run(repo, "add", "-A")
    await git.run(repo, "commit", "-q", "-m", "later")
    await git.run(repo, "push", "-q", remote.url(), "main")
    log = (await remote.call("GET", "/api/branches/main/log", 200))["commits"]
    assert [c["message"] for c in log] == ["later", "years ago"]
    assert await remote.file("main", "more.md") == b"more\n"
    _, ours = await git.run(repo, "rev-parse", "HEAD")
    _, theirs = await git.run(repo, "ls-remote", remote.url(), "refs/heads/main")
    assert theirs.split()[0] == ours.strip()


async def test_gc_takes_the_git_rows_of_what_it_collects(remote: Remote, tmp_path: Path, database: Any,
                                                         admin_sql: Any) -> None:
    from openbook.db.gc import collect
    from openbook.db.workspaces import Workspace

    git = Git(tmp_path / "home")
    await remote.commit({"index.md": "# Home\n"})
    await git.run(tmp_path, "clone", "-q", remote.url(), "work")
    work = tmp_path / "work"
    (work / "scratch.md").write_text("soon garbage\n")
    await git.run(work, "add", "-A")
    await git.run(work, "commit", "-q", "-m", "scratch")
    await git.run(work, "push", "-q", "origin", "HEAD:refs/heads/scratch")
    _, scratch = await git.run(work, "rev-parse", "HEAD")
    await git.run(work, "push", "-q", "origin", ":scratch")
    ws = remote.workspace_id
    await admin_sql.execute("UPDATE objects SET created_at = created_at - interval '2 days' WHERE workspace_id = $1",
                            ws)
    report = await collect(database, Workspace(ws, remote.slug, "git"), 3600.0)
    assert report.objects > 0
    rows = {bytes(r["git_id"]).hex() for r in await admin_sql.fetch(
        "SELECT git_id FROM git_objects WHERE workspace_id = $1", ws)}
    assert scratch.strip() not in rows and rows
    # What is left still serves: a fresh clone, and the collected commit pushed again.
    await git.run(tmp_path, "clone", "-q", remote.url(), "after")
    await git.run(work, "push", "-q", "origin", "HEAD:refs/heads/scratch")
    assert await remote.file("scratch", "scratch.md") == b"soon garbage\n"
