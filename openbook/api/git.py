"""Smart HTTP git at /git/<workspace-slug>.git (SPEC §12): clone, fetch, pull and push.

Three routes, as `git http-backend` serves them: `GET info/refs?service=...`
(the advertisement), `POST git-upload-pack` (fetch) and `POST
git-receive-pack` (push). Credentials: HTTP Basic with a token as the
password (any user name; a token given as the user name with an empty
password also works) or `Authorization: Bearer`. `reader` fetches, `writer`
pushes; another workspace's slug is 404, exactly like an unknown one.

Errors become HTTP in `openbook.api.errors` like everywhere else (a 401 here
also carries `WWW-Authenticate: Basic`, which makes git ask for credentials).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import uuid

from aiohttp import web
from dulwich.errors import GitProtocolError, HangupException
from dulwich.protocol import Protocol

from openbook.api import openapi
from openbook.api.auth import Permission, Principal, decode_token
from openbook.api.deployments import sender, unlink_previews
from openbook.api.gitserver import PushLimits, ReceivePack, SidebandProtocol, UploadPack, backend
from openbook.api.keys import DATABASE, SETTINGS
from openbook.db.gitremote import GitRemote
from openbook.db.workspaces import workspace_by_slug, workspace_exists
from openbook.errors import Forbidden, InvalidRequest, NotFound, TooLarge, Unauthorized
from openbook.pipeline.bridge import Bridge

log = logging.getLogger("openbook.api")

SERVICES = {"git-upload-pack": "read", "git-receive-pack": "write"}
NO_CACHE = {"Cache-Control": "no-cache, max-age=0, must-revalidate", "Pragma": "no-cache",
            "Expires": "Fri, 01 Jan 1980 00:00:00 GMT"}
REPO = r"{repo:[a-z0-9][a-z0-9-]{0,62}(?:\.git)?}"
WRITE_FLUSH_BYTES = 256 * 1024


def _token(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        if password or user:
            return password or user
    raise Unauthorized("git needs credentials: a token as the password of HTTP Basic, or Authorization: Bearer")


async def _open(request: web.Request, permission: Permission) -> tuple[GitRemote, Principal]:
    """Authenticate, find the workspace of the URL (404 unless it is the token's), check the role."""
    db = request.app[DATABASE]
    jwt = request.app[SETTINGS].jwt
    assert jwt is not None
    who = decode_token(_token(request), jwt)
    slug = request.match_info["repo"].removesuffix(".git")
    workspace: uuid.UUID | None = await workspace_by_slug(db, slug)
    if workspace != who.workspace_id:
        if not await workspace_exists(db, who.workspace_id):
            raise Unauthorized("invalid token: unknown workspace")
        raise NotFound(f"no repository {slug!r}", {"repository": slug})
    if permission not in who.permissions():
        raise Forbidden(f"git {'push' if permission == 'write' else 'fetch'} needs the"
                        f" {'writer' if permission == 'write' else 'reader'} role; token roles: {sorted(who.roles)}")
    return GitRemote(db, who.workspace_id, notify=sender(request.app, who.workspace_id)), who


async def _body(request: web.Request, limit: int) -> bytes:
    """The whole request body (aiohttp has undone a gzip Content-Encoding); TooLarge past `limit`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"git request over {limit:,} bytes: push in several parts", {"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


async def info_refs(request: web.Request) -> web.Response:
    service = request.query.get("service", "")
    if service not in SERVICES:
        raise InvalidRequest("only the smart HTTP protocol is served: ?service=git-upload-pack or git-receive-pack")
    remote, who = await _open(request, "read" if service == "git-upload-pack" else "write")
    refs = await remote.refs()
    out = io.BytesIO()
    proto = Protocol(io.BytesIO().read, out.write)
    proto.write_pkt_line(f"# service={service}\n".encode())
    proto.write_pkt_line(None)
    serving = backend(remote, refs, Bridge(asyncio.get_running_loop()))
    if service == "git-upload-pack":
        UploadPack(serving, ["/"], proto, stateless_rpc=True, advertise_refs=True).handle()
    else:
        ReceivePack(serving, ["/"], proto, body_rest=lambda: b"", actor=who.sub, limits=PushLimits(0, 0),
                    advertise_refs=True).handle()
    return web.Response(body=out.getvalue(), headers={**NO_CACHE,
                        "Content-Type": f"application/x-{service}-advertisement"})


class _Streamer:
    """The handler thread's writes, sent to the client in large pieces as they come."""

    def __init__(self, request: web.Request, response: web.StreamResponse, bridge: Bridge) -> None:
        self.request = request
        self.response = response
        self.bridge = bridge
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= WRITE_FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        self.bridge.run(self._send())

    async def _send(self) -> None:
        if not self.response.prepared:
            await self.response.prepare(self.request)
        data, self.buffer = bytes(self.buffer), bytearray()
        if data:
            await self.response.write(data)


async def upload_pack(request: web.Request) -> web.StreamResponse:
    remote, _ = await _open(request, "read")
    body = await _body(request, request.app[SETTINGS].max_body_bytes)
    refs = await remote.refs()
    bridge = Bridge(asyncio.get_running_loop())
    response = web.StreamResponse(headers={**NO_CACHE, "Content-Type": "application/x-git-upload-pack-result"})
    streamer = _Streamer(request, response, bridge)
    handler = UploadPack(backend(remote, refs, bridge), ["/"],
                         SidebandProtocol(io.BytesIO(body).read, streamer.write), stateless_rpc=True)
    try:
        await asyncio.to_thread(handler.handle)
    except (GitProtocolError, HangupException) as exc:
        if not response.prepared:
            raise InvalidRequest(f"git protocol error: {exc}") from None
        log.warning("git upload-pack stopped mid-answer: %s", exc)
        return response
    await streamer._send()
    await response.write_eof()
    return response


async def receive_pack(request: web.Request) -> web.Response:
    remote, who = await _open(request, "write")
    settings = request.app[SETTINGS]
    body = io.BytesIO(await _body(request, settings.git_max_pack_bytes))
    out = io.BytesIO()
    limits = PushLimits(settings.max_body_bytes, settings.git_max_inflated_bytes)
    # No refs: a stateless push advertises nothing, and each ref is checked against the branch itself.
    handler = ReceivePack(backend(remote, {}, Bridge(asyncio.get_running_loop())), ["/"],
                          Protocol(body.read, out.write), body_rest=body.read, actor=who.sub, limits=limits)
    try:
        await asyncio.to_thread(handler.handle)
    except (GitProtocolError, HangupException) as exc:
        raise InvalidRequest(f"git protocol error: {exc}") from None
    await unlink_previews(request.app, who.workspace_id, handler.outcome.removed_previews)
    return web.Response(body=out.getvalue(), headers={**NO_CACHE,
                        "Content-Type": "application/x-git-receive-pack-result"})


REPO_PARAM = {"repo": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}(\\.git)?$",
                       "description": "the workspace slug, with or without .git"}}
