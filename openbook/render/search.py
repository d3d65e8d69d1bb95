"""Client-side search index: Unicode-aware tokens, CJK bigrams, size-bounded shards.

Files (all JavaScript, so search also works from `file://`):
  _openbook/search/index.js      manifest: first token of each token shard, first doc id of each doc shard
  _openbook/search/t.<hash>.js   token → [doc, score, doc, score, ...], tokens sorted by UTF-16 units
  _openbook/search/d.<hash>.js   docs: [url, title, snippet]
Shards are split by size so none exceeds the limit; sorting tokens lets the
client fetch only the shards a query (and a prefix of its last word) needs.
The tokenizer here and `tokenize()` in themes/base/static/search.js must agree.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from openbook.render.cache import Codec, Kind, SiteCache
from openbook.render.postings import Postings, to_json

_T = TypeVar("_T")

SEARCH_DIR = "_openbook/search/"
SHARD_LIMIT = 2 * 1024 * 1024
MAX_POSTINGS = 2000
MAX_TOKEN_LEN = 40
SNIPPET_CHARS = 180
TITLE_WEIGHT = 10
HEADING_WEIGHT = 5
BODY_CAP = 20

_ASCII_WORD_RE = re.compile(r"[a-z0-9]+")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")


@functools.lru_cache(maxsize=1)
def _word_re() -> re.Pattern[str]:
    """Runs of letters, digits and combining marks (JS: /[\\p{L}\\p{N}\\p{M}]+/u)."""
    ranges: list[str] = []
    start = None
    for cp in range(0x10000):
        ok = unicodedata.category(chr(cp))[0] in "LNM"
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            ranges.append(_range(start, cp - 1))
            start = None
    if start is not None:
        ranges.append(_range(start, 0xFFFF))
    ranges.append(_range(0x10000, sys.maxunicode))
    return re.compile("[" + "".join(ranges) + "]+")


def _range(a: int, b: int) -> str:
    return re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"


def tokenize(text: str) -> list[str]:
    """NFKC, lower case, words; CJK runs become overlapping character bigrams."""
    if text.isascii():  # the common case, ~5x faster; same result as the general path
        return [w for w in _ASCII_WORD_RE.findall(text.lower()) if 1 < len(w) <= MAX_TOKEN_LEN or w.isdigit()]
    out: list[str] = []
    for word in _word_re().findall(unicodedata.normalize("NFKC", text).lower()):
        if not _CJK_RE.search(word):
            if 1 < len(word) <= MAX_TOKEN_LEN or word.isdigit():
                out.append(word)
            continue
        pos = 0
        for m in _CJK_RE.finditer(word):
            rest = word[pos : m.start()]
            if len(rest) > 1:
                out.append(rest[:MAX_TOKEN_LEN])
            run = m.group(0)
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
            pos = m.end()
        if len(word) - pos > 1:
            out.append(word[pos:][:MAX_TOKEN_LEN])
    return out


def doc_terms(text: str, headings: Iterable[str]) -> dict[str, int]:
    """A page's body and heading tokens with their scores (title tokens are added per build:
    a page's title can come from outside its file). Pure, so it is cached with the parse."""
    scores = {tok: min(n, BODY_CAP) for tok, n in Counter(tokenize(text)).items()}
    for heading in headings:
        for tok in tokenize(heading):
            scores[tok] = scores.get(tok, 0) + HEADING_WEIGHT
    return scores


class Terms(Mapping[str, int]):
    """A page's search terms as a snapshot keeps them: packed, decoded on first use.

    A one-page edit reads back every page's terms but only looks into the edited
    page's: the others are only compared with their last build's, which packed
    terms do without decoding.
    """

    __slots__ = ("_decoded", "packed")

    def __init__(self, packed: bytes) -> None:
        self.packed = packed
        self._decoded: dict[str, int] | None = None

    @staticmethod
    def pack(terms: Mapping[str, int]) -> bytes:
        return terms.packed if isinstance(terms, Terms) else marshal.dumps(dict(terms))

    def _terms(self) -> dict[str, int]:
        if self._decoded is None:
            decoded = marshal.loads(self.packed)
            if not isinstance(decoded, dict):
                raise ValueError("packed search terms are not a mapping")
            self._decoded = decoded
        return self._decoded

    def __getitem__(self, token: str) -> int:
        return self._terms()[token]

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms())

    def __len__(self) -> int:
        return len(self._terms())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Terms) and other.packed == self.packed:
            return True
        return isinstance(other, Mapping) and self._terms() == dict(other)

    __hash__ = None  # type: ignore[assignment]  # a mapping, like dict


@dataclass(frozen=True, slots=True)
class SearchDoc:
    url: str
    title: str
    headings: tuple[str, ...]
    text: str
    description: str | None = None
    terms: Mapping[str, int] | None = None  # doc_terms(text, headings) when already known


def _name(prefix: str, data: bytes) -> str:
    return f"{SEARCH_DIR}{prefix}.{hashlib.sha256(data).hexdigest()[:12]}.js"


def _scores(doc: SearchDoc) -> dict[str, int]:
    scores = dict(doc.terms if doc.terms is not None else doc_terms(doc.text, doc.headings))
    for tok in tokenize(doc.title):
        scores[tok] = scores.get(tok, 0) + TITLE_WEIGHT
    return scores


