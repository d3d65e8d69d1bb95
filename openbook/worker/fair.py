"""Which waiting build a worker starts next: fair across workspaces, whatever one of them queues.

A worker runs up to `slots` builds at once (WORKER_CONCURRENCY). Builds wait
in one queue per workspace (first in, first out within it), and a free slot
goes to the workspace with the fewest builds running, the one served least
recently first among equals. No workspace holds more than `slots - 1` slots
(with two slots or more): one is always left for the others, so a workspace
that queues a hundred long builds, or one that never ends, delays another
workspace's build by at most one build, not by its whole queue.

Pure bookkeeping, no I/O: the consumer (`consumer.py`) adds what it reads
and starts what `take` returns.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Items waiting per key (a workspace), and the slots they run in."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a worker needs at least one slot")
        self.slots = slots
        self.per_key = max(1, slots - 1)
        self._waiting: dict[str, deque[T]] = {}
        self._running: dict[str, int] = {}
        self._served: dict[str, int] = {}  # when each key last started an item (a tick)
        self._ticks = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    @property
    def running(self) -> int:
        return sum(self._running.values())

    def add(self, key: str, item: T) -> None:
        self._waiting.setdefault(key, deque()).append(item)

    def take(self) -> tuple[str, T] | None:
        """The next item to start now, with its key, or None (no free slot, or nothing may start).
        The caller calls `done(key)` when it has finished."""
        if self.running >= self.slots:
            return None
        allowed = [k for k in self._waiting if self._running.get(k, 0) < self.per_key]
        if not allowed:
            return None
        key = min(allowed, key=lambda k: (self._running.get(k, 0), self._served.get(k, -1)))
        queue = self._waiting[key]
        item = queue.popleft()
        if not queue:
            del self._waiting[key]
        self._running[key] = self._running.get(key, 0) + 1
        self._served[key] = next(self._ticks)
        return key, item

    def done(self, key: str) -> None:
        """An item of `key` that `take` returned has finished: its slot is free."""
        left = self._running[key] - 1
        if left:
            self._running[key] = left
        else:
            del self._running[key]
            if key not in self._waiting:
                self._served.pop(key, None)  # forget idle keys: the table stays as small as the work
