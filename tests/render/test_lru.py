"""The byte-bounded LRU behind the renderer's per-site caches."""

from __future__ import annotations

from openbook.render.lru import SizedLRU


def test_evicts_least_recently_used_by_bytes_and_refuses_oversized_values() -> None:
    lru: SizedLRU[str, str] = SizedLRU(max_bytes=10)
    lru.put("a", "A", 4)
    lru.put("b", "B", 4)
    assert lru.get("a") == "A"  # now "b" is the oldest
    lru.put("c", "C", 4)
    assert lru.get("b") is None and lru.get("a") == "A" and lru.get("c") == "C"
    assert lru.bytes == 8 and len(lru) == 2
    lru.put("a", "A2", 2)  # replacing counts the new size only
    assert lru.bytes == 6
    lru.put("huge", "H", 11)
    assert lru.get("huge") is None and lru.bytes == 6
    assert lru.pop("c") == "C" and lru.pop("c") is None and lru.bytes == 2
    lru.clear()
    assert len(lru) == 0 and lru.bytes == 0


def test_a_replacement_too_big_to_keep_drops_the_old_value() -> None:
    lru: SizedLRU[str, str] = SizedLRU(max_bytes=10)
    lru.put("a", "old", 4)
    lru.put("a", "new", 11)
    assert lru.get("a") is None and lru.bytes == 0 and len(lru) == 0
