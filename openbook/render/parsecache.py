"""Parsed pages kept between builds in one process, keyed by the bytes' digest and HTML mode.

Link checking, anchors, navigation titles and the search index need every
page's parse even when only one page changed. A warm process (the worker, the
preview server) re-parses only pages whose bytes it has not seen; a cold one
parses everything and is just as correct. Entries are immutable values, so
builds in several threads may share them. Memory is bounded by an estimate of
the entries' size, least recently used first out.
"""

from __future__ import annotations

from openbook.render.lru import SizedLRU
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
    """A thread-safe LRU of `ParsedPage`s by (digest, mode), bounded by estimated bytes."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._lru: SizedLRU[tuple[bytes, HtmlMode], ParsedPage] = SizedLRU(max_bytes)

    def get(self, digest: bytes, mode: HtmlMode) -> ParsedPage | None:
        return self._lru.get((digest, mode))

    def put(self, digest: bytes, mode: HtmlMode, parsed: ParsedPage) -> None:
        self._lru.put((digest, mode), parsed, entry_bytes(parsed))

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)

    @property
    def bytes(self) -> int:
        return self._lru.bytes


PARSE_CACHE = ParseCache()
