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

A site's cache also outlives its process: `snapshot` turns the entries of
every kind that has a `Codec` into bytes, `restore` puts them back in another
process (the worker keeps them on disk, `openbook.fs.buildcache`, and each
isolated build process starts from them). After a build, `changes` writes
only what that build learnt since `mark` (a one-page edit of a 5,000-page
site: tens of KB against a 60 MB snapshot), which `restore` applies over
the older snapshot. Codecs turn values into what
`marshal` writes (builtins only), so loading a snapshot runs no code, as
unpickling would; a snapshot written by other renderer code (another
OpenBook, Python or library version: see `runtime`) is ignored whole, and an
entry that does not decode is left out: the cache only ever saves time.
"""

from __future__ import annotations

import functools
import importlib.metadata
import marshal
import sys
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar, cast

from openbook.render.lru import SizedLRU
from openbook.render.version import RENDERER_VERSION

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A site of 2,000 two-KB pages keeps ~45 MB (34 of them parsed pages, 7 the search
# index): ~8 such sites fit in all, and one site of up to ~11,000 pages.
DEFAULT_MAX_BYTES = 384 * 1024 * 1024
SITE_MAX_BYTES = 256 * 1024 * 1024
_TABLE_BYTES = 200  # a table's own dict and tuple, beyond its entries
_TABLE_SLACK = 64  # entries a small site's table may hold beyond twice the live ones


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Codec:
    """How the entries of a kind are written into a snapshot and read back.

    `*_out` return values `marshal` writes (None, bool, int, float, str, bytes, tuples,
    lists, dicts, sets, frozensets, code objects) or raise ValueError (the entry is left
    out); `*_in` rebuild them and may raise anything on data they do not expect.
    """

    value_out: Callable[[Any], object] = _same
    value_in: Callable[[Any], Any] = _same
    key_out: Callable[[Any], object] = _same
    key_in: Callable[[Any], Any] = _same


# Every kind and table with a codec, by name: what a snapshot's entries are read as.
_PERSISTED: dict[str, Kind[Any] | Table[Any, Any]] = {}


def _register(kind: Kind[Any] | Table[Any, Any]) -> None:
    if kind.codec is not None:
        if kind.name in _PERSISTED:
            raise ValueError(f"two cache kinds are named {kind.name!r}")
        _PERSISTED[kind.name] = kind


class Kind(Generic[V]):
    """A kind of cached value, typed like aiohttp's `AppKey`: `cache.get(PARSED, key)` is a ParsedPage.
    With a `codec`, its entries are part of the site's snapshots."""

    __slots__ = ("codec", "name")

    def __init__(self, name: str, codec: Codec | None = None) -> None:
        self.name = name
        self.codec = codec
        _register(self)

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"


class Table(Generic[K, V]):
    """A kind of table of derived values that a site's builds share (see `SiteCache.table`).
    With a `codec` (for one entry's key and value), tables are part of the site's snapshots."""

    __slots__ = ("codec", "entry_bytes", "name")

    def __init__(self, name: str, entry_bytes: int, codec: Codec | None = None) -> None:
        self.name = name
        self.entry_bytes = entry_bytes  # estimated memory of one entry, key and value
        self.codec = codec
        _register(self)

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


SNAPSHOT_FORMAT = 2
# Libraries whose upgrade can change what the renderer derives (HTML, highlighting, templates).
_RENDERING_LIBRARIES = ("openbook", "markdown-it-py", "mdit-py-plugins", "pygments", "nh3", "jinja2", "pyyaml")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.cache
def runtime() -> tuple[object, ...]:
    """What writes this process's snapshots: one written by other code is ignored (marshal's
    format and code objects change with Python; parsed pages and templates with the libraries)."""
    return (SNAPSHOT_FORMAT, RENDERER_VERSION, tuple(sys.version_info[:2]), sys.byteorder,
            tuple(_version(p) for p in _RENDERING_LIBRARIES))


# A site cache's entries as `SiteCache.snapshot` or `changes` writes them: marshal of
# (runtime(), [(kind name, key, value, size)], [(kind name, key) dropped]).
Snapshot = bytes
_Entry = tuple[str, object, object, int]


