"""The worker as a real process: end to end, content errors, SIGTERM, ordering, poison, idempotency."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from openbook.fs import storage
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, StartWorker, ws_of


def big_book(pages: int, words: int = 150) -> dict[str, str]:
    text = " ".join(f"word{i % 97}" for i in range(words))
    files = {"index.md": "# Big book\n"}
    for i in range(pages):
        files[f"part{i % 10}/page{i}.md"] = f"# Page {i}\n\n{text}\n\n## Section\n\n{text}\n"
    return files


async def wait_status(api: Api, dep_id: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dep = await api.deployment(dep_id)
        if dep["status"] in statuses:
            return dep
        assert time.monotonic() < deadline, f"{dep_id} still {dep['status']}"
        await asyncio.sleep(0.05)


async def test_publish_end_to_end(admin: Api, workers: StartWorker, stack: Stack) -> None:
    worker = workers("w1")
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 201, json={"hostname": "book.openbook-ci.dev"})
    deployments = []
    for edition in range(3):
        if edition:  # deploy on push: the commit itself queues the deployment
            dep = await admin.pushed(await admin.commit({"guide/usage.md": f"# Usage, edition {edition}\n"}),
                                     site["id"])
        else:
            dep = await admin.deploy(site["id"])
        done = (await admin.wait_terminal([dep["id"]], 30))[dep["id"]]
        assert done["status"] == "deployed", (done, worker.output())
        deployments.append(done)

    site_dir = stack.storage / ws_of(admin) / site["id"]
    live = site_dir / "live"
    assert os.readlink(live) == deployments[-1]["commit"]
    assert (live / "index.html").is_file() and (live / "guide/intro/index.html").is_file()
    assert (live / "img/logo.svg").read_bytes() == SAMPLE_BOOK["img/logo.svg"].encode()
    assert b"edition 2" in (live / "guide/usage/index.html").read_bytes()
    served = stack.storage / "_hosts/book.openbook-ci.dev/index.html"
    assert served.read_bytes() == (live / "index.html").read_bytes()
    # Unchanged files of the previous build are hard links, not copies.
    first, last = site_dir / deployments[0]["commit"], site_dir / deployments[-1]["commit"]
    assert os.stat(first / "img/logo.svg").st_ino == os.stat(last / "img/logo.svg").st_ino
    assert deployments[-1]["stats"]["linked"] > 0
    # No temporary folder is left, but the next build's folder that the site's warm build process
    # made ready while it waits (a copy of the last build made of links).
    temps = [p for p in site_dir.iterdir() if p.name.startswith(".tmp-")]
    assert all(p.name.startswith(f"{storage.SPARE_PREFIX}{deployments[-1]['commit']}-") for p in temps), temps
    assert len(temps) <= 1
    assert worker.alive()


async def test_content_errors_fail_with_file_and_cause(admin: Api, workers: StartWorker,
                                                        stack: Stack) -> None:
    worker = workers("w1")
    await admin.commit({"index.md": "# Home\n", "broken.md": "---\ntitle: [oops\n---\ntext\n"})
    site = await admin.site()
    missing_root = await admin.site("rooted", root="no/such/folder")
    bad = await admin.deploy(site["id"])
    no_root = await admin.deploy(missing_root["id"])
    done = await admin.wait_terminal([bad["id"], no_root["id"]], 30)
    assert done[bad["id"]]["status"] == "failed" and "broken.md" in done[bad["id"]]["error"]
    assert done[no_root["id"]]["status"] == "failed" and "no/such/folder" in done[no_root["id"]]["error"]
    assert [c["status"] for c in done[bad["id"]]["conditions"]] == ["pending", "building", "failed"]
    assert not (stack.storage / ws_of(admin) / site["id"] / "live").exists()
    # The worker is still serving.
    await admin.commit({"broken.md": "# Fixed\n"})
    ok = await admin.deploy(site["id"])
    assert (await admin.wait_terminal([ok["id"]], 30))[ok["id"]]["status"] == "deployed"
    assert worker.alive()
    with stack.redis() as r:
        assert r.xpending("deployments_stream", "deployment_group")["pending"] == 0


async def test_sigterm_finishes_current_deployment_and_exits_0(admin: Api, workers: StartWorker,
                                                               stack: Stack) -> None:
    await admin.commit(big_book(800))
    site = await admin.site()
    first = await admin.deploy(site["id"])
    worker = workers("w1")
    await wait_status(admin, first["id"], {"building"}, 30)
    second = await admin.deploy(site["id"])  # the first is building: nothing to supersede
    worker.proc.send_signal(15)  # type: ignore[union-attr]
    assert worker.wait(60) == 0, worker.output()
    assert (await admin.deployment(first["id"]))["status"] == "deployed"
    assert (await admin.deployment(second["id"]))["status"] == "pending"
    with stack.redis() as r:
        pending = r.xpending("deployments_stream", "deployment_group")["pending"]
    assert pending <= 1  # at most the second entry, delivered but not started
    # A new worker with the same name picks up where it stopped.
    workers("w1")
    assert (await admin.wait_terminal([second["id"]], 60))[second["id"]]["status"] == "deployed"


class RecordingSwitches:
    """Our own `Switches` protocol, recording what a finish would point where (no file system)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def live(self, workspace_id: uuid.UUID, site_id: uuid.UUID, commit_id: str) -> None:
        self.calls.append(("live", commit_id))

    def preview(self, workspace_id: uuid.UUID, site_id: uuid.UUID, key: str, commit_id: str) -> None:
        self.calls.append((key, commit_id))


