"""The repository drives the sites (SPEC §11): deploy on push, coalescing, previews, statuses."""

from __future__ import annotations

import os
import uuid
from typing import Any

from openbook.db.previews import preview_key
from openbook.worker.main import deploy_one
from tests.pipeline.conftest import SAMPLE_BOOK, Api, Stack, StartWorker, fetch, ws_of
from tests.pipeline.test_worker import big_book


async def test_a_commit_deploys_its_site_in_the_same_transaction(admin: Api, sql: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    quiet = await admin.site("quiet", auto_deploy=False)
    other_branch = await admin.site("draft-site", branch="draft")
    commit = await admin.commit({"index.md": "# Pushed\n"})

    pushed = await admin.pushed(commit, site["id"])
    assert (pushed["trigger"], pushed["branch"], pushed["target"], pushed["status"]) == (
        "push", "main", "live", "pending")
    statuses = (await admin.call("GET", f"/api/commits/{commit}/deployments", 200))["deployments"]
    assert {d["site_id"] for d in statuses} == {site["id"]}, "auto_deploy off, or another branch: no deployment"
    assert quiet["auto_deploy"] is False and other_branch["branch"] == "draft"
    # The deployment, its outbox row and the head move committed together.
    assert await sql.fetchval("SELECT count(*) FROM outbox WHERE deployment_id = $1", uuid.UUID(pushed["id"])) == 1
    audit = [e for e in (await admin.call("GET", "/api/audit?limit=5", 200))["entries"]
             if e["action"] == "deployment.created"]
    assert audit[0]["details"]["trigger"] == "push" and audit[0]["target"] == pushed["id"]


async def test_a_refused_commit_deploys_nothing(admin: Api, sql: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site()
    head = (await admin.call("GET", "/api/branches/main", 200))["head"]
    await admin.commit({"a.md": "# A\n"})
    body = {"message": "late", "expected_head": head, "changes": [{"op": "put", "path": "b.md", "content": "b"}]}
    await admin.call("POST", "/api/branches/main/commits", 409, json=body)
    count = await sql.fetchval("SELECT count(*) FROM deployments WHERE site_id = $1", uuid.UUID(site["id"]))
    assert count == 1  # the first commit's push only


async def test_a_burst_of_commits_builds_a_handful_and_ends_live_on_the_last(admin: Api, workers: StartWorker,
                                                                             stack: Stack, sql: Any) -> None:
    await admin.commit(big_book(60))
    site = await admin.site()
    workers("w1")
    commits = []
    for i in range(50):
        commits.append(await admin.commit({f"burst/n{i}.md": f"# Note {i}\n"}))
    last = await admin.pushed(commits[-1], site["id"])
    assert (await admin.wait_terminal([last["id"]], 60))[last["id"]]["status"] == "deployed"
    rows = await sql.fetch("SELECT status, count(*) AS n FROM deployments WHERE site_id = $1 GROUP BY status",
                           uuid.UUID(site["id"]))
    counts = {r["status"]: r["n"] for r in rows}
    assert sum(counts.values()) == 50 and set(counts) <= {"deployed", "superseded"}, counts
    assert counts["deployed"] <= 10, counts
    live = stack.storage / ws_of(admin) / site["id"] / "live"
    assert os.readlink(live) == commits[-1]


async def test_previews_of_other_branches_are_built_linked_and_removed_with_the_branch(
        admin: Api, stack: Stack, database: Any, sql: Any) -> None:
    await admin.commit(big_book(40))
    site = await admin.site(previews=True)
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 201, json={"hostname": "docs.openbook-ci.dev"})
    live = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(live["id"]))).status == "deployed"

    created = await admin.call("POST", "/api/branches", 201, json={"name": "Feature/Maps", "from": "main"})
    edit = await admin.commit({"part3/page13.md": "# Page 13 with maps\n"}, branch="Feature/Maps")
    listed = (await admin.call("GET", f"/api/commits/{edit}/deployments", 200))["deployments"]
    preview = next(d for d in listed if d["trigger"] == "preview")
    assert (preview["branch"], preview["target"]) == ("Feature/Maps", "preview")
    # The branch's creation queued a preview too; the edit superseded it before it built.
    first = (await admin.call("GET", f"/api/commits/{created['head']}/deployments", 200))["deployments"]
    assert [d["status"] for d in first if d["trigger"] == "preview"] == ["superseded"]

    result = await deploy_one(database, stack.storage, uuid.UUID(preview["id"]))
    assert result.status == "deployed"
    built = await admin.deployment(preview["id"])
    # A one-page branch costs one page: the rest is hard-linked from the live build.
    assert built["stats"]["linked"] > built["stats"]["written"] > 0, built["stats"]
    assert built["stats"]["written"] <= 12, built["stats"]
    key = preview_key("Feature/Maps")
    site_dir = stack.storage / ws_of(admin) / site["id"]
    assert os.readlink(site_dir / "previews" / key) == f"../{edit}"
    assert b"with maps" in (site_dir / "previews" / key / "part3/page13/index.html").read_bytes()
    host_link = stack.storage / "_hosts" / f"{key}--docs.openbook-ci.dev"
    assert (host_link / "index.html").read_bytes() == (site_dir / edit / "index.html").read_bytes()
    assert os.readlink(site_dir / "live") == live["commit"], "a preview never touches live"

    previews = (await admin.call("GET", f"/api/sites/{site['id']}/previews", 200))["previews"]
    assert previews == [{"branch": "Feature/Maps", "key": key, "deployment_id": preview["id"], "status": "deployed",
                         "newest_deployment_id": preview["id"], "path": f"{ws_of(admin)}/{site['id']}/previews/{key}",
                         "urls": [f"https://{key}--docs.openbook-ci.dev/"]}]

    err = await admin.call("DELETE", "/api/branches/main", 409)
    assert err["error"]["details"]["sites"] == ["book"]
    gone = await admin.call("DELETE", "/api/branches/Feature/Maps", 200)
    assert gone["previews_removed"] == [key]
    assert not os.path.lexists(site_dir / "previews" / key) and not os.path.lexists(host_link)
    assert (await admin.call("GET", f"/api/sites/{site['id']}/previews", 200))["previews"] == []
    await admin.call("DELETE", "/api/branches/Feature/Maps", 404)
    await admin.call("GET", "/api/branches/Feature/Maps", 404)
    assert await sql.fetchval("SELECT count(*) FROM audit_log WHERE action = 'branch.deleted'") == 1