GIT_AUTH = " Credentials: HTTP Basic with the token as the password (any user name), or Bearer (docs/git.md)."


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get(f"/git/{REPO}/info/refs", info_refs)
    r.add_post(f"/git/{REPO}/git-upload-pack", upload_pack)
    r.add_post(f"/git/{REPO}/git-receive-pack", receive_pack)
    openapi.document("get", "/git/{repo}/info/refs", "git smart HTTP: refs advertisement." + GIT_AUTH,
                     role="reader (writer for git-receive-pack)", path_params=REPO_PARAM,
                     params=[openapi.query("service", "git-upload-pack or git-receive-pack", required=True,
                                           schema={"enum": list(SERVICES)})],
                     responses={200: ("pkt-lines", {"type": "string"}), 404: "not_found"},
                     media="application/x-git-upload-pack-advertisement")
    openapi.document("post", "/git/{repo}/git-upload-pack", "git smart HTTP: fetch and clone." + GIT_AUTH,
                     role="reader", path_params=REPO_PARAM,
                     responses={200: ("pkt-lines and a pack", {"type": "string"}), 404: "not_found"},
                     media="application/x-git-upload-pack-result")
    openapi.document("post", "/git/{repo}/git-receive-pack", "git smart HTTP: push." + GIT_AUTH,
                     role="writer", path_params=REPO_PARAM,
                     responses={200: ("report-status pkt-lines", {"type": "string"}), 404: "not_found",
                                413: "too_large"},
                     media="application/x-git-receive-pack-result")
