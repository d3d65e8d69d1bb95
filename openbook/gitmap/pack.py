"""A pushed pack read into memory, with bounds: dulwich inflates and resolves, we only limit.

The whole pack is checked (trailer checksum) before any object is used, so
a truncated or damaged pack stores nothing. Every object's declared size,
and every delta's declared result size, is checked before it is inflated or
applied, and so is their sum: a small pack cannot make the server allocate
without bound. Deltas against objects outside the pack (a thin pack) are
resolved through `resolve_base`.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from dulwich.errors import ApplyDeltaError, ChecksumMismatch, ObjectFormatException
from dulwich.object_format import SHA1
from dulwich.objects import ShaFile
from dulwich.pack import (
    DELTA_TYPES,
    PackData,
    PackInflater,
    UnpackedObject,
    UnresolvedDeltas,
    unpack_object_at,
)

from openbook.errors import PushRefused
from openbook.gitmap.objects import TYPE_NUMS, GitId, GitObject

ResolveBase = Callable[[GitId], GitObject | None]

_DAMAGE = (AssertionError, ValueError, KeyError, IndexError, zlib.error, struct.error, ApplyDeltaError,
           ChecksumMismatch, UnresolvedDeltas, ObjectFormatException)
_KINDS = {num: kind for kind, num in TYPE_NUMS.items()}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise PushRefused("pack is damaged: a delta ends inside its header")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _declared_size(data: bytes, offset: int) -> int:
    """The inflated size an object header at `offset` declares (type in the first byte's bits 4-6)."""
    if offset >= len(data):
        raise PushRefused("pack is truncated: fewer objects than its header says")
    byte = data[offset]
    size = byte & 0x0F
    shift = 4
    while byte & 0x80:
        offset += 1
        if offset >= len(data):
            raise PushRefused("pack is truncated inside an object header")
        byte = data[offset]
        size |= (byte & 0x7F) << shift
        shift += 7
    return size


class _Budget:
    def __init__(self, max_object_bytes: int, max_total_bytes: int) -> None:
        self.max_object = max_object_bytes
        self.left = max_total_bytes

    def take(self, size: int, what: str) -> None:
        if size > self.max_object:
            raise PushRefused(f"pack {what} is {size:,} bytes, over the limit of {self.max_object:,} bytes per file")
        self.left -= size
        if self.left < 0:
            raise PushRefused("pack inflates past the server's limit: push in several parts")


def _resolver(resolve_base: ResolveBase) -> Callable[[bytes], tuple[int, list[bytes]]]:
    def resolve(raw_sha: bytes) -> tuple[int, list[bytes]]:
        obj = resolve_base(GitId(raw_sha.hex()))
        if obj is None:
            raise KeyError(raw_sha)
        return TYPE_NUMS[obj.kind], [obj.payload]

    return resolve


def read_pack(data: bytes, *, resolve_base: ResolveBase, max_object_bytes: int,
              max_total_bytes: int) -> dict[GitId, GitObject]:
    """The commits, trees and blobs of pack `data` (tags are ignored), by id.

    Raises PushRefused for anything that is not a complete, intact pack
    within the limits: truncated, damaged, wrong checksum, an object or a
    delta result over `max_object_bytes`, more than `max_total_bytes`
    inflated, or a delta whose base is neither in the pack nor found.
    """
    try:
        pack = PackData.from_file(io.BytesIO(data), SHA1, size=len(data))
    except _DAMAGE as exc:
        raise PushRefused(f"not a git pack: {exc}") from None
    try:
        try:
            pack.check()
        except ChecksumMismatch:
            raise PushRefused("pack checksum mismatch: the pack is truncated or damaged") from None
        budget = _Budget(max_object_bytes, max_total_bytes)
        walker: PackInflater = PackInflater(None, SHA1.hash_func, resolve_ext_ref=_resolver(resolve_base),
                                            object_format=SHA1)
        walker.set_pack_data(pack)
        offset = 12
        for index in range(len(pack)):
            budget.take(_declared_size(data, offset), f"object {index}")
            unpacked: UnpackedObject
            unpacked, offset = unpack_object_at(data, offset, SHA1.hash_func)
            if unpacked.pack_type_num in DELTA_TYPES:
                delta = b"".join(unpacked.decomp_chunks)
                _, pos = _varint(delta, 0)
                target, _ = _varint(delta, pos)
                budget.take(target, f"object {index} (delta result)")
            walker.record(unpacked)
        if offset != len(data) - 20:
            raise PushRefused("pack is damaged: its objects do not end where its checksum starts")
        found: dict[GitId, GitObject] = {}
        obj: ShaFile
        for obj in walker:
            kind = _KINDS.get(obj.type_num)
            if kind is not None:
                found[GitId(obj.id.decode())] = GitObject(kind, obj.as_raw_string())
        return found
    except _DAMAGE as exc:
        if isinstance(exc, UnresolvedDeltas):
            raise PushRefused(f"pack has deltas against objects the server does not have: {exc}") from None
        raise PushRefused(f"pack is damaged: {type(exc).__name__}: {exc}") from None
    finally:
        pack.close()
