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

# Together ~30 sites of 2,000 two-KB pages; a 5,000-page site takes ~60 MB.
DEFAULT_MAX_BYTES = 384 * 1024 * 1024
SITE_MAX_BYTES = 256 * 1024 * 1024
_TABLE_BYTES = 200  # a table's own dict and tuple, beyond its entries


class Kind(Generic[V]):
    """A kind of cached value, typed like aiohttp's `AppKey`: `cache.get(PARSED, key)` is a ParsedPage."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


class Table(Generic[K, V]):
    """A kind of table of derived values that one build hands to the next (see `Memo`)."""

    __slots__ = ("entry_bytes", "name")

    def __init__(self, name: str, entry_bytes: int) -> None:
        self.name = name
        self.entry_bytes = entry_bytes  # estimated memory of one entry, key and value

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


class Memo(Generic[K, V]):
    """One build's table: it finds the previous build's entries when they were derived from
    the same inputs (`digest`), and keeps only the entries it used, so a table never
    outgrows the site."""

    __slots__ = ("_previous", "digest", "entries")

    def __init__(self, digest: str, previous: dict[K, V]) -> None:
        self.digest = digest
        self._previous = previous
        self.entries: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        found = self.entries.get(key)
        if found is None:
            found = self._previous.get(key)
            if found is not None:
                self.entries[key] = found
        return found

    def put(self, key: K, value: V) -> None:
        self.entries[key] = value


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

    def memo(self, table: Table[K, V], digest: str = "") -> Memo[K, V]:
        """This build's `table`, seeded with the last kept one if it has the same `digest`."""
        kept = cast("Memo[K, V] | None", self._lru.get((table, None)))
        return Memo(digest, kept.entries if kept is not None and kept.digest == digest else {})

    def keep(self, table: Table[K, V], memo: Memo[K, V]) -> None:
        """Hand `memo` to the next build (replacing the table kept before)."""
        self._lru.put((table, None), memo, _TABLE_BYTES + table.entry_bytes * len(memo.entries))

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)

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
