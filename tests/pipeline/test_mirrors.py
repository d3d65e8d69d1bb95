"""Mirrors end to end: an external bare repository served by `git http-backend`, real hooks, a real worker.

The external host is a small aiohttp app on loopback that runs `git
http-backend` (CGI) per request, as a git server does; the mirror therefore
runs with `WEBHOOK_ALLOW_PRIVATE=1`. The worker is a real `openbook worker`
process: it claims due mirrors, fetches, and imports.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.pipeline.conftest import Api, Stack, StartWorker

SECRET = "mirror-secret-0123456789"


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Up Stream",
           "GIT_AUTHOR_EMAIL": "up@example.org", "GIT_COMMITTER_NAME": "Up Stream",
           "GIT_COMMITTER_EMAIL": "up@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


class Upstream:
    """A bare repository, a working clone that pushes to it, and `git http-backend` serving it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.bare = root / "book.git"
        self.work = root / "work"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "clone", "-q", str(self.bare), str(self.work))
        self.port = 0

    def commit(self, files: dict[str, str], message: str) -> str:
        for path, text in files.items():
            (self.work / path).parent.mkdir(parents=True, exist_ok=True)
            (self.work / path).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD").strip()

    async def serve(self, request: web.Request) -> web.Response:
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": "/" + request.match_info["path"], "QUERY_STRING": request.query_string,
               "REQUEST_METHOD": request.method, "CONTENT_TYPE": request.headers.get("Content-Type", ""),
               "REMOTE_ADDR": "127.0.0.1", "GIT_PROTOCOL": request.headers.get("Git-Protocol", "")}
        proc = await asyncio.create_subprocess_exec("git", "http-backend", env=env, stdin=subprocess.PIPE,
                                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out, _ = await proc.communicate(await request.read())
        head, _, body = out.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        status = int(headers.pop("Status", "200").split()[0])
        return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
async def upstream(aiohttp_server: Any, tmp_path: Path, stack: Stack) -> Upstream:
    stack.extra_env["WEBHOOK_ALLOW_PRIVATE"] = "1"
    up = Upstream(tmp_path / "upstream")
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", up.serve)
    up.port = (await aiohttp_server(app)).port
    return up


async def synced(admin: Api, mirror_id: str, commit: str, timeout: float = 30) -> dict[str, Any]:
    """The mirror once a sync of the external commit `commit` finished."""
    deadline = time.monotonic() + timeout
    while True:
        mirror: dict[str, Any] = await admin.call("GET", f"/api/mirrors/{mirror_id}", 200)
        done = [e for e in mirror["events"] if e["kind"] == "sync" and e["details"].get("git_commit") == commit]
        if done and mirror["sync_requested_at"] is None:
            return mirror
        failed = [e for e in mirror["events"] if e["kind"] == "sync" and e["outcome"] == "failed"]
        assert not failed, failed
        assert time.monotonic() < deadline, mirror
        await asyncio.sleep(0.1)


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "X-GitHub-Event": "push", "Content-Type": "application/json"}


async def file_of(admin: Api, ref: str, path: str) -> str:
    resp = await admin.client.get(f"/api/refs/{ref}/files/{path}", headers=admin.h)
    assert resp.status == 200, await resp.text()
    return str(await resp.text())


async def test_a_mirror_follows_its_repository_and_never_overwrites_local_work(
        upstream: Upstream, client: Any, admin: Api, workers: StartWorker) -> None:
    first = upstream.commit({"index.md": "# Upstream\n", "guide/a.md": "a\n"}, "first")
    url = f"http://127.0.0.1:{upstream.port}/book.git"
    mirror = await admin.call("POST", "/api/mirrors", 201, json={"url": url, "branch": "upstream",
                                                                 "secret": SECRET})
    workers("w1")
    state = await synced(admin, mirror["id"], first)
    assert state["synced_commit"] == first and state["events"][0]["outcome"] == "created"
    assert await file_of(admin, "upstream", "guide/a.md") == "a\n"

    # A push upstream, announced by a GitHub-style hook: the branch fast-forwards to the same git commit.
    second = upstream.commit({"guide/b.md": "b\n"}, "second")
    body = b'{"ref": "refs/heads/main"}'
    bad = await client.post(f"/hooks/git/{mirror['id']}", data=body, headers=signed(body, "wrong-secret-123456"))
    assert bad.status == 401
    ok = await client.post(f"/hooks/git/{mirror['id']}", data=body, headers=signed(body))
    assert ok.status == 202
    state = await synced(admin, mirror["id"], second)
    assert state["events"][0]["outcome"] == "fast-forward"
    head = (await admin.call("GET", "/api/branches/upstream", 200))["head"]
    assert (await admin.call("GET", f"/api/commits/{head}", 200))["message"] == "second"

    # Local work and an upstream change to another file: merged, nothing lost.
    await admin.commit({"local.md": "local\n"}, branch="upstream")
    third = upstream.commit({"guide/a.md": "a, upstream\n"}, "third")
    gitlab = await client.post(f"/hooks/git/{mirror['id']}", data=b"{}",
                               headers={"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook"})
    assert gitlab.status == 202
    state = await synced(admin, mirror["id"], third)
    assert state["events"][0]["outcome"] == "merged"
    assert await file_of(admin, "upstream", "local.md") == "local\n"
    assert await file_of(admin, "upstream", "guide/a.md") == "a, upstream\n"

    # Both sides change one line of one file: the branch keeps the local edit, upstream's goes aside.
    await admin.commit({"index.md": "# Ours\n"}, branch="upstream")
    ours = (await admin.call("GET", "/api/branches/upstream", 200))["head"]
    fourth = upstream.commit({"index.md": "# Theirs\n"}, "fourth")
    await admin.call("POST", f"/api/mirrors/{mirror['id']}/sync", 202)
    state = await synced(admin, mirror["id"], fourth)
    assert state["events"][0]["outcome"] == "conflict"
    assert state["events"][0]["details"]["conflict_branch"] == "sync-conflict/1"
    assert (await admin.call("GET", "/api/branches/upstream", 200))["head"] == ours
    assert await file_of(admin, "sync-conflict/1", "index.md") == "# Theirs\n"

    # Every delivery is logged, the refused one with why.
    deliveries = [(e["outcome"], e["details"]["provider"]) for e in state["events"] if e["kind"] == "delivery"]
    assert deliveries == [("accepted", "gitlab"), ("accepted", "github"), ("refused", "github")]
    refused = next(e for e in state["events"] if e["outcome"] == "refused")
    assert refused["details"]["reason"] == "signature does not match"
