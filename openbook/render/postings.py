"""The search index's inverted lists, kept encoded and patched one document at a time.

Built from scratch, postings cost a Python operation per (token, document) pair:
over a second for 5,000 pages of prose. Patching replaces one document's
pairs and re-encodes only the tokens it touched, so a one-page edit costs one
page's tokens. The result is the same either way: every list is in ascending
document order and tokens are sorted by their UTF-16 code units, as the
client's binary search expects.
"""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

# A token's packed ids or scores (snapshots): 8-byte integers in this machine's byte order
# (a snapshot records the byte order: see `cache.runtime`).
_PACKED = "q"


def utf16_key(token: str) -> bytes:
    return token.encode("utf-16-be")


def to_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class Postings:
    """token → ascending doc ids with their scores, and each token's JSON entry."""

    def __init__(self, max_postings: int) -> None:
        self.max_postings = max_postings
        self._ids: dict[str, list[int]] = {}
        self._scores: dict[str, list[int]] = {}
        self._keys: list[bytes] = []  # UTF-16 keys of every token, sorted
        self._tokens: list[str] = []  # the tokens, in the same order
        self._encoded: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self.count = 0  # (token, document) pairs
        # Tokens read back from a snapshot whose lists no patch needed yet: (ids, scores) packed.
        self._packed: dict[str, tuple[bytes, bytes]] = {}

    @classmethod
    def build(cls, scores: Iterable[Mapping[str, int]], max_postings: int) -> Postings:
        """Postings of documents 0, 1, 2...; `scores` gives each one's token → score."""
        new = cls(max_postings)
        ids, all_scores = new._ids, new._scores
        for doc_id, doc_scores in enumerate(scores):
            for tok, score in doc_scores.items():
                doc_ids = ids.get(tok)
                if doc_ids is None:
                    ids[tok] = [doc_id]
                    all_scores[tok] = [score]
                else:
                    doc_ids.append(doc_id)
                    all_scores[tok].append(score)
            new.count += len(doc_scores)
        new._tokens = sorted(ids, key=utf16_key)
        new._keys = [utf16_key(t) for t in new._tokens]
        new._dirty = set(ids)
        return new

    def pack(self) -> tuple[Any, ...]:
        """Everything, as builtins `marshal` writes (a site's snapshot); `unpack` reads it back."""
        self._flush()
        packed = dict(self._packed)
        for tok, ids in self._ids.items():
            packed[tok] = (array(_PACKED, ids).tobytes(), array(_PACKED, self._scores[tok]).tobytes())
        return (self.max_postings, self.count, self._keys, self._tokens, self._encoded, packed)

    @classmethod
    def unpack(cls, state: tuple[Any, ...]) -> Postings:
        """The postings `pack` wrote; a token's lists are decoded when a patch first touches it."""
        max_postings, count, keys, tokens, encoded, packed = state
        new = cls(int(max_postings))
        new.count = int(count)
        new._keys, new._tokens, new._encoded, new._packed = list(keys), list(tokens), dict(encoded), dict(packed)
        if not (len(new._keys) == len(new._tokens) == len(new._encoded) == len(new._packed)):
            raise ValueError("inconsistent postings")
        return new

    def _lists(self, tok: str) -> tuple[list[int], list[int]] | None:
        packed = self._packed.pop(tok, None)
        if packed is not None:
            self._ids[tok] = array(_PACKED, packed[0]).tolist()
            self._scores[tok] = array(_PACKED, packed[1]).tolist()
        ids = self._ids.get(tok)
        return None if ids is None else (ids, self._scores[tok])

    def _flush(self) -> None:
        for tok in self._dirty:
            if tok in self._ids:
                self._encoded[tok] = self._encode(tok)
        self._dirty.clear()

    def replace(self, doc_id: int, old: Mapping[str, int], new: Mapping[str, int]) -> None:
        """Document `doc_id` now scores `new` instead of `old` (what it was built or replaced with)."""
        for tok, score in old.items():
            if new.get(tok) != score:
                self._remove(tok, doc_id)
        for tok, score in new.items():
            if old.get(tok) != score:
                self._add(tok, doc_id, score)

    def entries(self) -> list[tuple[str, bytes]]:
        """(token, `"token":[doc,score,...]`) in token order; at most `max_postings` pairs each,
        the best scores (earlier documents first among equals), listed in document order."""
        self._flush()
        return [(tok, self._encoded[tok]) for tok in self._tokens]

    def encoded_bytes(self) -> int:
        return sum(len(e) for e in self._encoded.values())

    def _encode(self, tok: str) -> bytes:
        # Only tokens a patch touched are encoded again, and touching decodes them (`_lists`).
        pairs: Iterable[tuple[int, int]] = zip(self._ids[tok], self._scores[tok], strict=True)
        if len(self._ids[tok]) > self.max_postings:
            # stable sort: among equal scores earlier documents stay first
            best = sorted(pairs, key=itemgetter(1), reverse=True)[: self.max_postings]
            pairs = sorted(best)
        flat = [x for pair in pairs for x in pair]
        return f"{to_json(tok)}:{to_json(flat)}".encode()

    def _remove(self, tok: str, doc_id: int) -> None:
        lists = self._lists(tok)
        if lists is None:
            raise KeyError(tok)
        ids, scores = lists
        at = bisect_left(ids, doc_id)
        del ids[at]
        del scores[at]
        self.count -= 1
        if ids:
            self._dirty.add(tok)
            return
        del self._ids[tok], self._scores[tok]
        self._encoded.pop(tok, None)
        self._dirty.discard(tok)
        at = bisect_left(self._keys, utf16_key(tok))
        del self._keys[at], self._tokens[at]

    def _add(self, tok: str, doc_id: int, score: int) -> None:
        lists = self._lists(tok)
        if lists is None:
            self._ids[tok] = [doc_id]
            self._scores[tok] = [score]
            key = utf16_key(tok)
            at = bisect_left(self._keys, key)
            self._keys.insert(at, key)
            self._tokens.insert(at, tok)
        else:
            ids, scores = lists
            at = bisect_left(ids, doc_id)
            ids.insert(at, doc_id)
            scores.insert(at, score)
        self.count += 1
        self._dirty.add(tok)
