"""The Redis Streams side of the worker: read, reclaim, ACK, dead-letter.

At start the consumer re-reads its own pending entries (`XREADGROUP ... 0`),
then new ones (`>`), one at a time. Every `claim_idle_ms / 2` it follows
`XAUTOCLAIM`'s cursor to take over entries another (dead) consumer left
idle. An entry is ACKed only once its deployment is terminal. A lost stream
or group (Redis restarted empty) is re-created; lost connections are retried
with backoff. `stop` ends the loop between deployments, never during one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from openbook.stream.deployments import BLOCK_MS, DEAD_LETTER_STREAM, GROUP, STREAM, ensure_group
from openbook.worker.deploy import Context, Verdict, run_deployment

log = logging.getLogger("openbook.worker")

Entry = tuple[str, dict[str, str] | None]
MAX_BACKOFF_S = 5.0
MAX_LOCAL_RETRIES = 3


def _entries(reply: Any) -> list[Entry]:
    """Entries of our one stream from an XREADGROUP reply (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    streams: Iterable[Any] = reply.items() if isinstance(reply, dict) else reply
    out: list[Entry] = []
    for _name, items in streams:
        for entry_id, fields in items:
            out.append((entry_id, fields))
    return out


class Consumer:
    def __init__(self, ctx: Context, redis: aioredis.Redis, claim_idle_ms: int, stop: asyncio.Event) -> None:
        self.ctx = ctx
        self.redis = redis
        self.claim_idle_ms = claim_idle_ms
        self.stop = stop
        self.processed = 0
        self._next_claim = 0.0
        self._backoff = 0.2

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _redis_call(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
            log.warning("stream or group missing (Redis restarted?); re-creating it")
            try:
                await ensure_group(self.redis)
                return
            except (RedisError, OSError) as again:
                exc = again
        log.warning("%s failed: %s: %s (retrying in %.1fs)", what, type(exc).__name__, exc, self._backoff)
        await self._sleep(self._backoff)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)

    async def handle(self, entry_id: str, fields: dict[str, str] | None) -> None:
        """Process one entry until it is ACKed, left to its lease holder, or we are stopping."""
        raw = (fields or {}).get("deployment_id", "")
        try:
            deployment_id = uuid.UUID(raw)
        except ValueError:
            await self._dead_letter(entry_id, raw, "malformed entry")
            return
        delay = 0.2
        unexpected = 0
        while True:
            result = await run_deployment(self.ctx, deployment_id)
            if result.verdict is not Verdict.RETRY:
                break
            unexpected += not result.transient
            if self.stop.is_set() or unexpected >= MAX_LOCAL_RETRIES:
                # Stays pending: XAUTOCLAIM (or our restart) brings it back later; the attempt
                # limit on the row turns a deployment that keeps failing into a poison message.
                return
            await self._sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
        self.processed += 1
        if result.verdict is Verdict.POISON:
            await self._dead_letter(entry_id, raw, result.reason)
        elif result.verdict is Verdict.ACK:
            await self._ack(entry_id)
        else:
            log.info("left for its lease holder: %s", result.reason, extra={"deployment_id": raw})

    async def _ack(self, entry_id: str) -> None:
        try:
            await self.redis.xack(STREAM, GROUP, entry_id)
        except (RedisError, OSError) as exc:
            # Redelivered later (own pending or XAUTOCLAIM), then ACKed as already finished.
            log.warning("XACK %s failed: %s", entry_id, exc)

    async def _dead_letter(self, entry_id: str, deployment_id: str, reason: str) -> None:
        log.error("dead-lettering %s: %s", entry_id, reason, extra={"deployment_id": deployment_id})
        try:
            await self.redis.xadd(DEAD_LETTER_STREAM, {"entry_id": entry_id, "deployment_id": deployment_id,
                                                       "reason": reason, "consumer": self.ctx.owner})
        except (RedisError, OSError) as exc:
            log.warning("dead-letter XADD failed: %s", exc)
            return  # not ACKed: we will meet it again and the deployment is already failed
        await self._ack(entry_id)

    async def drain_own_pending(self) -> int:
        """Re-process the entries delivered to this consumer name but never ACKed (a previous life)."""
        handled = 0
        last = "0"
        while not self.stop.is_set():
            reply = await self.redis.xreadgroup(GROUP, self.ctx.owner, {STREAM: last}, count=10)
            entries = _entries(reply)
            if not entries:
                return handled
            for entry_id, fields in entries:
                if self.stop.is_set():
                    return handled
                await self.handle(entry_id, fields)
                handled += 1
                last = entry_id
        return handled

    async def claim_idle(self) -> int:
        """XAUTOCLAIM entries idle over `claim_idle_ms`, following the cursor to its end."""
        handled = 0
        cursor = "0-0"
        while not self.stop.is_set():
            reply = await self.redis.xautoclaim(STREAM, GROUP, self.ctx.owner, self.claim_idle_ms,
                                                start_id=cursor, count=10)
            cursor, claimed = reply[0], reply[1]
            for entry_id, fields in claimed:
                if self.stop.is_set():
                    return handled
                log.info("reclaimed idle entry %s", entry_id)
                await self.handle(entry_id, fields)
                handled += 1
            if cursor in ("0-0", b"0-0"):
                return handled
        return handled

    async def step(self, block_ms: int) -> int:
        """One round: reclaim when due, then one blocking read. Returns entries handled."""
        loop = asyncio.get_running_loop()
        handled = 0
        if loop.time() >= self._next_claim:
            self._next_claim = loop.time() + self.claim_idle_ms / 2000
            handled += await self.claim_idle()
        if self.stop.is_set():
            return handled
        read = asyncio.ensure_future(
            self.redis.xreadgroup(GROUP, self.ctx.owner, {STREAM: ">"}, count=1, block=block_ms))
        stopper = asyncio.ensure_future(self.stop.wait())
        done, _ = await asyncio.wait({read, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if read not in done:
            # Stopping while blocked in XREADGROUP: an entry delivered meanwhile stays in
            # our pending list and is re-read at the next start.
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)
            return handled
        # Once read, an entry is processed to the end even if a stop arrives meanwhile.
        for entry_id, fields in _entries(read.result()):
            await self.handle(entry_id, fields)
            handled += 1
        return handled

    async def run(self, burst: bool) -> None:
        """Consume until `stop` (or, in burst mode, until nothing is left)."""
        own_done = False
        while not self.stop.is_set():
            try:
                if not own_done:
                    await ensure_group(self.redis)
                    await self.drain_own_pending()
                    own_done = True
                    continue
                handled = await self.step(200 if burst else BLOCK_MS)
                self._backoff = 0.2
                if burst and handled == 0:
                    return
            except (RedisError, OSError) as exc:
                await self._redis_call("reading the stream", exc)

