"""What the renderer keeps between builds: one cache per site, all of them bounded by bytes.

A worker builds many sites in turn. Each site has its own `SiteCache`
(parsed pages, compiled templates, link targets, prev/next frames, page keys,
the search index), so building site B never throws away what site A's next
build needs, and no site sees another's entries. `SITE_CACHES` keeps them
under one byte budget, dropping the least recently built sites first; each
site is bounded too, least recently used entries first.

Every entry is keyed by all of its inputs (a page's digest, a template's
source, a digest of what a table was derived from): a build finds an entry
only when it is right for it. So the output never depends on the cache, and
a build without one (a fresh process) is only slower. Which site key a caller
passes decides who shares memory, never what is rendered.

Pool processes (`parallel`) have their own memory: they use no cache, and
what they parse comes back to the building process to be kept here.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar, cast

from openbook.render.lru import SizedLRU

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A site of 2,000 two-KB pages keeps ~45 MB (34 of them parsed pages, 7 the search
# index): ~8 such sites fit in all, and one site of up to ~11,000 pages.
DEFAULT_MAX_BYTES = 384 * 1024 * 1024
SITE_MAX_BYTES = 256 * 1024 * 1024
_TABLE_BYTES = 200  # a table's own dict and tuple, beyond its entries
_TABLE_SLACK = 64  # entries a small site's table may hold beyond twice the live ones


class Kind(Generic[V]):
    """A kind of cached value, typed like aiohttp's `AppKey`: `cache.get(PARSED, key)` is a ParsedPage."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


class Table(Generic[K, V]):
    """A kind of table of derived values that a site's builds share (see `SiteCache.table`)."""

    __slots__ = ("entry_bytes", "name")

    def __init__(self, name: str, entry_bytes: int) -> None:
        self.name = name
        self.entry_bytes = entry_bytes  # estimated memory of one entry, key and value

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


class SiteCache:
    """What the builds of one site learnt, bounded by `max_bytes` (least recently used first out).
    Thread-safe: builds of one site may run at the same time."""

    def __init__(self, max_bytes: int = SITE_MAX_BYTES) -> None:
        self._lru: SizedLRU[tuple[object, Hashable], object] = SizedLRU(max_bytes)

    def get(self, kind: Kind[V], key: Hashable) -> V | None:
        return cast("V | None", self._lru.get((kind, key)))

    def put(self, kind: Kind[V], key: Hashable, value: V, size: int) -> None:
        self._lru.put((kind, key), value, size)

    def pop(self, kind: Kind[V], key: Hashable) -> V | None:
        """Take an entry out (a build that changes a value in place puts it back when done)."""
        return cast("V | None", self._lru.pop((kind, key)))

    def table(self, table: Table[K, V], digest: str = "") -> dict[K, V]:
        """The site's `table` of values derived from inputs whose digest is `digest`: the one
        earlier builds filled if they had the same digest, else a new one replacing it. The
        build fills it as it goes (a plain dict: lookups are the hot path), then `settle`s it."""
        kept = cast("tuple[str, dict[K, V]] | None", self._lru.get((table, None)))
        if kept is not None and kept[0] == digest:
            return kept[1]
        entries: dict[K, V] = {}
        self._lru.put((table, None), (digest, entries), _TABLE_BYTES)
        return entries

    def settle(self, table: Table[K, V], live: int) -> None:
        """Weigh `table` after a build that needed up to `live` of its entries. Entries no build
        needs any more (the key of a page before its edit) are never looked up again: once they
        could outnumber the live ones, the table starts again empty."""
        kept = cast("tuple[str, dict[K, V]] | None", self._lru.get((table, None)))
        if kept is None:
            return
        if len(kept[1]) > 2 * live + _TABLE_SLACK:
            self._lru.pop((table, None))
        else:
            self._lru.put((table, None), kept, _TABLE_BYTES + table.entry_bytes * len(kept[1]))

    @property
    def bytes(self) -> int:
        return self._lru.bytes


class SiteCaches:
    """Every site's cache in one process, bounded by `max_bytes` in all."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, site_max_bytes: int = SITE_MAX_BYTES) -> None:
        self.site_max_bytes = min(site_max_bytes, max_bytes)
        self._sites: SizedLRU[str, SiteCache] = SizedLRU(max_bytes)
        self._lock = threading.Lock()

    @contextmanager
    def site(self, key: str) -> Iterator[SiteCache]:
        """The cache of site `key` for one build. It is weighed again when the build ends,
        and the sites built least recently are dropped while all exceed the budget."""
        with self._lock:
            cache = self._sites.get(key)
            if cache is None:
                cache = SiteCache(self.site_max_bytes)
                self._sites.put(key, cache, 0)
        try:
            yield cache
        finally:
            self._sites.put(key, cache, cache.bytes)

    def clear(self) -> None:
        self._sites.clear()

    def __len__(self) -> int:
        return len(self._sites)

    @property
    def bytes(self) -> int:
        return self._sites.bytes


SITE_CACHES = SiteCaches()
