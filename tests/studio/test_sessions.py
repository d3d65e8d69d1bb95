"""Sign-in links, sessions, CSRF and roles through the real app."""

from __future__ import annotations

import re
import uuid
from typing import Any

from openbook.db import sessions as rows
from openbook.db.database import Database
from openbook.db.workspaces import create_workspace
from openbook.studio.credentials import COOKIE_NAME, Credential

from .conftest import Browser, SignIn


async def branch_names(database: Database, workspace_id: uuid.UUID) -> set[str]:
    from openbook.db.content import ContentRepository

    return {b.name for b in await ContentRepository(database, workspace_id).branches()}


async def test_a_link_signs_in_once_with_a_locked_down_cookie(api: Any, database: Database,
                                                              workspace_id: uuid.UUID) -> None:
    from openbook.studio.signin import make_login_link

    link = await make_login_link(database, workspace_id, "ada", "writer", "http://studio.test/")
    assert re.fullmatch(rf"http://studio\.test/studio/signin/{workspace_id}\.[A-Za-z0-9_-]{{43}}", link)
    path = link.removeprefix("http://studio.test")
    first = await api.get(path, allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == "/studio/"
    assert first.headers["Referrer-Policy"] == "no-referrer"
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}={workspace_id}.")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/studio/" in cookie
    again = await api.get(path, allow_redirects=False)
    assert again.status == 401 and "already used" in await again.text()
    assert "Set-Cookie" not in again.headers


async def test_expired_forged_and_foreign_links_sign_nobody_in(api: Any, database: Database,
                                                               workspace_id: uuid.UUID) -> None:
    expired = Credential.new(workspace_id)
    await rows.insert_login_link(database, workspace_id, expired.digest(), "ada", "admin", -1)
    other = await create_workspace(database, f"o-{uuid.uuid4().hex[:8]}", "other")
    moved = Credential(other.id, expired.secret)  # a real secret shown with another workspace's id
    for text in (str(expired), str(moved), f"{workspace_id}.{'A' * 43}", "not-a-link", "<script>"):
        resp = await api.get(f"/studio/signin/{text}", allow_redirects=False)
        assert resp.status in (401, 404), text
        assert "Set-Cookie" not in resp.headers or "Max-Age=0" in resp.headers["Set-Cookie"]


async def test_pages_need_a_session_and_carry_a_strict_policy(api: Any, sign_in: SignIn,
                                                              workspace_id: uuid.UUID) -> None:
    anonymous = await api.get("/studio/", allow_redirects=False)
    assert anonymous.status == 401 and "openbook login-link" in await anonymous.text()
    browser = await sign_in(workspace_id)
    resp, html = await browser.get("/studio/")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Cache-Control"] == "no-store"
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script"
    assert not re.search(r"\son[a-z]+=", html), "no inline event handlers"
    bogus = Browser(api, f"{workspace_id}.{'B' * 43}")
    assert (await bogus.get("/studio/"))[0].status == 401


async def test_every_post_needs_the_sessions_csrf_token(api: Any, sign_in: SignIn, database: Database,
                                                        workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id)
    other = await sign_in(workspace_id, sub="bob")
    assert other.csrf != browser.csrf
    for data, headers in [({"name": "x1"}, None),  # no token
                          ({"name": "x2", "csrf": "0" * 64}, None),  # wrong token
                          ({"name": "x3", "csrf": other.csrf}, None),  # another session's token
                          ({"name": "x4", "csrf": browser.csrf}, {"Origin": "http://evil.test"})]:
        resp, text = await browser.post("/studio/branches", data, csrf=False, headers=headers)
        assert resp.status == 403, text
        assert "nothing was changed" in text
    assert await branch_names(database, workspace_id) == {"main"}
    resp, _ = await browser.post("/studio/branches", {"name": "draft/one", "from": "main"})
    assert resp.status == 303 and resp.headers["Location"] == "/studio/tree?ref=draft%2Fone"
    assert await branch_names(database, workspace_id) == {"main", "draft/one"}


async def test_readers_see_no_controls_and_are_refused(sign_in: SignIn, database: Database,
                                                       workspace_id: uuid.UUID) -> None:
    reader = await sign_in(workspace_id, "reader", sub="rita")
    _, html = await reader.get("/studio/")
    assert "Create branch" not in html and "rita" in html and "reader" in html
    resp, text = await reader.post("/studio/branches", {"name": "sneaky"})
    assert resp.status == 403 and "write" in text
    assert await branch_names(database, workspace_id) == {"main"}


async def test_sign_out_ends_the_session_on_the_server(api: Any, sign_in: SignIn, database: Database,
                                                       workspace_id: uuid.UUID) -> None:
    browser = await sign_in(workspace_id)
    stolen = browser.cookie
    resp, text = await browser.post("/studio/signout", {})
    assert resp.status == 200 and "signed out" in text
    assert "Max-Age=0" in resp.headers["Set-Cookie"]
    assert (await Browser(api, stolen).get("/studio/"))[0].status == 401
    actions = [r["action"] async for r in _audit(database, workspace_id)]
    assert actions[:2] == ["session.ended", "session.started"]


async def _audit(database: Database, workspace_id: uuid.UUID) -> Any:
    from openbook.db.audit import list_entries
    from openbook.db.scopes import Tenant

    async with database.transaction(Tenant(workspace_id), readonly=True) as tx:
        entries = await list_entries(tx, 10)
    for entry in entries:
        yield entry


async def test_a_session_sees_its_own_workspace_only(api: Any, sign_in: SignIn, database: Database,
                                                     workspace_id: uuid.UUID) -> None:
    other = await create_workspace(database, f"o-{uuid.uuid4().hex[:8]}", "other")
    theirs = await sign_in(other.id)
    await theirs.post("/studio/branches", {"name": "secret-plan"})
    mine = await sign_in(workspace_id)
    _, html = await mine.get("/studio/")
    assert "secret-plan" not in html
    # My secret under their workspace id: no such session there.
    swapped = Browser(api, f"{other.id}.{mine.cookie.split('.', 1)[1]}")
    assert (await swapped.get("/studio/"))[0].status == 401