async def test_a_preview_finishing_after_its_branch_was_deleted_links_nothing(admin: Api, stack: Stack,
                                                                             database: Any) -> None:
    from openbook.db.deployments import Deployments

    await admin.commit(SAMPLE_BOOK)
    site = await admin.site(previews=True)
    await admin.call("POST", "/api/branches", 201, json={"name": "gone", "from": "main"})
    head = await admin.commit({"index.md": "# Gone soon\n"}, branch="gone")
    dep = next(d for d in (await admin.call("GET", f"/api/commits/{head}/deployments", 200))["deployments"]
               if d["trigger"] == "preview")
    # A worker picked it up; the branch is deleted while it builds.
    await Deployments(database, uuid.UUID(admin.workspace_id)).acquire_lease(uuid.UUID(dep["id"]), "bench", 60)
    await admin.call("DELETE", "/api/branches/gone", 200)
    assert (await deploy_one(database, stack.storage, uuid.UUID(dep["id"]))).status == "deployed"
    previews = stack.storage / ws_of(admin) / site["id"] / "previews"
    assert not previews.exists() or not any(previews.iterdir())


async def test_sites_refuse_bad_gitops_fields_and_change_nothing(admin: Api) -> None:
    for body, field in (({"previews": "yes"}, "previews"), ({"auto_deploy": 1}, "auto_deploy"),
                        ({"unknown": True}, "unknown")):
        err = await admin.call("POST", "/api/sites", 400,
                               json={"name": "X", "slug": "x", "theme": "book", **body})
        assert err["error"]["code"] == "invalid_request" and field in err["error"]["message"]
    assert (await admin.call("GET", "/api/sites", 200))["sites"] == []
    site = await admin.site()
    await admin.call("PATCH", f"/api/sites/{site['id']}", 400, json={"previews": "on"})
    patched = await admin.call("PATCH", f"/api/sites/{site['id']}", 200, json={"previews": True,
                                                                               "auto_deploy": False})
    assert (patched["previews"], patched["auto_deploy"]) == (True, False)


async def test_nginx_serves_a_preview_by_host(nginx: str, admin: Api, stack: Stack, database: Any) -> None:
    await admin.commit(SAMPLE_BOOK)
    site = await admin.site(previews=True, auto_deploy=False)
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 201, json={"hostname": "book.openbook-ci.dev"})
    live = await admin.deploy(site["id"])
    assert (await deploy_one(database, stack.storage, uuid.UUID(live["id"]))).status == "deployed"
    await admin.call("POST", "/api/branches", 201, json={"name": "next", "from": "main"})
    head = await admin.commit({"index.md": "# The next edition\n"}, branch="next")
    dep = next(d for d in (await admin.call("GET", f"/api/commits/{head}/deployments", 200))["deployments"]
               if d["trigger"] == "preview")
    assert (await deploy_one(database, stack.storage, uuid.UUID(dep["id"]))).status == "deployed"

    status, headers, body = await fetch(nginx, "/", "next--book.openbook-ci.dev")
    assert status == 200 and b"The next edition" in body and headers["X-OpenBook-Commit"] == head
    status, _, body = await fetch(nginx, "/", "book.openbook-ci.dev")
    assert status == 200 and b"Welcome" in body