async def test_out_of_order_finish_keeps_newest_live(admin: Api, stack: Stack, database: Any) -> None:
    from openbook.db.deployments import Deployments

    rows = Deployments(database, uuid.UUID(admin.workspace_id))
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site(auto_deploy=False)
    older = await admin.deploy(site["id"])
    # A worker picked the older one up (so the newer cannot supersede it) and is slow.
    slow = await rows.acquire_lease(uuid.UUID(older["id"]), "slow", 60)
    assert slow is not None and slow.status == "building"
    await admin.commit({"index.md": "# Newer\n"})
    newer = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(newer["id"]))).status == "deployed"
    # The slow build finishes last: recorded as deployed, but live does not move back.
    switches = RecordingSwitches()
    finished = await rows.finish_deployed(slow, "slow", {"pages": 1}, switches)
    assert finished is not None and not finished.live and switches.calls == []
    assert (await admin.deployment(older["id"]))["status"] == "deployed"
    live = stack.storage / ws_of(admin) / site["id"] / "live"
    assert os.readlink(live) == newer["commit"]
    got = await admin.call("GET", f"/api/sites/{site['id']}", 200)
    assert got["live_deployment_id"] == newer["id"]


async def test_a_build_taken_up_again_behind_a_newer_one_is_superseded(admin: Api, stack: Stack,
                                                                       database: Any) -> None:
    from openbook.db.deployments import Deployments

    rows = Deployments(database, uuid.UUID(admin.workspace_id))
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site(auto_deploy=False)
    older = await admin.deploy(site["id"])
    assert await rows.acquire_lease(uuid.UUID(older["id"]), "died", 0.01) is not None  # its builder died
    newer = await admin.deploy(site["id"])
    await asyncio.sleep(0.1)  # the dead builder's 10 ms lease has lapsed (a quick POST can take less)
    # Another worker reclaims the dead one's entry: it can never show, so it is not rebuilt.
    result = await deploy_one(database, stack.storage, uuid.UUID(older["id"]))
    assert result.status == "superseded"
    assert (await admin.deployment(older["id"]))["conditions"][-1]["reason"] == "a newer deployment exists"
    assert (await deploy_one(database, stack.storage, uuid.UUID(newer["id"]))).status == "deployed"


