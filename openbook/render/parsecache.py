"""Parsed pages kept between builds in one process, keyed by the bytes' digest and HTML mode.

Link checking, anchors, navigation titles and the search index need every
page's parse even when only one page changed. A warm process (the worker, the
preview server) re-parses only pages whose bytes it has not seen; a cold one
parses everything and is just as correct. Entries are immutable values, so
builds in several threads may share them. Memory is bounded by an estimate of
the entries' size, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from openbook.render.markdown import HtmlMode
from openbook.render.pages import ParsedPage

# ~5,000 two-KB pages take ~45 MB; a worker serving several large sites keeps them all warm.
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_OBJECT_BYTES = 72  # a small str, tuple or dict slot, as CPython allocates them


def entry_bytes(parsed: ParsedPage) -> int:
    """Estimated memory of one entry (within a few % of tracemalloc's figure for ASCII pages)."""
    doc = parsed.doc
    return (
        1000
        + len(doc.html)
        + len(doc.text)
        + _OBJECT_BYTES * (2 * len(doc.links) + len(doc.anchors) + 2 * len(doc.toc) + len(parsed.terms))
        + sum(len(href) for _, href in doc.links)
    )


class ParseCache:
    """A thread-safe LRU of `ParsedPage`s, bounded by estimated bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[bytes, HtmlMode], tuple[ParsedPage, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, digest: bytes, mode: HtmlMode) -> ParsedPage | None:
        with self._lock:
            found = self._entries.get((digest, mode))
            if found is None:
                return None
            self._entries.move_to_end((digest, mode))
            return found[0]

    def put(self, digest: bytes, mode: HtmlMode, parsed: ParsedPage) -> None:
        size = entry_bytes(parsed)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop((digest, mode), None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[(digest, mode)] = (parsed, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes


PARSE_CACHE = ParseCache()
