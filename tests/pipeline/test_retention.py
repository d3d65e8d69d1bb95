"""Retention (SPEC §11): keep_deployments prunes old deployments' rows, then their unused build folders."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from openbook.db.database import Database
from openbook.fs import storage
from openbook.pipeline.relay import Relay
from openbook.stream.deployments import DeploymentStream
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, ws_of

KEEP_2 = "keep_deployments = 2\n"


async def run(admin: Api, stack: Stack, database: Database, dep: dict[str, Any], min_age_s: float = 0) -> str:
    result = await deploy_one(database, stack.storage, uuid.UUID(dep["id"]), retention_min_age_s=min_age_s)
    assert result.status is not None
    return result.status


async def push(admin: Api, stack: Stack, database: Database, site: dict[str, Any], files: dict[str, str],
               branch: str = "main", min_age_s: float = 0) -> dict[str, Any]:
    """Commit, build the deployment the push set off, return it as the API shows it."""
    commit = await admin.commit(files, branch)
    dep = await admin.pushed(commit, site["id"]) if branch == "main" else await preview_of(admin, commit, site)
    await run(admin, stack, database, dep, min_age_s)
    return await admin.deployment(dep["id"])


async def preview_of(admin: Api, commit: str, site: dict[str, Any]) -> dict[str, Any]:
    listed = await admin.call("GET", f"/api/commits/{commit}/deployments", 200)
    found = [d for d in listed["deployments"] if d["site_id"] == site["id"] and d["trigger"] == "preview"]
    assert len(found) == 1, listed
    return dict(found[0])


async def pruned(admin: Api, *deps: dict[str, Any]) -> list[bool]:
    return [(await admin.deployment(d["id"]))["pruned_at"] is not None for d in deps]


def builds(admin: Api, stack: Stack, site: dict[str, Any]) -> set[str]:
    folder = stack.storage / ws_of(admin) / site["id"]
    return {p.name for p in folder.iterdir() if len(p.name) == 64}


def site_dir(admin: Api, stack: Stack, site: dict[str, Any]) -> Path:
    return stack.storage / ws_of(admin) / site["id"]


async def test_keeps_the_newest_and_never_live_or_a_current_preview(admin: Api, stack: Stack,
                                                                   database: Database) -> None:
    site = await admin.site(previews=True)
    d1 = await push(admin, stack, database, site, {**SAMPLE_BOOK, "openbook.toml": KEEP_2})
    d2 = await push(admin, stack, database, site, {"index.md": "# Two\n"})
    await admin.call("POST", f"/api/sites/{site['id']}/live", 200, json={"deployment_id": d1["id"]})

    # A preview of main's head: the same commit as d2, so the two share one folder.
    await admin.call("POST", "/api/branches", 201, json={"name": "draft", "from": "main"})
    p1 = await preview_of(admin, d2["commit"], site)
    assert await run(admin, stack, database, p1) == "deployed"
    assert await pruned(admin, d1, d2, p1) == [False, False, False]

    p2 = await push(admin, stack, database, site, {"draft.md": "# Draft\n"}, branch="draft")
    # d2 is third newest: pruned; d1 too old but live; the folder of d2 stays for p1.
    assert await pruned(admin, d1, d2, p1, p2) == [False, True, False, False]
    assert builds(admin, stack, site) == {d1["commit"], d2["commit"], p2["commit"]}

    p3 = await push(admin, stack, database, site, {"draft.md": "# Draft 2\n"}, branch="draft")
    assert await pruned(admin, d1, d2, p1, p2, p3) == [False, True, True, False, False]
    assert builds(admin, stack, site) == {d1["commit"], p2["commit"], p3["commit"]}

    d3 = await push(admin, stack, database, site, {"index.md": "# Three\n"})
    # Live moved on to d3: d1 goes; p3 is what the preview shows.
    assert await pruned(admin, d1, p2, p3, d3) == [True, True, False, False]
    assert builds(admin, stack, site) == {p3["commit"], d3["commit"]}
    folder = site_dir(admin, stack, site)
    assert os.readlink(folder / "live") == d3["commit"]
    assert os.readlink(folder / "previews" / "draft") == f"../{p3['commit']}"
    assert (folder / "previews" / "draft" / "index.html").is_file()

    err = await admin.call("POST", f"/api/sites/{site['id']}/live", 409, json={"deployment_id": d1["id"]})
    assert err["error"]["code"] == "conflict" and err["error"]["details"]["pruned_at"]
    assert os.readlink(folder / "live") == d3["commit"]

    # Deleting the branch removes its preview: p3 is then an ordinary old deployment.
    await admin.call("DELETE", "/api/branches/draft", 200)
    d4 = await push(admin, stack, database, site, {"index.md": "# Four\n"})
    assert await pruned(admin, p3, d3, d4) == [True, False, False]
    assert builds(admin, stack, site) == {d3["commit"], d4["commit"]}
    audit = (await admin.call("GET", "/api/audit?limit=200", 200))["entries"]
    pruning = [e for e in audit if e["action"] == "deployments.pruned"]
    assert {d for e in pruning for d in e["details"]["deployments"]} == {d1["id"], d2["id"], p1["id"], p2["id"],
                                                                         p3["id"]}
    assert all(e["actor"] == "worker:bench" and e["target"] == site["id"] for e in pruning)


async def test_failed_and_superseded_rows_are_pruned_without_pushing_builds_out(admin: Api, stack: Stack,
                                                                                 database: Database) -> None:
    site = await admin.site()
    d1 = await push(admin, stack, database, site, {**SAMPLE_BOOK, "openbook.toml": KEEP_2})
    # Two commits before any build: the first one's deployment is superseded without building.
    c2 = await admin.commit({"index.md": "# Two\n"})
    c3 = await admin.commit({"index.md": "# Three\n"})
    d2, d3 = await admin.pushed(c2, site["id"]), await admin.pushed(c3, site["id"])
    assert await run(admin, stack, database, d3) == "deployed"
    assert (await admin.deployment(d2["id"]))["status"] == "superseded"
    d4 = await push(admin, stack, database, site, {"openbook.toml": "keep_deployments = 0\n"})
    assert d4["status"] == "failed"
    d5 = await push(admin, stack, database, site, {"openbook.toml": KEEP_2})

    # Deployed ones count among deployed ones (d5, d3 kept; d1 goes), the others among all
    # finished ones (d4 second newest: kept; d2 fourth: pruned). Nothing pruned after d4 failed.
    assert await pruned(admin, d1, d2, d3, d4, d5) == [True, True, False, False, False]
    assert builds(admin, stack, site) == {d3["commit"], d5["commit"]}


async def test_nothing_younger_than_the_minimum_age_is_pruned(admin: Api, stack: Stack, database: Database,
                                                              sql: asyncpg.Pool) -> None:
    site = await admin.site()
    files: dict[str, str] = {**SAMPLE_BOOK, "openbook.toml": "keep_deployments = 1\n"}
    deps = []
    for n in range(3):
        deps.append(await push(admin, stack, database, site, files, min_age_s=3600))
        files = {"index.md": f"# Edition {n}\n"}
    assert await pruned(admin, *deps) == [False, False, False]
    assert len(builds(admin, stack, site)) == 3

    # Two hours pass for the first one (its row and its folder).
    await sql.execute("UPDATE deployments SET finished_at = finished_at - interval '2 hours' WHERE id = $1",
                      uuid.UUID(deps[0]["id"]))
    old = site_dir(admin, stack, site) / deps[0]["commit"]
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    deps.append(await push(admin, stack, database, site, {"index.md": "# Last\n"}, min_age_s=3600))
    assert await pruned(admin, *deps) == [True, False, False, False]
    assert builds(admin, stack, site) == {d["commit"] for d in deps[1:]}


async def test_a_shared_commit_folder_goes_with_its_last_deployment(admin: Api, stack: Stack,
                                                                    database: Database) -> None:
    site = await admin.site()
    first = await push(admin, stack, database, site, {**SAMPLE_BOOK, "openbook.toml": "keep_deployments = 1\n"})
    again = await admin.deploy(site["id"], first["commit"])  # the same commit, built again
    await run(admin, stack, database, again)
    assert await pruned(admin, first, again) == [True, False]
    assert builds(admin, stack, site) == {first["commit"]}
    last = await push(admin, stack, database, site, {"index.md": "# New\n"})
    assert await pruned(admin, first, again, last) == [True, True, False]
    assert builds(admin, stack, site) == {last["commit"]}


async def test_a_crash_between_rows_and_folders_leaves_an_orphan_the_next_prune_removes(
        admin: Api, stack: Stack, database: Database, sql: asyncpg.Pool) -> None:
    site = await admin.site()
    keep_1 = {**SAMPLE_BOOK, "openbook.toml": "keep_deployments = 1\n"}
    first = await push(admin, stack, database, site, keep_1, min_age_s=3600)
    second = await push(admin, stack, database, site, {"index.md": "# Two\n"}, min_age_s=3600)
    # The worker died after the rows' transaction: the row is pruned, the folder is still there,
    # and so is a folder it had begun to delete.
    await sql.execute("UPDATE deployments SET pruned_at = now() WHERE id = $1", uuid.UUID(first["id"]))
    leftover = site_dir(admin, stack, site) / f"{storage.PRUNED_PREFIX}{first['commit']}-0123"
    (leftover / "guide").mkdir(parents=True)
    (leftover / "guide" / "index.html").write_text("half deleted")
    assert first["commit"] in builds(admin, stack, site)

    third = await push(admin, stack, database, site, {"index.md": "# Three\n"})
    assert await pruned(admin, first, second, third) == [True, True, False]
    # (Beside them, the next build's folder that the site's warm build process keeps ready.)
    kept = {p.name for p in site_dir(admin, stack, site).iterdir() if not p.name.startswith(storage.SPARE_PREFIX)}
    assert kept == {third["commit"], "live"}


@contextlib.contextmanager
def undeletable(path: Path) -> Iterator[None]:
    """Make renaming `path` fail as a damaged or read-only disk would (root ignores permissions)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.parent.stat().st_mode
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            path.parent.chmod(mode)


