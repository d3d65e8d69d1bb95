"""JWT authentication, roles, and the workspace every query is filtered by."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from aiohttp import web

from openbook.api.bodies import find_bad_text
from openbook.api.errors import Handler
from openbook.config import JwtSettings
from openbook.errors import Forbidden, Unauthorized

Permission = Literal["read", "write", "publish", "admin"]

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "reader": frozenset({"read"}),
    "writer": frozenset({"read", "write"}),
    "publisher": frozenset({"read", "publish"}),
    "admin": frozenset({"read", "write", "publish", "admin"}),
}
ROLES = tuple(ROLE_PERMISSIONS)
TIME_CLAIMS = ("exp", "iat", "nbf")


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    workspace_id: uuid.UUID
    roles: frozenset[str]

    def permissions(self) -> frozenset[Permission]:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS.get(role, frozenset())
        return frozenset(granted)


PRINCIPAL = web.RequestKey("principal", Principal)


def decode_token(token: str, settings: JwtSettings) -> Principal:
    """Verify signature, expiry and claims with the configured algorithm only."""
    options: dict[str, Any] = {"require": ["exp", "sub", "workspace_id", "roles"]}
    if settings.issuer:
        options["require"].append("iss")
    if settings.audience:
        options["require"].append("aud")
    try:
        claims = jwt.decode(
            token,
            settings.key,
            algorithms=[settings.algorithm],
            issuer=settings.issuer,
            audience=settings.audience,
            options=options,  # type: ignore[arg-type]
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    for name in TIME_CLAIMS:
        # PyJWT reads these with int(), which also takes "1700000000"; RFC 7519 says a number.
        if name in claims and (not isinstance(claims[name], int | float) or isinstance(claims[name], bool)):
            raise Unauthorized(f"invalid token: {name} must be a number (NumericDate)")
    bad = find_bad_text(claims)
    if bad is not None:
        # Claims end up in rows (author, actor): text PostgreSQL cannot store is a bad token, not a 500.
        raise Unauthorized(f"invalid token: claim {bad[0]}: {bad[1]}")
    sub, ws, roles = claims["sub"], claims["workspace_id"], claims["roles"]
    if not isinstance(sub, str) or not sub:
        raise Unauthorized("invalid token: sub must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("invalid token: roles must be a list of strings")
    try:
        workspace_id = uuid.UUID(str(ws))
    except ValueError as exc:
        raise Unauthorized("invalid token: workspace_id must be a uuid") from exc
    return Principal(sub=sub, workspace_id=workspace_id, roles=frozenset(roles))


def mint_token(settings: JwtSettings, workspace_id: uuid.UUID, sub: str, roles: Iterable[str],
               ttl_s: int, now: float) -> str:
    claims: dict[str, Any] = {
        "sub": sub,
        "workspace_id": str(workspace_id),
        "roles": list(roles),
        "iat": int(now),
        "exp": int(now) + ttl_s,
    }
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.audience:
        claims["aud"] = settings.audience
    return jwt.encode(claims, settings.key, algorithm=settings.algorithm)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def require(request: web.Request, permission: Permission) -> Principal:
    """The caller's principal, or Forbidden when none of its roles grants `permission`."""
    who = request[PRINCIPAL]
    if permission not in who.permissions():
        raise Forbidden(f"this action needs the {permission!r} permission; token roles: {sorted(who.roles)}")
    return who


def auth_middleware(settings: JwtSettings, workspace_exists: Any) -> Any:
    """Guard every /api route; `workspace_exists(uuid) -> Awaitable[bool]` checks the tenant."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing Authorization: Bearer token")
        who = decode_token(token.strip(), settings)
        if not await workspace_exists(who.workspace_id):
            raise Unauthorized("invalid token: unknown workspace")
        request[PRINCIPAL] = who
        return await handler(request)

    return middleware
