"""The studio against the real app (real PostgreSQL and Redis): sign-in helpers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from openbook.db.database import Database
from openbook.studio.credentials import COOKIE_NAME
from openbook.studio.signin import make_login_link

CSRF_RE = re.compile(r'<meta name="csrf-token" content="([0-9a-f]{64})">')


class Browser:
    """One signed-in person: the session cookie, the CSRF token, and requests that send them."""

    def __init__(self, api: Any, cookie: str) -> None:
        self.api = api
        self.cookie = cookie
        self.csrf = ""

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # The test client keeps cookies it was sent; each Browser sends its own cookie only.
        self.api.session.cookie_jar.clear()
        return {"Cookie": f"{COOKIE_NAME}={self.cookie}", **(extra or {})}

    async def get(self, path: str, **kw: Any) -> Any:
        resp = await self.api.get(path, headers=self.headers(kw.pop("headers", None)), allow_redirects=False, **kw)
        text = await resp.text(errors="replace")
        found = CSRF_RE.search(text)
        if found:
            self.csrf = found.group(1)
        return resp, text

    async def post(self, path: str, data: Any = None, *, csrf: bool = True, **kw: Any) -> Any:
        if isinstance(data, dict) and csrf:
            data = {"csrf": self.csrf, **data}
        resp = await self.api.post(path, data=data, headers=self.headers(kw.pop("headers", None)),
                                   allow_redirects=False, **kw)
        return resp, await resp.text()

    async def post_json(self, path: str, body: Any) -> Any:
        resp = await self.api.post(path, json=body, allow_redirects=False, headers=self.headers(
            {"X-CSRF-Token": self.csrf, "Accept": "application/json"}))
        return resp, await resp.json()


SignIn = Callable[..., Awaitable[Browser]]


@pytest.fixture
def sign_in(api: Any, database: Database) -> SignIn:
    """`await sign_in(workspace_id, role)` → a Browser with a live session (its CSRF token read from /studio/)."""

    async def go(workspace_id: uuid.UUID, role: str = "writer", sub: str = "ada") -> Browser:
        link = await make_login_link(database, workspace_id, sub, role, "http://studio.test")
        resp = await api.get(link.removeprefix("http://studio.test"), allow_redirects=False)
        assert resp.status == 303, await resp.text()
        browser = Browser(api, resp.cookies[COOKIE_NAME].value)
        page, _ = await browser.get("/studio/")
        assert page.status == 200 and browser.csrf
        return browser

    return go
