"""The deployment stream in Redis: publish ids, read them as a consumer group, ACK, dead-letter.

Redis is the signal, PostgreSQL the record: anything sent here can be re-sent
from the outbox, so a lost message is at worst a delay. Every Redis or socket
failure becomes `Unavailable` here; a stream or group that Redis lost (a
restart without persistence) is re-created, and the read that met it returns
nothing, so callers only ever see entries or `Unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from openbook.config import RedisSettings
from openbook.errors import Unavailable

STREAM = "deployments_stream"
GROUP = "deployment_group"
DEAD_LETTER_STREAM = "deployments_dead"
# XREADGROUP blocks this long; the socket timeout must exceed it (redis-py
# otherwise retries the blocked read for ~15 s before raising).
BLOCK_MS = 2000
SOCKET_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id and the deployment id it carries (as sent; may be malformed)."""

    id: str
    deployment_id: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one XAUTOCLAIM call took over, and where the next call starts ("0-0": done)."""

    entries: list[Entry]
    cursor: str

    @property
    def done(self) -> bool:
        return self.cursor == "0-0"


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError, TimeoutError) as exc:
        raise Unavailable(f"Redis is unavailable ({what}): {type(exc).__name__}: {exc}",
                          {"backend": "redis"}) from exc


def _entries(reply: Any) -> list[Entry]:
    """Entries of our one stream from an XREADGROUP reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    streams: Iterable[Any] = reply.items() if isinstance(reply, dict) else reply
    return [_entry(entry_id, fields) for _name, items in streams for entry_id, fields in items]


def _entry(entry_id: str, fields: dict[str, str] | None) -> Entry:
    # A deleted entry comes back with no fields: it carries no deployment.
    return Entry(str(entry_id), str((fields or {}).get("deployment_id", "")))


class DeploymentStream:
    """The Redis client and every operation OpenBook does on the deployment stream."""

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._client = aioredis.Redis(
            host=settings.host,
            port=settings.port,
            password=settings.password or None,
            db=settings.db,
            socket_connect_timeout=settings.connect_timeout_s,
            socket_timeout=SOCKET_TIMEOUT_S,
            decode_responses=True,
            # One immediate retry re-opens a stale pooled connection; longer waits are the
            # callers' (relay, consumer) backoff, so an outage is reported at once.
            retry=Retry(NoBackoff(), 1),
        )

    @property
    def target(self) -> str:
        """Which Redis server and database this is, for noticing that one restarted."""
        return f"{self.settings.host}:{self.settings.port}/{self.settings.db}"

    async def close(self) -> None:
        await self._client.aclose()

    async def wait_until_ready(self, wait_s: float) -> None:
        """Ping until Redis answers or `wait_s` passes (then Unavailable)."""
        deadline = time.monotonic() + wait_s
        delay = 0.2
        while True:
            try:
                await self.ping()
                return
            except Unavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise Unavailable(f"Redis did not answer within {wait_s:.0f}s: {exc.message}",
                                      {"backend": "redis"}) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def ping(self) -> None:
        with _translated("PING"):
            await self._client.ping()

    async def run_id(self) -> str:
        """The server's run id: it changes when Redis restarts (and, without persistence, forgets)."""
        with _translated("INFO"):
            info = await self._client.info("server")
        return str(info["run_id"])

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group when missing (also after Redis lost them)."""
        with _translated("XGROUP CREATE"):
            try:
                await self._client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def publish(self, deployment_id: str) -> str:
        """XADD one deployment id; the entry id. Never trimmed: MAXLEN would drop unacknowledged entries."""
        with _translated("XADD"):
            return str(await self._client.xadd(STREAM, {"deployment_id": deployment_id}))

    async def _group_call(self, what: str, call: Any) -> Any:
        """Run a consumer-group command; a lost group is re-created and the call answers nothing."""
        with _translated(what):
            try:
                return await call
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
        await self.ensure_group()
        return None

    async def read_own_pending(self, consumer: str, after: str, count: int = 10) -> list[Entry]:
        """Entries delivered to `consumer` earlier but never ACKed (a previous life), after id `after`."""
        reply = await self._group_call("XREADGROUP 0", self._client.xreadgroup(
            GROUP, consumer, {STREAM: after}, count=count))
        return _entries(reply)

    async def read_new(self, consumer: str, block_ms: int, count: int = 1) -> list[Entry]:
        """New entries for `consumer`, waiting up to `block_ms` for one."""
        reply = await self._group_call("XREADGROUP >", self._client.xreadgroup(
            GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms))
        return _entries(reply)

    async def claim_idle(self, consumer: str, idle_ms: int, cursor: str, count: int = 10) -> Claimed:
        """XAUTOCLAIM entries idle over `idle_ms` for `consumer`, from `cursor`."""
        reply = await self._group_call("XAUTOCLAIM", self._client.xautoclaim(
            STREAM, GROUP, consumer, idle_ms, start_id=cursor, count=count))
        if reply is None:
            return Claimed([], "0-0")
        return Claimed([_entry(i, f) for i, f in reply[1]], str(reply[0]))

    async def pending_count(self) -> int:
        """Entries delivered to a consumer and not yet acknowledged (the group's whole backlog in flight)."""
        reply = await self._group_call("XPENDING", self._client.xpending(STREAM, GROUP))
        return 0 if reply is None else int(reply["pending"])

    async def ack(self, entry_id: str) -> None:
        await self._group_call("XACK", self._client.xack(STREAM, GROUP, entry_id))

    async def dead_letter(self, entry: Entry, reason: str, consumer: str) -> None:
        """Copy the entry to the dead-letter stream with the reason, then ACK it."""
        with _translated("XADD dead letter"):
            await self._client.xadd(DEAD_LETTER_STREAM, {"entry_id": entry.id, "deployment_id": entry.deployment_id,
                                                         "reason": reason, "consumer": consumer})
        await self.ack(entry.id)