class SiteCache:
    """What the builds of one site learnt, bounded by `max_bytes` (least recently used first out).
    Thread-safe: builds of one site may run at the same time."""

    def __init__(self, max_bytes: int = SITE_MAX_BYTES) -> None:
        self._lru: SizedLRU[tuple[object, Hashable], object] = SizedLRU(max_bytes)
        # Since `mark` (None before: a cache never snapshotted keeps no journal): the entries put
        # (not patched) and those popped, and each table as it was (the dict itself, its length,
        # its digest): tables only grow in place, or are replaced or dropped whole.
        self._changed: set[tuple[object, Hashable]] | None = None
        self._popped: set[tuple[object, Hashable]] = set()
        self._marked: dict[Table[Any, Any], tuple[dict[Any, Any], int, str]] = {}

    def get(self, kind: Kind[V], key: Hashable) -> V | None:
        return cast("V | None", self._lru.get((kind, key)))

    def put(self, kind: Kind[V], key: Hashable, value: V, size: int, *, patched: bool = False) -> None:
        """`patched`: `value` is the entry taken out (`pop`) and brought up to date in a way that
        would bring any older copy of it up to date as well (the search index): `changes` leave
        it out, a large value that a build changes a little."""
        self._lru.put((kind, key), value, size)
        if self._changed is not None and not patched:
            self._changed.add((kind, key))

    def pop(self, kind: Kind[V], key: Hashable) -> V | None:
        """Take an entry out (a build that changes a value in place puts it back when done)."""
        if self._changed is not None:
            self._popped.add((kind, key))
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

    def snapshot(self) -> Snapshot:
        """Every entry of a kind with a codec, least recently used first, as bytes for `restore`."""
        entries: list[_Entry] = []
        for (kind, key), value, size in self._lru.items():
            if isinstance(kind, Table):
                digest, table = cast("tuple[str, dict[Any, Any]]", value)
                _add_table(entries, kind, digest, table.items(), size)
            elif isinstance(kind, Kind):
                _add_entry(entries, kind, key, value, size)
        return _dumps(entries, [])

    def mark(self) -> None:
        """From now on, `changes` says what changed."""
        self._changed = set()
        self._popped = set()
        self._marked = {}
        for (kind, _), value, _ in self._lru.items():
            if isinstance(kind, Table):
                digest, table = cast("tuple[str, dict[Any, Any]]", value)
                self._marked[kind] = (table, len(table), digest)

    def changes(self) -> Snapshot | None:
        """What changed since `mark`, as bytes that `restore` applies over a snapshot taken at
        the mark (or any older one); None when nothing did. Never marked: the whole snapshot."""
        if self._changed is None:
            return self.snapshot()
        entries: list[_Entry] = []
        dropped: list[tuple[str, object]] = []
        tables: set[Table[Any, Any]] = set()
        for (kind, _), value, size in self._lru.items():
            if not isinstance(kind, Table):
                continue
            tables.add(kind)
            digest, table = cast("tuple[str, dict[Any, Any]]", value)
            was = self._marked.get(kind)
            if was is not None and was[0] is table and was[2] == digest:
                if len(table) > was[1]:  # grown in place: only the new entries
                    _add_table(entries, kind, digest, islice(table.items(), was[1], None), size)
            else:
                _add_table(entries, kind, digest, table.items(), size)
        dropped += [(kind.name, None) for kind in self._marked.keys() - tables if kind.codec is not None]
        for kind, key in self._changed | self._popped:
            if not isinstance(kind, Kind) or kind.codec is None:
                continue
            found = self._lru.sized((kind, key))
            if found is not None:
                if (kind, key) in self._changed:
                    _add_entry(entries, kind, key, found[0], found[1])
            else:
                try:
                    dropped.append((kind.name, kind.codec.key_out(key)))
                except ValueError:
                    continue
        if not entries and not dropped:
            return None
        return _dumps(entries, dropped)

    def restore(self, data: Snapshot) -> int:
        """Put back the entries of a `snapshot` or of `changes` (as the most recently used); how
        many. A table of the same inputs as one held is merged into it; a snapshot of other
        renderer code, or one that does not decode, restores nothing."""
        try:
            written_by, entries, dropped = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return 0
        if written_by != runtime():
            return 0
        restored = 0
        for name, key, value, size in entries:
            kind = _PERSISTED.get(name)
            if kind is None or kind.codec is None:
                continue
            codec = kind.codec
            try:
                if isinstance(kind, Table):
                    digest, items = value
                    table = {codec.key_in(k): codec.value_in(v) for k, v in items}
                    held = cast("tuple[str, dict[Any, Any]] | None", self._lru.get((kind, None)))
                    if held is not None and held[0] == digest:
                        held[1].update(table)
                        table = held[1]
                    self._lru.put((kind, None), (digest, table), _TABLE_BYTES + kind.entry_bytes * len(table))
                else:
                    self._lru.put((kind, codec.key_in(key)), codec.value_in(value), size)
            except Exception:  # a damaged entry is only a miss
                continue
            restored += 1
        for name, key in dropped:
            kind = _PERSISTED.get(name)
            if kind is not None and kind.codec is not None:
                try:
                    self._lru.pop((kind, None if isinstance(kind, Table) else kind.codec.key_in(key)))
                except Exception:  # a damaged entry is only a miss
                    continue
        return restored


def _add_table(entries: list[_Entry], kind: Table[Any, Any], digest: str, items: Iterable[tuple[Any, Any]],
               size: int) -> None:
    codec = kind.codec
    if codec is not None:
        try:
            entries.append((kind.name, None, (digest, [(codec.key_out(k), codec.value_out(v)) for k, v in items]),
                            size))
        except ValueError:
            return  # a value the codec cannot write: the next build derives it again


def _add_entry(entries: list[_Entry], kind: Kind[Any], key: Hashable, value: object, size: int) -> None:
    codec = kind.codec
    if codec is not None:
        try:
            entries.append((kind.name, codec.key_out(key), codec.value_out(value), size))
        except ValueError:
            return  # a value the codec cannot write: the next build derives it again


def _dumps(entries: list[_Entry], dropped: list[tuple[str, object]]) -> Snapshot:
    return marshal.dumps((runtime(), entries, dropped))  # type: ignore[arg-type]  # codecs return builtins


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

    def snapshot(self, key: str) -> Snapshot:
        """Site `key`'s cache as bytes (see `SiteCache.snapshot`); empty if it has none."""
        cache = self._sites.get(key)
        return (cache or SiteCache(self.site_max_bytes)).snapshot()

    def restore(self, key: str, data: Snapshot) -> int:
        """Fill site `key`'s cache from a snapshot or `changes`; how many entries it got."""
        with self.site(key) as cache:
            return cache.restore(data)

    def mark(self, key: str) -> None:
        """Site `key`'s `changes` start from here."""
        with self.site(key) as cache:
            cache.mark()

    def changes(self, key: str) -> Snapshot | None:
        """What site `key`'s cache learnt since its `mark` (see `SiteCache.changes`)."""
        cache = self._sites.get(key)
        return None if cache is None else cache.changes()

    def clear(self) -> None:
        self._sites.clear()

    def __len__(self) -> int:
        return len(self._sites)

    @property
    def bytes(self) -> int:
        return self._sites.bytes


SITE_CACHES = SiteCaches()
