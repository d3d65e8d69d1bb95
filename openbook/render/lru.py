"""A thread-safe least-recently-used map bounded by the estimated bytes of its values.

The renderer's per-site caches (`cache`) are built on it; the caller says
how big each value is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class SizedLRU(Generic[K, V]):
    """Values too big for the whole budget are not kept; the oldest go first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def pop(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.pop(key, None)
            if found is None:
                return None
            self._bytes -= found[1]
            return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            self._bytes -= old[1] if old else 0
            if size > self.max_bytes:  # the old value must not outlive its replacement
                return
            self._bytes += size
            self._entries[key] = (value, size)
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def items(self) -> list[tuple[K, V, int]]:
        """(key, value, size) of every entry, least recently used first."""
        with self._lock:
            return [(key, value, size) for key, (value, size) in self._entries.items()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes
