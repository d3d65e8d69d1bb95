"""Sign-in links, sessions and sign-out (SPEC §13).

`openbook login-link` mints a one-time link (`make_login_link`); opening it
(`GET /studio/signin/<credential>`) uses it up, starts a session and sets the
session cookie: HttpOnly (no script reads it), SameSite=Lax (no other site's
form or fetch sends it), Secure when the request came over HTTPS, scoped to
/studio/. Signing out deletes the session's row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from openbook.api.auth import Principal
from openbook.config import DatabaseSettings
from openbook.db import sessions as rows
from openbook.db.database import Database
from openbook.errors import InvalidRequest, Unauthorized
from openbook.studio.credentials import (
    COOKIE_NAME,
    LINK_TTL_S,
    SESSION_TTL_S,
    Credential,
    csrf_token,
    is_role,
)

PREFIX = "/studio"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: who, in which workspace, with which role, until when."""

    credential: Credential
    sub: str
    role: str
    expires_at: datetime

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.credential.workspace_id

    @property
    def csrf(self) -> str:
        return csrf_token(self.credential)

    def principal(self) -> Principal:
        return Principal(sub=self.sub, workspace_id=self.workspace_id, roles=frozenset({self.role}))


async def make_login_link(db: Database, workspace_id: uuid.UUID, sub: str, role: str, base_url: str) -> str:
    """A one-time sign-in URL valid for LINK_TTL_S; InvalidRequest for a bad role or name."""
    if not is_role(role):
        raise InvalidRequest(f"unknown role {role!r}: reader, writer, publisher or admin", {"role": role})
    if not sub.strip() or len(sub) > 200 or not sub.isprintable():
        raise InvalidRequest("the name (--sub) must be 1 to 200 printable characters", {"sub": sub})
    link = Credential.new(workspace_id)
    await rows.insert_login_link(db, workspace_id, link.digest(), sub, role, LINK_TTL_S)
    return f"{base_url.rstrip('/')}{PREFIX}/signin/{link}"


async def login_link_cli(settings: DatabaseSettings, workspace_id: uuid.UUID, sub: str, role: str,
                         base_url: str) -> str:
    db = await Database.open(settings)
    try:
        return await make_login_link(db, workspace_id, sub, role, base_url)
    finally:
        await db.close()


async def sign_in(db: Database, text: str) -> Session:
    """Redeem the link credential `text`; Unauthorized for a malformed, unknown, used or expired one."""
    link = Credential.parse(text)
    if link is None:
        raise Unauthorized("this sign-in link is not valid; ask for a new one")
    session = Credential.new(link.workspace_id)
    row = await rows.redeem_login_link(db, link.workspace_id, link.digest(), session.digest(), SESSION_TTL_S)
    return Session(session, row.sub, row.role, row.expires_at)


async def current_session(db: Database, request: web.Request) -> Session | None:
    """The session the request's cookie names, if it is live."""
    credential = Credential.parse(request.cookies.get(COOKIE_NAME))
    if credential is None:
        return None
    row = await rows.load_session(db, credential.workspace_id, credential.digest())
    return None if row is None else Session(credential, row.sub, row.role, row.expires_at)


async def sign_out(db: Database, session: Session) -> None:
    await rows.delete_session(db, session.workspace_id, session.credential.digest())


SESSION = web.RequestKey("studio_session", Session)


def set_cookie(response: web.StreamResponse, request: web.Request, session: Session) -> None:
    response.set_cookie(COOKIE_NAME, str(session.credential), max_age=SESSION_TTL_S, path=f"{PREFIX}/",
                        httponly=True, samesite="Lax", secure=request.secure)


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path=f"{PREFIX}/")