def _row(doc: SearchDoc) -> bytes:
    snippet = doc.description or doc.text[:SNIPPET_CHARS]
    return to_json([doc.url, doc.title, " ".join(snippet.split())]).encode()


class _Index:
    """The postings and document rows of one list of documents."""

    def __init__(self, docs: list[SearchDoc]) -> None:
        self.urls = tuple(d.url for d in docs)
        self.docs = docs
        self.postings = Postings.build((_scores(d) for d in docs), MAX_POSTINGS)
        self.rows = [_row(d) for d in docs]

    def update(self, docs: list[SearchDoc]) -> None:
        """The same URLs in the same order: patch the documents that differ."""
        for doc_id, (old, new) in enumerate(zip(self.docs, docs, strict=True)):
            if old != new:
                self.postings.replace(doc_id, _scores(old), _scores(new))
                self.rows[doc_id] = _row(new)
        self.docs = docs

    def size(self) -> int:
        return 16 * self.postings.count + self.postings.encoded_bytes() + sum(len(r) for r in self.rows)


def _index_out(index: _Index) -> tuple[Any, ...]:
    docs = [(d.url, d.title, d.headings, d.text, d.description, None if d.terms is None else Terms.pack(d.terms))
            for d in index.docs]
    return (index.urls, docs, index.postings.pack(), index.rows)


def _index_in(state: tuple[Any, ...]) -> _Index:
    urls, docs, postings, rows = state
    index = _Index.__new__(_Index)
    index.urls = tuple(urls)
    index.docs = [SearchDoc(u, t, tuple(h), x, d, None if p is None else Terms(p)) for u, t, h, x, d, p in docs]
    index.postings = Postings.unpack(postings)
    index.rows = list(rows)
    if not len(index.urls) == len(index.docs) == len(index.rows):
        raise ValueError("inconsistent search index")
    return index


# A site's last index (its next build usually has the same pages, a few of them
# edited): a build takes it out of the site's cache, patches it alone, puts it back.
SEARCH_INDEX: Kind[_Index] = Kind("search index", Codec(value_out=_index_out, value_in=_index_in))


def build_index(
    docs: Iterable[SearchDoc], shard_limit: int = SHARD_LIMIT, cache: SiteCache | None = None
) -> dict[str, bytes]:
    """Every search file, path → bytes. No file exceeds `shard_limit` bytes.

    Pure (the same documents give the same files); the site's previous index,
    when `cache` has it and it holds the same URLs, is patched rather than rebuilt.
    """
    docs = list(docs)
    index = cache.pop(SEARCH_INDEX, None) if cache is not None else None
    if index is not None and index.urls == tuple(d.url for d in docs):
        index.update(docs)
    else:
        index = _Index(docs)
    files = _files(index.postings.entries(), index.rows, shard_limit)
    if cache is not None:
        cache.put(SEARCH_INDEX, None, index, index.size())
    return files


def _files(entries: list[tuple[str, bytes]], rows: list[bytes], shard_limit: int) -> dict[str, bytes]:
    # Each entry is encoded once; a shard is its entries' JSON joined (what json.dumps of the
    # shard's dict would write), so sizes are exact and nothing is encoded twice.
    files: dict[str, bytes] = {}
    token_firsts: list[str] = []
    token_files: list[str] = []
    for chunk in _pack(entries, shard_limit, lambda e: len(e[1]) + 1):
        data = b"OpenBookSearch.tokens({" + b",".join(e for _, e in chunk) + b"});\n"
        name = _name("t", data)
        files[name] = data
        token_firsts.append(chunk[0][0])
        token_files.append(name.rsplit("/", 1)[1])

    doc_firsts: list[int] = []
    doc_files: list[str] = []
    sized = list(enumerate(rows))
    for doc_chunk in _pack(sized, shard_limit, lambda e: len(e[1]) + 1):
        first = doc_chunk[0][0]
        data = (
            f'OpenBookSearch.docs({{"first":{first},"docs":['.encode()
            + b",".join(row for _, row in doc_chunk)
            + b"]});\n"
        )
        name = _name("d", data)
        files[name] = data
        doc_firsts.append(first)
        doc_files.append(name.rsplit("/", 1)[1])

    manifest = {
        "version": 1,
        "tokens": token_firsts,
        "tokenFiles": token_files,
        "docs": doc_firsts,
        "docFiles": doc_files,
        "count": len(rows),
    }
    data = f"OpenBookSearch.manifest({to_json(manifest)});\n".encode()
    if len(data) > shard_limit:
        raise ValueError("search manifest exceeds the shard limit")
    files[f"{SEARCH_DIR}index.js"] = data
    return files


_WRAPPER = 96  # bytes of the JS call around a shard's JSON, with room to spare


def _pack(entries: list[_T], limit: int, size: Callable[[_T], int]) -> list[list[_T]]:
    """Greedy in-order packing into chunks whose JSON stays under `limit` bytes."""
    chunks: list[list[_T]] = []
    current: list[_T] = []
    used = _WRAPPER
    for entry in entries:
        n = size(entry)
        if current and used + n > limit:
            chunks.append(current)
            current, used = [], _WRAPPER
        if _WRAPPER + n > limit:
            raise ValueError("a single search entry exceeds the shard limit")
        current.append(entry)
        used += n
    if current:
        chunks.append(current)
    return chunks
