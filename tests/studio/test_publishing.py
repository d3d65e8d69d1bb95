"""Publishing in the studio: sites, deployments with status in words, Make live with a confirmation, audit."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from openbook.config import Settings
from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.deployments import Deployments
from openbook.db.workspaces import create_workspace
from openbook.store.trees import Change
from openbook.worker.main import deploy_one

from .conftest import SignIn


async def build_all(database: Database, settings: Settings, workspace_id: uuid.UUID) -> list[Any]:
    """Build every pending deployment of the workspace in this process, oldest first (what a worker does)."""
    assert settings.storage_path is not None
    rows = Deployments(database, workspace_id)
    pending = [d for d in await rows.recent(None, 50) if d.status == "pending"]
    for d in reversed(pending):
        await deploy_one(database, settings.storage_path, d.id)
    return [await rows.get(d.id) for d in reversed(pending)]


async def test_site_deploys_goes_live_and_rolls_back_with_a_confirmation(
        sign_in: SignIn, database: Database, api_settings: Settings, workspace_id: uuid.UUID) -> None:
    repo = ContentRepository(database, workspace_id)
    await repo.commit("main", [Change.put("index.md", b"# First edition\n")], "first", "ada", None)
    admin = await sign_in(workspace_id, "admin")
    resp, _ = await admin.post("/studio/sites", {"name": "The Book", "slug": "book", "theme": "book",
                                                 "branch": "main", "root": "", "previews": "on"})
    assert resp.status == 303
    site_url = resp.headers["Location"]
    site_id = site_url.rsplit("/", 1)[1]
    resp, page = await admin.post(f"{site_url}/deploy", {})
    assert resp.status == 303
    _, page = await admin.get(site_url)
    assert "Waiting for a worker." in page and "data-busy" in page
    (first,) = await build_all(database, api_settings, workspace_id)
    assert first.status == "deployed"
    status, body = await admin.get(f"{site_url}/status", headers={"Accept": "application/json"})
    assert status.status == 200 and '"status": "deployed"' in body and "Built 1 page" in body
    await repo.commit("main", [Change.put("index.md", b"# Second edition\n")], "second", "ada", None)
    (second,) = await build_all(database, api_settings, workspace_id)  # deploy on push
    assert api_settings.storage_path is not None
    live = api_settings.storage_path / str(workspace_id) / site_id / "live"
    assert os.readlink(live) == second.commit_id
    _, page = await admin.get(site_url)
    assert page.count("Make live") == 1 and "a change to main" in page and "data-busy" not in page
    confirm = re.search(r'href="(/studio/sites/[^"]+/live\?deployment=[^"]+)"', page)
    assert confirm is not None
    _, page = await admin.get(confirm.group(1).replace("&amp;", "&"))
    assert "Make this deployment live?" in page and first.commit_id[:10] in page and second.commit_id[:10] in page
    resp, _ = await admin.post(f"{site_url}/live", {"deployment_id": str(first.id)})
    assert resp.status == 303 and os.readlink(live) == first.commit_id
    _, page = await admin.get(resp.headers["Location"])
    assert "The live site now shows the deployment you chose." in page

    reader = await sign_in(workspace_id, "reader", sub="rita")
    _, page = await reader.get(site_url)
    assert "Deploy main now" not in page and "Make live" not in page
    resp, _ = await reader.post(f"{site_url}/live", {"deployment_id": str(second.id)})
    assert resp.status == 403 and os.readlink(live) == first.commit_id
    resp, _ = await reader.post("/studio/sites", {"name": "x", "slug": "x", "theme": "book"})
    assert resp.status == 403

    _, page = await admin.get("/studio/audit?action=live.switched")
    # Two by the builds going live, one by the rollback; nothing else.
    assert page.count("<code>live.switched</code>") == 3 and "<code>site.created</code>" not in page
    _, page = await admin.get("/studio/audit?actor=rita")
    assert "session.started" in page and "live.switched</code>" not in page


async def test_another_workspaces_site_is_404(sign_in: SignIn, database: Database, workspace_id: uuid.UUID) -> None:
    admin = await sign_in(workspace_id, "admin")
    resp, _ = await admin.post("/studio/sites", {"name": "Mine", "slug": "mine", "theme": "book", "branch": "main"})
    site_url = resp.headers["Location"]
    other = await create_workspace(database, f"o-{uuid.uuid4().hex[:8]}", "other")
    stranger = await sign_in(other.id, "admin")
    for path in (site_url, f"{site_url}/status"):
        assert (await stranger.get(path))[0].status == 404
    assert (await stranger.post(f"{site_url}/deploy", {}))[0].status == 404
    _, page = await stranger.get("/studio/sites")
    assert "Mine" not in page