async def test_disk_errors_are_logged_and_never_fail_the_deployment(admin: Api, stack: Stack, database: Database,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    site = await admin.site()
    first = await push(admin, stack, database, site, {**SAMPLE_BOOK, "openbook.toml": "keep_deployments = 1\n"})
    stuck = site_dir(admin, stack, site) / first["commit"]
    with undeletable(stuck), caplog.at_level(logging.ERROR, logger="openbook.retention"):
        second = await push(admin, stack, database, site, {"index.md": "# Two\n"})
    assert second["status"] == "deployed"
    assert await pruned(admin, first, second) == [True, False]
    assert any(f"deleting {stuck} failed" in r.getMessage() for r in caplog.records), caplog.text
    assert stuck.is_dir()

    third = await push(admin, stack, database, site, {"index.md": "# Three\n"})
    assert builds(admin, stack, site) == {third["commit"]}


async def test_the_relay_deletes_outbox_rows_published_a_week_ago(admin: Api, stack: Stack, database: Database,
                                                                  sql: asyncpg.Pool) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    # Created back to back: the first two end superseded, the third stays pending (no worker).
    old, recent, pending = [await admin.deploy(site["id"]) for _ in range(3)]
    ages = {old["id"]: 8, recent["id"]: 6, pending["id"]: 8}
    for dep_id, days in ages.items():
        await sql.execute("UPDATE outbox SET published_at = now() - make_interval(days => $2)"
                          " WHERE deployment_id = $1", uuid.UUID(dep_id), days)
    assert await sql.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

    settings = stack.settings()
    assert settings.redis is not None
    stream = DeploymentStream(settings.redis)
    try:
        await Relay(database, stream).tick()  # the first tick sweeps
    finally:
        await stream.close()
    left = {str(r["deployment_id"]) for r in await sql.fetch("SELECT deployment_id FROM outbox")}
    # The pending deployment's row stays: re-queueing it after a Redis restart needs it.
    assert left == {recent["id"], pending["id"]}
    assert (await admin.deployment(old["id"]))["status"] == "superseded"


async def test_the_relay_sweep_deletes_expired_idempotency_keys(admin: Api, stack: Stack, database: Database,
                                                                sql: asyncpg.Pool) -> None:
    for key in ("old", "fresh"):
        await admin.call("POST", "/api/branches", 201, json={"name": f"idem-{key}"},
                         headers={**admin.h, "Idempotency-Key": key})
    await sql.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'old'")
    settings = stack.settings()
    assert settings.redis is not None
    stream = DeploymentStream(settings.redis)
    try:
        await Relay(database, stream).tick()
    finally:
        await stream.close()
    assert [r["key"] for r in await sql.fetch("SELECT key FROM idempotency_keys")] == ["fresh"]
