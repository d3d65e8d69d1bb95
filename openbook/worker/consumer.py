"""The consumer loop: read deployment ids from the stream, run them, ACK, dead-letter.

At start the consumer re-reads its own pending entries, then new ones, one at
a time. Every `claim_idle_ms / 2` it follows XAUTOCLAIM's cursor to take over
entries another (dead) consumer left idle. An entry is ACKed only once its
deployment is terminal. Outages of Redis (`Unavailable` from the stream
adapter) are retried with backoff. `stop` ends the loop between deployments,
never during one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from openbook.errors import Unavailable
from openbook.stream.deployments import BLOCK_MS, DeploymentStream, Entry
from openbook.worker.deploy import Context, Verdict, run_deployment

log = logging.getLogger("openbook.worker")

MAX_BACKOFF_S = 5.0
MAX_LOCAL_RETRIES = 3


class Consumer:
    def __init__(self, ctx: Context, stream: DeploymentStream, claim_idle_ms: int, stop: asyncio.Event) -> None:
        self.ctx = ctx
        self.stream = stream
        self.claim_idle_ms = claim_idle_ms
        self.stop = stop
        self.processed = 0
        self._next_claim = 0.0
        self._backoff = 0.2

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _outage(self, what: str, exc: Unavailable) -> None:
        log.warning("%s: %s (retrying in %.1fs)", what, exc.message, self._backoff)
        await self._sleep(self._backoff)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)

    async def handle(self, entry: Entry) -> None:
        """Process one entry until it is ACKed, left to its lease holder, or we are stopping."""
        try:
            deployment_id = uuid.UUID(entry.deployment_id)
        except ValueError:
            await self._dead_letter(entry, "malformed entry")
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
            await self._dead_letter(entry, result.reason)
        elif result.verdict is Verdict.ACK:
            await self._ack(entry)
        else:
            log.info("left for its lease holder: %s", result.reason, extra={"deployment_id": entry.deployment_id})

    async def _ack(self, entry: Entry) -> None:
        try:
            await self.stream.ack(entry.id)
        except Unavailable as exc:
            # Redelivered later (own pending or XAUTOCLAIM), then ACKed as already finished.
            log.warning("XACK %s failed: %s", entry.id, exc.message)

    async def _dead_letter(self, entry: Entry, reason: str) -> None:
        log.error("dead-lettering %s: %s", entry.id, reason, extra={"deployment_id": entry.deployment_id})
        try:
            await self.stream.dead_letter(entry, reason, self.ctx.owner)
        except Unavailable as exc:
            # Not ACKed: we meet it again, and its deployment is already failed.
            log.warning("dead-lettering %s failed: %s", entry.id, exc.message)

    async def drain_own_pending(self) -> int:
        """Re-process the entries delivered to this consumer name but never ACKed (a previous life)."""
        handled = 0
        last = "0"
        while not self.stop.is_set():
            entries = await self.stream.read_own_pending(self.ctx.owner, last)
            if not entries:
                return handled
            for entry in entries:
                if self.stop.is_set():
                    return handled
                await self.handle(entry)
                handled += 1
                last = entry.id
        return handled

    async def claim_idle(self) -> int:
        """XAUTOCLAIM entries idle over `claim_idle_ms`, following the cursor to its end."""
        handled = 0
        cursor = "0-0"
        while not self.stop.is_set():
            claimed = await self.stream.claim_idle(self.ctx.owner, self.claim_idle_ms, cursor)
            for entry in claimed.entries:
                if self.stop.is_set():
                    return handled
                log.info("reclaimed idle entry %s", entry.id)
                await self.handle(entry)
                handled += 1
            if claimed.done:
                return handled
            cursor = claimed.cursor
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
        read = asyncio.ensure_future(self.stream.read_new(self.ctx.owner, block_ms))
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
        for entry in read.result():
            await self.handle(entry)
            handled += 1
        return handled

    async def run(self, burst: bool) -> None:
        """Consume until `stop` (or, in burst mode, until nothing is left)."""
        own_done = False
        while not self.stop.is_set():
            try:
                if not own_done:
                    await self.stream.ensure_group()
                    await self.drain_own_pending()
                    own_done = True
                    continue
                handled = await self.step(200 if burst else BLOCK_MS)
                self._backoff = 0.2
                if burst and handled == 0:
                    return
            except Unavailable as exc:
                await self._outage("reading the stream", exc)
