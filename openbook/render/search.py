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
import json
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

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


@dataclass(frozen=True, slots=True)
class SearchDoc:
    url: str
    title: str
    headings: tuple[str, ...]
    text: str
    description: str | None = None


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be")


def _js(kind: str, data: object) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"OpenBookSearch.{kind}({body});\n".encode()


def _name(prefix: str, data: bytes) -> str:
    return f"{SEARCH_DIR}{prefix}.{hashlib.sha256(data).hexdigest()[:12]}.js"


def build_index(docs: Iterable[SearchDoc], shard_limit: int = SHARD_LIMIT) -> dict[str, bytes]:
    """Every search file, path → bytes. No file exceeds `shard_limit` bytes."""
    postings: dict[str, list[tuple[int, int]]] = {}
    doc_rows: list[list[str]] = []
    for doc_id, doc in enumerate(docs):
        scores: Counter[str] = Counter()
        for tok, n in Counter(tokenize(doc.text)).items():
            scores[tok] += min(n, BODY_CAP)
        for heading in doc.headings:
            for tok in tokenize(heading):
                scores[tok] += HEADING_WEIGHT
        for tok in tokenize(doc.title):
            scores[tok] += TITLE_WEIGHT
        for tok, score in scores.items():
            postings.setdefault(tok, []).append((doc_id, score))
        snippet = doc.description or doc.text[:SNIPPET_CHARS]
        doc_rows.append([doc.url, doc.title, " ".join(snippet.split())])

    files: dict[str, bytes] = {}
    token_firsts: list[str] = []
    token_files: list[str] = []
    entries = []
    for tok in sorted(postings, key=_utf16_key):
        plist = postings[tok]
        if len(plist) > MAX_POSTINGS:
            plist = sorted(plist, key=lambda p: (-p[1], p[0]))[:MAX_POSTINGS]
            plist.sort()
        flat = [x for pair in plist for x in pair]
        entries.append((tok, flat, len(json.dumps({tok: flat}, ensure_ascii=False).encode()) + 1))
    for chunk in _pack(entries, shard_limit, lambda e: e[2]):
        data = _js("tokens", {tok: flat for tok, flat, _ in chunk})
        name = _name("t", data)
        files[name] = data
        token_firsts.append(chunk[0][0])
        token_files.append(name.rsplit("/", 1)[1])

    doc_firsts: list[int] = []
    doc_files: list[str] = []
    sized = [
        (i, row, len(json.dumps(row, ensure_ascii=False).encode()) + 1) for i, row in enumerate(doc_rows)
    ]
    for doc_chunk in _pack(sized, shard_limit, lambda e: e[2]):
        data = _js("docs", {"first": doc_chunk[0][0], "docs": [row for _, row, _ in doc_chunk]})
        name = _name("d", data)
        files[name] = data
        doc_firsts.append(doc_chunk[0][0])
        doc_files.append(name.rsplit("/", 1)[1])

    manifest = _js(
        "manifest",
        {
            "version": 1,
            "tokens": token_firsts,
            "tokenFiles": token_files,
            "docs": doc_firsts,
            "docFiles": doc_files,
            "count": len(doc_rows),
        },
    )
    if len(manifest) > shard_limit:
        raise ValueError("search manifest exceeds the shard limit")
    files[f"{SEARCH_DIR}index.js"] = manifest
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
