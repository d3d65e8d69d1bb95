"""The consumer loop: read deployment ids from the stream, run them fairly in slots, ACK, dead-letter.

At start the consumer re-reads its own pending entries, then new ones. Every
`claim_idle_ms / 2` it follows XAUTOCLAIM's cursor to take over entries
another (dead) consumer left idle. What it reads waits in a `FairQueue` by
workspace and runs in one of `concurrency` slots (WORKER_CONCURRENCY), each
build in its own process (`isolate`): one workspace's many or endless builds
never hold every slot. It reads what its free slots can start, and reads
ahead (up to `LOOKAHEAD` waiting entries) only while a slot is free that the
waiting entries may not take, so that another workspace's entry behind a long
queue is seen; it never reads while its slots are busy, so the rest of a burst
stays in the stream for other workers. It claims only when it has a free slot
and nothing waiting, so entries waiting here go idle and an idle worker
claims them. An entry is
ACKed only once its deployment is terminal. Outages of Redis (`Unavailable`
from the stream adapter) are retried with backoff. `stop` ends reading;
running builds finish, entries not started stay pending for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from openbook.db.deployments import workspace_of
from openbook.errors import Unavailable
from openbook.stream.deployments import BLOCK_MS, DeploymentStream, Entry
from openbook.worker.deploy import Context, Verdict, run_deployment
from openbook.worker.fair import FairQueue

log = logging.getLogger("openbook.worker")

MAX_BACKOFF_S = 5.0
MAX_LOCAL_RETRIES = 3
LOOKAHEAD = 64  # entries read and waiting for a slot, at most
UNKNOWN = "?"  # the queue of entries whose workspace could not be looked up (the database is away)


class Consumer:
    def __init__(self, ctx: Context, stream: DeploymentStream, claim_idle_ms: int, stop: asyncio.Event,
                 concurrency: int = 1) -> None:
        self.ctx = ctx
        self.stream = stream
        self.claim_idle_ms = claim_idle_ms
        self.stop = stop
        self.processed = 0
        self.queue: FairQueue[Entry] = FairQueue(concurrency)
        self._known: set[str] = set()  # ids of entries waiting or running: a re-delivery is not queued twice
        self._running: set[asyncio.Task[None]] = set()
        self._reading: asyncio.Task[list[Entry]] | None = None
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

    # --- queueing and slots ---------------------------------------------------------------------

    async def _workspace(self, entry: Entry) -> str:
        """The key an entry waits under: its deployment's workspace."""
        try:
            found = await workspace_of(self.ctx.db, uuid.UUID(entry.deployment_id))
        except ValueError:
            return ""  # malformed: dead-lettered at once when it runs
        except Unavailable:
            return UNKNOWN  # run_deployment retries it once the database is back
        return "" if found is None else str(found)

    async def enqueue(self, entries: list[Entry]) -> None:
        """Queue entries by workspace (an entry already waiting or running is not queued again)."""
        for entry in entries:
            if entry.id not in self._known:
                self._known.add(entry.id)
                self.queue.add(await self._workspace(entry), entry)

    def start_ready(self) -> None:
        """Start every waiting entry a free slot may take."""
        while (picked := self.queue.take()) is not None:
            key, entry = picked
            task = asyncio.create_task(self._in_slot(key, entry))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _in_slot(self, key: str, entry: Entry) -> None:
        try:
            await self.handle(entry)
        except Exception:  # handle() expects its failures; anything else must not kill the loop
            log.exception("unexpected error handling %s", entry.id, extra={"deployment_id": entry.deployment_id})
        finally:
            self.queue.done(key)
            self._known.discard(entry.id)

    @property
    def idle(self) -> bool:
        return not self._running and self.queue.waiting == 0

    async def drain(self) -> None:
        """Wait for the running builds (entries not started stay pending in the stream)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # --- reading ------------------------------------------------------------------------------

    async def read_own_pending(self) -> list[Entry]:
        """The entries delivered to this consumer name but never ACKed (a previous life)."""
        found: list[Entry] = []
        last = "0"
        while not self.stop.is_set():
            entries = await self.stream.read_own_pending(self.ctx.owner, last)
            if not entries:
                break
            found += entries
            last = entries[-1].id
        return found

    async def claim_idle(self) -> list[Entry]:
        """XAUTOCLAIM entries idle over `claim_idle_ms`, following the cursor to its end."""
        found: list[Entry] = []
        cursor = "0-0"
        while not self.stop.is_set():
            claimed = await self.stream.claim_idle(self.ctx.owner, self.claim_idle_ms, cursor)
            for entry in claimed.entries:
                if entry.id not in self._known:
                    log.info("reclaimed idle entry %s", entry.id)
            found += claimed.entries
            if claimed.done:
                break
            cursor = claimed.cursor
        return found

    async def step(self, block_ms: int) -> int:
        """One round: reclaim when due, start what may start, then wait for entries, a finished
        build or the stop. Returns entries read."""
        loop = asyncio.get_running_loop()
        read = 0
        # Claim only with a slot to spare and nothing waiting: claiming would also take back (and
        # keep from going idle) our own waiting entries, which an idle worker should claim instead.
        may_claim = self.queue.waiting == 0 and self.queue.running < self.queue.slots
        if may_claim and loop.time() >= self._next_claim:
            self._next_claim = loop.time() + self.claim_idle_ms / 2000
            claimed = await self.claim_idle()
            await self.enqueue(claimed)
            read += len(claimed)
        self.start_ready()
        if self.stop.is_set():
            return read
        room = self._room()
        if self._reading is None and room > 0:
            self._reading = asyncio.ensure_future(self.stream.read_new(self.ctx.owner, block_ms, room))
        stopper = asyncio.ensure_future(self.stop.wait())
        waits: set[asyncio.Future[Any]] = {stopper, *self._running}
        if self._reading is not None:
            waits.add(self._reading)
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if self._reading is not None and self._reading in done:
            reading, self._reading = self._reading, None
            entries = reading.result()  # Unavailable: the caller backs off
            await self.enqueue(entries)
            read += len(entries)
            self.start_ready()
        return read

    def _room(self) -> int:
        """How many new entries to read now (called after `start_ready`).

        Enough to fill the free slots; more, up to LOOKAHEAD, only while a slot is free that
        no waiting entry may take (their workspaces hold all they may): another workspace's
        entry may be behind them. Reading more than that would hoard entries that an idle
        worker could run now.
        """
        free = self.queue.slots - self.queue.running
        if free > 0 and self.queue.waiting:
            return LOOKAHEAD - self.queue.waiting
        return max(0, free - self.queue.waiting)

    async def _stop_reading(self) -> None:
        if self._reading is not None:
            # Stopping while blocked in XREADGROUP: an entry delivered meanwhile stays in
            # our pending list and is re-read at the next start.
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)
            self._reading = None

    async def run(self, burst: bool) -> None:
        """Consume until `stop` (or, in burst mode, until nothing is left), then let running builds finish."""
        own_done = False
        try:
            while not self.stop.is_set():
                try:
                    if not own_done:
                        await self.stream.ensure_group()
                        await self.enqueue(await self.read_own_pending())
                        own_done = True
                        continue
                    read = await self.step(200 if burst else BLOCK_MS)
                    self._backoff = 0.2
                    if burst and read == 0 and self.idle:
                        return
                except Unavailable as exc:
                    await self._outage("reading the stream", exc)
        finally:
            await self._stop_reading()
            await self.drain()
