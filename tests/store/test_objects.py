"""Golden hashes: these ids define stored data; changing one breaks every database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from openbook.errors import CorruptObject
from openbook.store.dirs import slot
from openbook.store.objects import (
    EMPTY_TREE,
    Leaf,
    RawObject,
    TNode,
    TreeEntry,
    blob,
    decode_commit,
    decode_node,
    encode_commit,
    encode_leaf,
    encode_tnode,
    hash_raw,
)

HELLO = "938d806cb1ca09e203d2da40129a47e5fac33fe6645793323230de70bdb1fbf6"
EMPTY_BLOB = "99ffb0ba6646475015977d05324ca3be42598002a289319701af74d273f9f2e3"


def test_hash_formula_matches_the_database_check() -> None:
    assert hash_raw("blob", b"hello\n") == hashlib.sha256(b"blob\0hello\n").hexdigest() == HELLO
    assert blob(b"").id == EMPTY_BLOB
    assert EMPTY_TREE == "2bf4ab5eb87507c2b7aa213ff323b854f301ffc1ea74c3517a9d222ab212e470"
    assert hashlib.sha256(b"tree\0[]").hexdigest() == EMPTY_TREE


def test_leaf_encoding_is_sorted_canonical_json() -> None:
    leaf = encode_leaf(
        [
            TreeEntry("é.md", "blob", EMPTY_BLOB, 0),
            TreeEntry("b.md", "blob", HELLO, 6),
            TreeEntry("a", "tree", EMPTY_TREE, None),
        ]
    )
    assert leaf.payload == (
        b'[["a","tree","' + EMPTY_TREE.encode() + b'",null],'
        b'["b.md","blob","' + HELLO.encode() + b'",6],'
        b'["\xc3\xa9.md","blob","' + EMPTY_BLOB.encode() + b'",0]]'
    )
    assert leaf.id == "03f9cb5e8f610612c5b8b5090d6c74e36f51c858d0a15707554fa2d714d3ff18"
    node = decode_node(leaf.id, leaf)
    assert isinstance(node, Leaf) and list(node.entries) == ["a", "b.md", "é.md"]


def test_tnode_encoding() -> None:
    raw = encode_tnode(0, 300, [EMPTY_TREE, *[None] * 31])
    assert raw.payload.startswith(b'{"children":["' + EMPTY_TREE.encode() + b'",null,')
    assert raw.payload.endswith(b'null],"count":300,"depth":0}')
    assert raw.id == "5ecd32e9f345e86657b19224db7c335a8dc4b3f4327cbb4e8c278f0021433a09"
    node = decode_node(raw.id, raw)
    assert isinstance(node, TNode) and node.count == 300 and node.children[0] == EMPTY_TREE
    with pytest.raises(ValueError):
        encode_tnode(0, 1, [None])


def test_slot_takes_five_bits_msb_first() -> None:
    # sha256("a") starts ca 97: 11001 01010 0101...
    assert [slot("a", d) for d in range(3)] == [25, 10, 11]
    assert [slot("index.md", d) for d in range(3)] == [20, 18, 3]


def test_commit_encoding_round_trips() -> None:
    when = datetime(2024, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    raw = encode_commit(EMPTY_TREE, [], "init", "user-1", when, 1)
    assert raw.payload == (
        b'{"author":"user-1","created_at":"2024-01-02T03:04:05.000000Z","generation":1,'
        b'"message":"init","parents":[],"tree":"' + EMPTY_TREE.encode() + b'"}'
    )
    assert raw.id == "42f420cf1348cef9ec9048b2eafc7541af95dc775e93aabb84109559213a2e20"
    c = decode_commit(raw.id, raw)
    assert c.created_at == when and c.created_at.tzinfo == UTC and c.generation == 1
    assert encode_commit(c.tree, c.parents, c.message, c.author, c.created_at, c.generation) == raw
    with pytest.raises(ValueError):
        encode_commit(EMPTY_TREE, [], "m", "a", datetime(2024, 1, 1), 1)


@pytest.mark.parametrize(
    "raw",
    [
        RawObject("blob", b"[]"),
        RawObject("tree", b"{"),
        RawObject("tree", b'[["a","link","x",1]]'),
        RawObject("tnode", b'{"children":[],"count":1,"depth":0}'),
    ],
)
def test_decode_node_rejects_garbage(raw: RawObject) -> None:
    with pytest.raises(CorruptObject):
        decode_node(raw.id, raw)


def test_decode_commit_rejects_non_commits() -> None:
    with pytest.raises(CorruptObject):
        decode_commit(EMPTY_TREE, RawObject("tree", b"[]"))
    with pytest.raises(CorruptObject):
        decode_commit(EMPTY_TREE, RawObject("commit", b"{}"))
