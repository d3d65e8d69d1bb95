"""`Idempotency-Key` on POSTs that change things: the first answer is replayed to a retry.

A client that got a timeout or a 503 cannot know whether its commit landed;
sent again with the same key and body, the request answers what the first one
did (`Idempotent-Replayed: true`) instead of committing twice. The answer is
stored in the effect's own transaction (`openbook.db.idempotency`), kept 24
hours per workspace. The same key with another method, path or body is 422
`idempotency_mismatch`. Requests that fail store nothing, so a retry runs again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from openbook.api.auth import PRINCIPAL
from openbook.api.keys import DATABASE
from openbook.db.database import Tx
from openbook.db.idempotency import OnEffect, StoredAnswer, lookup, no_effect_hook, store
from openbook.errors import IdempotencyMismatch, InvalidRequest, KeyTaken

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Guard:
    key: str
    fingerprint: str


GUARD = web.RequestKey("idempotency_guard", Guard)


def _key(request: web.Request) -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_KEY or not raw.isascii() or not raw.isprintable():
        raise InvalidRequest(f"{HEADER} must be 1 to {MAX_KEY} printable ASCII characters", {"header": HEADER})
    return raw


def _replay(stored: StoredAnswer, fingerprint: str, key: str) -> web.Response:
    if stored.fingerprint != fingerprint:
        raise IdempotencyMismatch(f"{HEADER} {key!r} was used for another request (method, path or body differ)",
                                  {"key": key})
    response = web.json_response(stored.body, status=stored.status)
    response.headers[REPLAYED] = "true"
    return response


def idempotent(handler: Handler) -> Handler:
    """Wrap a POST handler: replay a stored answer, or let the handler store its own (see `on_effect`)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        key = _key(request)
        if key is None:
            return await handler(request)
        who = request[PRINCIPAL]
        body = await request.read()
        fingerprint = hashlib.sha256(b"\0".join([request.method.encode(), request.path.encode(), body])).hexdigest()
        db = request.app[DATABASE]
        stored = await lookup(db, who.workspace_id, key)
        if stored is not None:
            return _replay(stored, fingerprint, key)
        request[GUARD] = Guard(key, fingerprint)
        try:
            return await handler(request)
        except KeyTaken:
            # A concurrent request with this key won; our effect rolled back with the lost race.
            stored = await lookup(db, who.workspace_id, key)
            assert stored is not None
            return _replay(stored, fingerprint, key)

    return wrapped


def on_effect(request: web.Request, status: int, answer: Callable[[T], Any]) -> OnEffect[T]:
    """The hook a handler gives its repository: stores `(status, answer(result))` with the effect."""
    guard = request.get(GUARD)
    if guard is None:
        return no_effect_hook

    async def hook(tx: Tx, result: T) -> None:
        await store(tx, guard.key, guard.fingerprint, status, answer(result))

    return hook
