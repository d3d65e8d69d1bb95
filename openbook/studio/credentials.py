"""Sign-in secrets, CSRF tokens and roles of the web studio (pure: no I/O).

A sign-in link and a session cookie each carry a *credential*
`<workspace_id>.<secret>`: the workspace says which tenant's rows to look in
(so every lookup is an ordinary tenant transaction under row-level security),
the secret is 32 random bytes of which the database keeps only the SHA-256
digest. A secret shown with another workspace's id finds no row.

The CSRF token of a session is an HMAC of a fixed label with the session's
secret: it needs no storage, differs per session, and cannot be derived from
anything a page or another site can read (the cookie is HttpOnly).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from openbook.api.auth import ROLE_PERMISSIONS, Permission

SECRET_BYTES = 32
LINK_TTL_S = 600  # SPEC §13: a sign-in link is valid for 10 minutes
SESSION_TTL_S = 12 * 3600  # a working day; signing out ends it sooner
COOKIE_NAME = "openbook_studio"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_LABEL = b"openbook-studio-csrf-v1"
_CREDENTIAL_RE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class Credential:
    """A workspace id and a secret; `str()` is the form put in links and cookies."""

    workspace_id: uuid.UUID
    secret: str

    @classmethod
    def new(cls, workspace_id: uuid.UUID) -> Credential:
        return cls(workspace_id, secrets.token_urlsafe(SECRET_BYTES))

    @classmethod
    def parse(cls, text: str | None) -> Credential | None:
        """The credential written in `text`, or None for anything malformed."""
        match = _CREDENTIAL_RE.fullmatch(text or "")
        if match is None:
            return None
        return cls(uuid.UUID(match.group(1)), match.group(2))

    def digest(self) -> bytes:
        return hashlib.sha256(self.secret.encode()).digest()

    def __str__(self) -> str:
        return f"{self.workspace_id}.{self.secret}"


def csrf_token(session: Credential) -> str:
    """The CSRF token every form and fetch of this session must send back."""
    return hmac.new(session.secret.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_matches(session: Credential, sent: str | None) -> bool:
    """Whether `sent` is this session's CSRF token (constant-time)."""
    return sent is not None and hmac.compare_digest(csrf_token(session).encode(), sent.encode("utf-8", "replace"))


def same_origin(origin: str | None, scheme: str, host: str) -> bool:
    """Whether a request's Origin header (when the browser sent one) names this server.

    Browsers send Origin on every cross-site POST; a mismatch is refused even
    with a valid token (defence in depth). No header: older clients, allowed.
    """
    if origin is None:
        return True
    return origin == f"{scheme}://{host}"


def role_permissions(role: str) -> frozenset[Permission]:
    """What a studio role may do: exactly what the same role may do through the API (SPEC §4)."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def is_role(role: str) -> bool:
    return role in ROLE_PERMISSIONS
