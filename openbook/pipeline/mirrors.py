"""The mirror sync loop (in the worker): fetch what is due from its external repository, then import it.

One mirror at a time per worker: claim (a lease), check the host, fetch with
dulwich's git client in a thread (smart HTTP, bounded by a timeout; the pack
read whole and bounded as a push's is), then `GitRemote.sync_branch`, which
creates, fast-forwards or merges the branch, or leaves it and puts the
external commit on `sync-conflict/<n>`. Every sync ends with `finish`, which
logs it; a failed one is retried at the next request (hook or API).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dulwich.client import HTTPUnauthorized, get_transport_and_path
from dulwich.config import ConfigDict
from dulwich.errors import GitProtocolError, HangupException
from dulwich.object_store import ObjectStoreGraphWalker
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from yarl import URL

from openbook.config import Settings
from openbook.db import mirrors
from openbook.db.database import Database
from openbook.db.deployments import Queued
from openbook.db.gitremote import GitRemote, Synced
from openbook.errors import MirrorFailed, PushRefused, TargetRefused, Unavailable
from openbook.gitmap.objects import GitId, GitObject
from openbook.gitmap.pack import ResolveBase, read_pack
from openbook.pipeline.bridge import Bridge
from openbook.pipeline.targets import refusal

log = logging.getLogger("openbook.mirrors")

POLL_S = 1.0
LEASE_S = 600.0
FETCH_TIMEOUT_S = 60
MAX_OUTAGE_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class Limits:
    allow_private: bool
    max_file_bytes: int
    max_pack_bytes: int
    max_inflated_bytes: int


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.webhooks.allow_private, settings.max_body_bytes, settings.git_max_pack_bytes,
                  settings.git_max_inflated_bytes)


async def check_host(url: str, allow_private: bool) -> None:
    """TargetRefused when the URL's host resolves to any address that is not public (unless allowed)."""
    if allow_private:
        return
    host = URL(url).host or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise MirrorFailed(f"cannot resolve {host}: {exc}") from None
    for *_, sockaddr in found:
        ip = ipaddress.ip_address(sockaddr[0])
        reason = refusal(ip)
        if reason is not None:
            raise TargetRefused(f"{host} resolves to {ip}, {reason}; mirrors fetch from public addresses only"
                                " (WEBHOOK_ALLOW_PRIVATE=1 allows private ones)")


def fetch(url: str, ref: str, haves: list[GitId], known: Callable[[GitId], bool], resolve_base: ResolveBase,
          limits: Limits) -> tuple[GitId, dict[GitId, GitObject]]:
    """The commit `ref` names at `url`, and the objects fetched for it (none when it is `known`).

    Synchronous (dulwich's client): run it in a thread. Raises MirrorFailed,
    and PushRefused for a pack that is not whole or over the limits.
    """
    config = ConfigDict()
    config.set((b"http",), b"timeout", str(FETCH_TIMEOUT_S).encode())
    target: list[GitId] = []
    data = io.BytesIO()

    def determine_wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
        sha = refs.get(Ref(ref.encode()))
        if sha is None:
            raise MirrorFailed(f"{url} has no {ref}")
        target.append(GitId(sha.decode()))
        return [] if known(target[0]) else [ObjectID(sha)]

    def take(chunk: bytes) -> int:
        if data.tell() + len(chunk) > limits.max_pack_bytes:
            raise MirrorFailed(f"{url} sends a pack over {limits.max_pack_bytes:,} bytes")
        return data.write(chunk)

    walker = ObjectStoreGraphWalker([ObjectID(h.encode()) for h in haves], lambda sha: [])
    try:
        client, path = get_transport_and_path(url, config=config, quiet=True)
        client.fetch_pack(path, determine_wants, walker, take)
    except (GitProtocolError, HangupException, HTTPUnauthorized, OSError) as exc:
        raise MirrorFailed(f"fetching {url}: {type(exc).__name__}: {exc}") from None
    if not target:
        raise MirrorFailed(f"{url} advertised no refs")
    pack = data.getvalue()
    pushed = read_pack(pack, resolve_base=resolve_base, max_object_bytes=limits.max_file_bytes,
                       max_total_bytes=limits.max_inflated_bytes) if pack else {}
    return target[0], pushed


async def _outbox_sends(queued: list[Queued]) -> None:
    """Deployments a sync queues are sent by the outbox relay (this process runs one)."""


async def sync_one(db: Database, claim: mirrors.SyncClaim, limits: Limits) -> Synced | None:
    """Sync one claimed mirror and log it; the outcome, or None when it failed (its error logged)."""
    remote = GitRemote(db, claim.workspace_id, notify=_outbox_sends, via="mirror")
    bridge = Bridge(asyncio.get_running_loop())

    def known(gid: GitId) -> bool:
        return bool(bridge.run(remote.commits_known([gid])))

    def resolve_base(gid: GitId) -> GitObject | None:
        return bridge.run(remote.object(gid))

    source = f"{claim.url} {claim.ref}"
    try:
        await check_host(claim.url, limits.allow_private)
        heads = await remote.refs()
        haves = [g for g in (claim.synced_commit, heads.get(claim.branch)) if g is not None]
        external, pushed = await asyncio.to_thread(fetch, claim.url, claim.ref, haves, known, resolve_base, limits)
        synced = await remote.sync_branch(claim.branch, external, pushed, f"mirror:{claim.mirror_id}",
                                          limits.max_file_bytes, source)
    except (MirrorFailed, PushRefused, TargetRefused) as exc:
        log.warning("mirror %s: %s", claim.mirror_id, exc.message)
        await mirrors.finish(db, claim, "failed", {"error": exc.message}, None, exc.message)
        return None
    details = {"branch": claim.branch, "commit": synced.commit, "git_commit": external}
    if synced.conflict_branch is not None:
        details["conflict_branch"] = synced.conflict_branch
    await mirrors.finish(db, claim, synced.outcome, details, external, None)
    return synced


class MirrorSync:
    """The loop; `run()` until cancelled. Outages are logged and retried with backoff, never raised."""

    def __init__(self, db: Database, limits: Limits) -> None:
        self._db = db
        self._limits = limits

    async def run(self) -> None:
        delay = POLL_S
        while True:
            try:
                claims = await mirrors.claim_due(self._db, 1, LEASE_S)
                for claim in claims:
                    await sync_one(self._db, claim, self._limits)
                delay = POLL_S
            except Unavailable as exc:
                # A claimed mirror stays leased; it is due again when the lease lapses.
                log.warning("mirror sync: %s (retrying in %.1fs)", exc.message, delay)
                delay = min(delay * 2, MAX_OUTAGE_DELAY_S)
                claims = []
            if not claims:
                await asyncio.sleep(delay)
