"""Sites and domains through the real API: roles, tenancy, validation, audit, `_hosts` links."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.pipeline.conftest import Api, Headers, Stack


async def audit_actions(api: Api) -> list[str]:
    body = await api.call("GET", "/api/audit?limit=100", 200)
    return [e["action"] for e in reversed(body["entries"])]


async def test_create_read_and_list_sites(admin: Api, client: Any, token: Callable[..., Headers],
                                          ws: uuid.UUID) -> None:
    site = await admin.site("docs", branch="release/1", root="/docs/")
    assert site["slug"] == "docs" and site["theme"] == "book" and site["branch"] == "release/1"
    assert site["root"] == "docs" and site["live_deployment_id"] is None and site["domains"] == []
    plain = await admin.site("plain")
    assert plain["branch"] == "main" and plain["root"] == ""
    reader = Api(client, token(ws, "reader"))
    assert await reader.call("GET", f"/api/sites/{site['id']}", 200) == site
    listed = await reader.call("GET", "/api/sites", 200)
    assert [s["slug"] for s in listed["sites"]] == ["docs", "plain"]
    assert (await audit_actions(admin)) == ["site.created", "site.created"]


@pytest.mark.parametrize("body, field", [
    ({"slug": "x", "theme": "book"}, "name"),
    ({"name": "X", "slug": "Bad Slug", "theme": "book"}, "slug"),
    ({"name": "X", "slug": "x", "theme": "no-such-theme"}, "theme"),
    ({"name": "X", "slug": "x", "theme": "../book"}, "theme"),
    ({"name": "X", "slug": "x", "theme": "book", "root": "../etc"}, None),
    ({"name": "X", "slug": "x", "theme": "book", "root": "a//b"}, None),
    ({"name": "X", "slug": "x", "theme": "book", "branch": "-x"}, None),
    ({"name": "X", "slug": "x", "theme": 7}, "theme"),
    ({"name": " ", "slug": "x", "theme": "book"}, "name"),
])
async def test_bad_site_bodies_are_400_and_change_nothing(admin: Api, body: dict[str, Any],
                                                          field: str | None) -> None:
    err = await admin.call("POST", "/api/sites", 400, json=body)
    assert err["error"]["code"] == "invalid_request" and err["error"]["message"]
    if field is not None:
        assert err["error"]["details"].get("field") == field
    assert (await admin.call("GET", "/api/sites", 200)) == {"sites": []}
    assert await audit_actions(admin) == []


async def test_malformed_json_and_duplicate_slug(admin: Api, client: Any) -> None:
    resp = await client.post("/api/sites", data=b"{not json", headers=admin.h)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_request"
    await admin.site("same")
    err = await admin.call("POST", "/api/sites", 409, json={"name": "Y", "slug": "same", "theme": "book"})
    assert err["error"]["code"] == "already_exists"
    assert len((await admin.call("GET", "/api/sites", 200))["sites"]) == 1


async def test_roles(client: Any, token: Callable[..., Headers], ws: uuid.UUID, admin: Api) -> None:
    body = {"name": "X", "slug": "x", "theme": "book"}
    for role in ("reader", "writer", "publisher"):
        api = Api(client, token(ws, role))
        err = await api.call("POST", "/api/sites", 403, json=body)
        assert err["error"]["code"] == "forbidden"
    site = await admin.site()
    publisher = Api(client, token(ws, "publisher"))
    await publisher.call("POST", f"/api/sites/{site['id']}/domains", 403, json={"hostname": "a.openbook-ci.dev"})
    resp = await client.get("/api/sites")
    assert resp.status == 401


async def test_other_workspace_sees_404(admin: Api, client: Any, token: Callable[..., Headers],
                                        database: Any) -> None:
    from openbook.db.workspaces import create_workspace

    site = await admin.site()
    other_ws = await create_workspace(database, f"o-{uuid.uuid4().hex[:8]}", "other")
    other = Api(client, token(other_ws.id, "admin"))
    for method, path, body in [
        ("GET", f"/api/sites/{site['id']}", None),
        ("POST", f"/api/sites/{site['id']}/domains", {"hostname": "stolen.openbook-ci.dev"}),
        ("DELETE", f"/api/sites/{site['id']}/domains/stolen.example", None),
        ("POST", "/api/deployments", {"site_id": site["id"]}),
        ("GET", f"/api/deployments?site_id={site['id']}", None),
        ("POST", f"/api/sites/{site['id']}/live", {"deployment_id": str(uuid.uuid4())}),
        ("GET", "/api/sites/not-a-uuid", None),
    ]:
        err = await other.call(method, path, 404, json=body)
        assert err["error"]["code"] == "not_found"
    assert (await other.call("GET", "/api/sites", 200)) == {"sites": []}


async def test_domains_lifecycle_and_host_links(admin: Api, client: Any, token: Callable[..., Headers],
                                                database: Any, stack: Stack) -> None:
    from openbook.db.workspaces import create_workspace

    site = await admin.site()
    domains = f"/api/sites/{site['id']}/domains"
    added = await admin.call("POST", domains, 201, json={"hostname": "Docs.OpenBook-CI.dev"})
    assert added["hostname"] == "docs.openbook-ci.dev"
    link = stack.storage / "_hosts" / "docs.openbook-ci.dev"
    assert os.readlink(link) == f"../{admin.workspace_id}/{site['id']}/live"
    got = await admin.call("GET", f"/api/sites/{site['id']}", 200)
    assert got["domains"] == ["docs.openbook-ci.dev"]

    # Unique across the whole system, whoever holds it.
    err = await admin.call("POST", f"/api/sites/{(await admin.site('two'))['id']}/domains", 409,
                           json={"hostname": "docs.openbook-ci.dev"})
    assert err["error"]["code"] == "conflict"
    other_ws = await create_workspace(database, f"o-{uuid.uuid4().hex[:8]}", "other")
    other = Api(client, token(other_ws.id, "admin"))
    other_site = await other.site("mine")
    other_domains = f"/api/sites/{other_site['id']}/domains"
    err = await other.call("POST", other_domains, 409, json={"hostname": "DOCS.openbook-ci.dev"})
    assert err["error"]["code"] == "conflict" and str(site["id"]) not in err["error"]["message"]

    for bad in ("", "-bad.example", "bad-.example", "a..b", "x" * 64 + ".example", "under_score.example",
                "trailing.dot.", "sp ace.example", "../etc", "a/b", "é.example", ("a." * 127) + "com"):
        err = await admin.call("POST", f"/api/sites/{site['id']}/domains", 400, json={"hostname": bad})
        assert err["error"]["code"] == "invalid_request"
    await admin.call("POST", f"/api/sites/{site['id']}/domains", 400, json={"host": "x.example"})

    removed = await admin.call("DELETE", f"/api/sites/{site['id']}/domains/docs.openbook-ci.dev", 200)
    assert removed["removed"] is True
    assert not os.path.lexists(link)
    await admin.call("DELETE", f"/api/sites/{site['id']}/domains/docs.openbook-ci.dev", 404)
    # Now free for the other tenant.
    await other.call("POST", other_domains, 201, json={"hostname": "docs.openbook-ci.dev"})
    assert (await audit_actions(admin)) == ["site.created", "domain.added", "site.created", "domain.removed"]



async def test_openapi_describes_the_pipeline_endpoints(admin: Api) -> None:
    spec = await admin.call("GET", "/api/openapi.json", 200)
    paths = spec["paths"]
    assert set(paths["/api/sites"]) == {"get", "post"}
    assert "get" in paths["/api/sites/{id}"]
    assert "post" in paths["/api/sites/{id}/domains"]
    assert "delete" in paths["/api/sites/{id}/domains/{hostname}"]
    assert set(paths["/api/deployments"]) == {"get", "post"} and "get" in paths["/api/deployments/{id}"]
    assert "post" in paths["/api/sites/{id}/live"]


@pytest.mark.parametrize("settings", [
    "strict", {"html": "raw"}, {"strict": "yes"}, {"base_url": "ftp://x"}, {"params": []}, {"colour": "red"},
])
async def test_bad_settings_are_400_and_change_nothing(admin: Api, settings: Any) -> None:
    body = {"name": "X", "slug": "x", "theme": "book", "settings": settings}
    err = await admin.call("POST", "/api/sites", 400, json=body)
    assert err["error"]["details"]["field"] == "settings"
    site = await admin.site("ok")
    err = await admin.call("PATCH", f"/api/sites/{site['id']}", 400, json={"settings": settings})
    assert (await admin.call("GET", f"/api/sites/{site['id']}", 200))["settings"] == {}
    assert await audit_actions(admin) == ["site.created"]


async def test_patch_changes_fields_for_the_next_deployment(admin: Api, client: Any, token: Callable[..., Headers],
                                                            ws: uuid.UUID) -> None:
    body = {"name": "X", "slug": "x", "theme": "book", "settings": {"html": "sanitize"}}
    site = await admin.call("POST", "/api/sites", 201, json=body)
    assert site["settings"] == {"html": "sanitize"}
    changed = await admin.call("PATCH", f"/api/sites/{site['id']}", 200, json={
        "name": "Renamed", "theme": "base", "settings": {"strict": True, "params": {"footer": "hi"}}})
    assert changed["name"] == "Renamed" and changed["theme"] == "base"
    assert changed["settings"] == {"strict": True, "params": {"footer": "hi"}} and changed["slug"] == "x"
    assert await audit_actions(admin) == ["site.created", "site.updated"]
    for bad in ({"slug": "y"}, {}, {"theme": "nope"}, {"root": "../x"}):
        await admin.call("PATCH", f"/api/sites/{site['id']}", 400, json=bad)
    reader = Api(client, token(ws, "writer"))
    await reader.call("PATCH", f"/api/sites/{site['id']}", 403, json={"name": "no"})
    await admin.call("PATCH", f"/api/sites/{uuid.uuid4()}", 404, json={"name": "no"})