async def test_poison_message_is_failed_dead_lettered_and_acked(admin: Api, workers: StartWorker,
                                                                stack: Stack, sql: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    dep = await admin.deploy(site["id"])
    # As if five workers had died building it.
    await sql.execute("UPDATE deployments SET attempts = 5, status = 'building', lease_owner = 'ghost',"
                       " lease_until = now() - interval '1 second' WHERE id = $1", uuid.UUID(dep["id"]))
    worker = workers("w1", "--burst")
    assert worker.wait(60) == 0, worker.output()
    done = await admin.deployment(dep["id"])
    assert done["status"] == "failed" and "5 attempts" in done["error"]
    with stack.redis() as r:
        dead = r.xrange("deployments_dead")
        assert [e[1]["deployment_id"] for e in dead] == [dep["id"]]
        assert r.xpending("deployments_stream", "deployment_group")["pending"] == 0


async def test_redelivered_finished_deployment_is_just_acked(admin: Api, workers: StartWorker,
                                                             stack: Stack) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    dep = await admin.deploy(site["id"])
    assert workers("w1", "--burst").wait(60) == 0
    before = await admin.deployment(dep["id"])
    assert before["status"] == "deployed"
    with stack.redis() as r:
        r.xadd("deployments_stream", {"deployment_id": dep["id"]})
        r.xadd("deployments_stream", {"deployment_id": "garbage"})
        r.xadd("deployments_stream", {"deployment_id": str(uuid.uuid4())})
    assert workers("w2", "--burst").wait(60) == 0
    assert await admin.deployment(dep["id"]) == before
    with stack.redis() as r:
        assert r.xpending("deployments_stream", "deployment_group")["pending"] == 0


def test_bad_configuration_exits_2_naming_every_problem(stack: Stack) -> None:
    env = stack.env()
    env.pop("DB_DSN")
    env["REDIS_DB"] = "many"
    result = subprocess.run([sys.executable, "-m", "openbook.cli", "worker"], env=env, capture_output=True,
                            timeout=30, check=False)
    assert result.returncode == 2
    assert b"DB_DSN" in result.stderr and b"REDIS_DB" in result.stderr


async def test_crash_between_commit_and_xadd_is_relayed(admin: Api, workers: StartWorker, sql: Any,
                                                        database: Any, stack: Stack) -> None:
    from openbook.db.deployments import Deployments

    commit = await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    # Committed with its outbox row, but the process "died" before XADD.
    dep, _ = await Deployments(database, uuid.UUID(admin.workspace_id)).create(
        "tester", uuid.UUID(site["id"]), commit, "main")
    with stack.redis() as r:
        assert not r.exists("deployments_stream")
    workers("w1")  # its outbox relay sends the row after the grace period
    done = await admin.wait_terminal([str(dep.id)], 30)
    assert done[str(dep.id)]["status"] == "deployed"
    assert await sql.fetchval("SELECT published_at IS NOT NULL FROM outbox WHERE deployment_id = $1", dep.id)


async def test_one_page_edit_reuses_everything_else_and_equals_a_full_build(admin: Api, workers: StartWorker,
                                                                            stack: Stack) -> None:
    workers("w1")
    book = big_book(120)
    await admin.commit(book)
    site = await admin.site()
    first = (await admin.wait_terminal([(await admin.deploy(site["id"]))["id"]], 60))
    assert {d["status"] for d in first.values()} == {"deployed"}

    edit = await admin.commit({"part3/page13.md": "# Page 13, revised\n\nNew words.\n"})
    dep = await admin.pushed(edit, site["id"])
    done = (await admin.wait_terminal([dep["id"]], 60))[dep["id"]]
    assert done["status"] == "deployed", done
    stats = done["stats"]
    # The edited page, its neighbours (prev/next titles), the shared nav, contents, search, sitemap.
    assert 0 < stats["rendered"] <= 12, stats
    assert stats["reused"] / (stats["rendered"] + stats["reused"]) >= 0.9, stats

    site_dir = stack.storage / ws_of(admin) / site["id"]
    incremental = site_dir / done["commit"]
    assert b"revised" in (incremental / "part3/page13/index.html").read_bytes()
    # A full build of the same content, from nothing, gives byte-identical files.
    from openbook.fs.themes import load_theme
    from openbook.render import SiteSettings, build_site

    content = {p: c.encode() for p, c in book.items()} | {"part3/page13.md": b"# Page 13, revised\n\nNew words.\n"}
    full = build_site(content, load_theme("book"), SiteSettings(title="The Book"), workers=1)
    assert {f.path for f in full.files} == {p.relative_to(incremental).as_posix()
                                           for p in incremental.rglob("*") if p.is_file()} - {".openbook-manifest.json"}
    for f in full.files:
        assert f.data == (incremental / f.path).read_bytes(), f.path


async def test_a_renderer_bug_fails_the_deployment_as_openbook_fault(admin: Api, stack: Stack, database: Any,
                                                                     monkeypatch: Any) -> None:
    from openbook.worker import build as build_module
    from openbook.worker.deploy import OUR_FAULT

    real_load = build_module.load_content

    async def buggy_load(*args: Any) -> build_module.Content:
        # Fault injection into our own code: the build process gets a page that is not bytes,
        # so the renderer raises a TypeError there, in another process.
        loaded = await real_load(*args)
        return build_module.Content({**loaded.files, "broken.md": None}, loaded.ids)  # type: ignore[dict-item]

    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    dep = await admin.deploy(site["id"])
    monkeypatch.setattr(build_module, "load_content", buggy_load)
    result = await deploy_one(database, stack.storage, uuid.UUID(dep["id"]))
    assert result.status == "failed"
    got = await admin.deployment(dep["id"])
    assert got["error"].startswith(OUR_FAULT) and "TypeError" in got["error"]
    assert got["conditions"][-1]["reason"] == "internal error"


async def test_a_corrupt_manifest_of_the_live_build_fails_loudly(admin: Api, stack: Stack, database: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    first = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(first["id"]))).status == "deployed"
    live = stack.storage / ws_of(admin) / site["id"] / "live"
    (live / ".openbook-manifest.json").write_text("{not json")
    await admin.commit({"index.md": "# Changed\n"})
    second = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(second["id"]))).status == "failed"
    error = (await admin.deployment(second["id"]))["error"]
    assert ".openbook-manifest.json is corrupt" in error
    assert os.readlink(live) == first["commit"]


async def test_files_a_warm_build_process_holds_are_not_read_again(admin: Api, database: Any) -> None:
    from openbook.worker.build import load_content

    photo = "x" * 100_000  # above the object cache's blob size: every build used to read it again
    commit = await admin.commit({"docs/index.md": "# Home\n", "docs/photo.txt": photo, "other.md": "# Other\n"})
    loaded = await load_content(database, uuid.UUID(admin.workspace_id), commit, "docs")
    assert loaded.files == {"index.md": b"# Home\n", "photo.txt": photo.encode()}
    # What the site's warm build process holds, by blob id, is taken from it, not from PostgreSQL.
    held = {loaded.ids["photo.txt"]: b"held by the build process"}
    again = await load_content(database, uuid.UUID(admin.workspace_id), commit, "docs", held)
    assert again.files == {"index.md": b"# Home\n", "photo.txt": b"held by the build process"}
    assert again.ids == loaded.ids
