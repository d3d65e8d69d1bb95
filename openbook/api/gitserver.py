"""dulwich's smart-protocol handlers on OpenBook's git side (the glue; the mapping is `openbook.gitmap`).

dulwich speaks the protocol (pkt-lines, capabilities, negotiation with
ACK/NAK, side-band, report-status) and writes packs; its handlers are
synchronous, so each request's handler runs in a worker thread and reaches
the database through `Bridge`, which runs a coroutine on the event loop and
waits for it. OpenBook supplies:

- `_Repo.find_missing_objects`: what to send, planned by `GitRemote.plan`
  (not dulwich's walk, which visits every tree of every have);
- `_Store`: objects for the negotiation and the pack (blobs fetched in
  batches as the pack is written, so a clone never holds all of them);
- `ReceivePack._apply_pack`: the pack read whole and checked, then each ref
  updated by `GitRemote.push`, refusals reported per ref.

Protocol v0/v1 over stateless HTTP (git falls back from v2 by itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dulwich.object_format import SHA1, ObjectFormat
from dulwich.objects import ObjectID, ShaFile
from dulwich.pack import UnpackedObject
from dulwich.protocol import (
    CAPABILITY_ATOMIC,
    CAPABILITY_FILTER,
    CAPABILITY_INCLUDE_TAG,
    CAPABILITY_SIDE_BAND_64K,
    SIDE_BAND_CHANNEL_DATA,
    Protocol,
)
from dulwich.refs import Ref
from dulwich.server import Backend, BackendRepo, ReceivePackHandler, UploadPackHandler

from openbook.db.gitremote import GitRemote, PushOutcome, RefUpdate
from openbook.errors import PushRefused
from openbook.gitmap.objects import TYPE_NUMS, GitId, GitObject
from openbook.gitmap.pack import read_pack
from openbook.gitmap.sendset import PackPlan
from openbook.pipeline.bridge import Bridge
from openbook.store.objects import ObjectId

BLOB_BATCH = 500
"""Blobs fetched per round trip while a pack is written."""
MAX_STATUS_CHARS = 900


def _sha_file(gid: GitId, obj: GitObject) -> ShaFile:
    return ShaFile.from_raw_string(TYPE_NUMS[obj.kind], obj.payload, ObjectID(gid.encode()))


class _Store:
    """The object container dulwich's handlers read: negotiation lookups and the planned pack."""

    def __init__(self, remote: GitRemote, bridge: Bridge) -> None:
        self.remote = remote
        self.bridge = bridge
        self.commits: set[GitId] = set()
        self.objects: dict[GitId, GitObject] = {}
        self.plan: PackPlan | None = None
        self._blob_at: dict[GitId, int] = {}

    def learn_commits(self, ids: Iterable[GitId]) -> None:
        self.commits.update(ids)

    def __contains__(self, sha: object) -> bool:
        if not isinstance(sha, bytes):
            return False
        gid = GitId(sha.decode())
        if gid not in self.commits and gid not in self.objects:
            self.commits |= self.bridge.run(self.remote.commits_known([gid]))
        return gid in self.commits or gid in self.objects

    def __getitem__(self, sha: bytes) -> ShaFile:
        gid = GitId(sha.decode())
        obj = self.objects.get(gid)
        if obj is None and self.plan is not None and gid in self.plan.blobs:
            self._load_blobs_from(gid)
            obj = self.objects.pop(gid)
        elif obj is None:
            obj = self.bridge.run(self.remote.object(gid))
            if obj is None:
                raise KeyError(sha)
            self.objects[gid] = obj
        return _sha_file(gid, obj)

    def set_plan(self, plan: PackPlan) -> None:
        self.plan = plan
        self.objects.update(plan.objects)
        blobs = [g for g in plan.order if g in plan.blobs]
        self._blob_at = {g: i for i, g in enumerate(blobs)}
        self._blob_order = blobs

    def _load_blobs_from(self, gid: GitId) -> None:
        assert self.plan is not None
        start = self._blob_at[gid]
        batch = self._blob_order[start:start + BLOB_BATCH]
        data = self.bridge.run(self.remote.blobs([self.plan.blobs[g] for g in batch]))
        for g in batch:
            ob: ObjectId = self.plan.blobs[g]
            if ob not in data:
                raise KeyError(g.encode())
            self.objects[g] = GitObject("blob", data[ob])

    def get_commit_graph(self) -> None:
        """No commit-graph file: shallow fetches read parents from the commits themselves."""
        return None

    def iter_unpacked_subset(self, shas: Iterable[bytes], **kwargs: Any) -> Iterator[UnpackedObject]:
        """No stored deltas to reuse: every object is sent whole."""
        return iter(())


@dataclass
class _Refs:
    """What dulwich asks a repository's refs container for: the symbolic refs."""

    symrefs: dict[Ref, Ref] = field(default_factory=dict)

    def get_symrefs(self) -> dict[Ref, Ref]:
        return self.symrefs


class _Repo:
    """The `BackendRepo` dulwich's handlers see for one request."""

    object_format: ObjectFormat = SHA1
    hooks: Mapping[str, Any] = {}

    def __init__(self, refs: Mapping[str, GitId], store: _Store) -> None:
        self._refs: dict[Ref, ObjectID] = {Ref(f"refs/heads/{name}".encode()): ObjectID(gid.encode())
                                          for name, gid in refs.items()}
        self.refs = _Refs()
        if "main" in refs:
            self._refs[Ref(b"HEAD")] = ObjectID(refs["main"].encode())
            self.refs.symrefs[Ref(b"HEAD")] = Ref(b"refs/heads/main")
        self.object_store = store
        store.learn_commits(refs.values())

    def get_refs(self) -> dict[Ref, ObjectID]:
        return dict(self._refs)

    def get_peeled(self, ref: Ref) -> ObjectID | None:
        return self._refs.get(ref)

    def find_missing_objects(self, determine_wants: Callable[..., list[ObjectID]], graph_walker: Any,
                             progress: Callable[[bytes], None] | None, *, get_tagged: Any = None,
                             depth: int | None = None) -> list[tuple[ObjectID, None]] | None:
        wants = determine_wants(self.get_refs(), depth)
        if not wants:
            return None
        haves: list[GitId] = []
        sha = next(graph_walker)
        while sha is not None:
            if sha in self.object_store:
                haves.append(GitId(sha.decode()))
                graph_walker.ack(sha)
            sha = next(graph_walker)
        shallow = {GitId(s.decode()) for s in graph_walker.shallow}
        client_shallow = {GitId(s.decode()) for s in graph_walker.client_shallow}
        store = self.object_store
        plan = store.bridge.run(store.remote.plan([GitId(w.decode()) for w in wants], haves, shallow,
                                                  client_shallow))
        store.set_plan(plan)
        return [(ObjectID(g.encode()), None) for g in plan.order]


class _Backend(Backend):
    def __init__(self, repo: _Repo) -> None:
        self.repo = repo

    def open_repository(self, path: str) -> BackendRepo:
        return self.repo  # type: ignore[return-value]  # the protocol's PackBasedObjectStore is duck-typed


class SidebandProtocol(Protocol):
    """A Protocol that gathers pack data into full side-band packets.

    dulwich hands the pack over a few bytes at a time (an object's header,
    then its compressed bytes) and would send each piece as its own
    pkt-line; gathered, a 5,000-file pack is ~50 packets instead of ~15,000,
    less work for the server and for the client reading them.
    """

    PACKET = 65515  # the largest side-band payload of a pkt-line

    def __init__(self, read: Callable[[int], bytes], write: Callable[[bytes], None]) -> None:
        super().__init__(read, write)
        self._pack = bytearray()
        self._channel = 0

    def gather(self, channel: int) -> Callable[[bytes], None]:
        self._channel = channel

        def write(data: bytes) -> None:
            self._pack += data
            if len(self._pack) >= self.PACKET:
                self._send_pack(full_only=True)

        return write

    def _send_pack(self, full_only: bool = False) -> None:
        end = len(self._pack) - len(self._pack) % self.PACKET if full_only else len(self._pack)
        for start in range(0, end, self.PACKET):
            super().write_pkt_line(bytes([self._channel]) + self._pack[start:start + self.PACKET])
        del self._pack[:end]

    def write_pkt_line(self, line: bytes | None) -> None:
        if self._pack:
            self._send_pack()
        super().write_pkt_line(line)


class UploadPack(UploadPackHandler):
    """upload-pack without tags or partial-clone filters (OpenBook keeps neither)."""

    proto: SidebandProtocol

    def capabilities(self) -> list[bytes]:
        return [c for c in super().capabilities() if c not in (CAPABILITY_FILTER, CAPABILITY_INCLUDE_TAG)]

    def _start_pack_send_phase(self) -> None:
        super()._start_pack_send_phase()
        if self.has_capability(CAPABILITY_SIDE_BAND_64K):
            self.write_pack_data = self.proto.gather(SIDE_BAND_CHANNEL_DATA)


def _status(message: str) -> bytes:
    """A refusal as one report-status line: no newlines, bounded."""
    text = " ".join(message.split())
    return (text[:MAX_STATUS_CHARS] + "…" if len(text) > MAX_STATUS_CHARS else text).encode()


@dataclass(frozen=True, slots=True)
class PushLimits:
    max_file_bytes: int
    max_inflated_bytes: int


class ReceivePack(ReceivePackHandler):
    """receive-pack whose refs are updated one by one by `GitRemote.push` (no atomic pushes)."""

    def __init__(self, backend: Backend, args: Sequence[str], proto: Protocol, *, body_rest: Callable[[], bytes],
                 actor: str, limits: PushLimits, advertise_refs: bool = False) -> None:
        super().__init__(backend, args, proto, stateless_rpc=True, advertise_refs=advertise_refs)
        self._body_rest = body_rest
        self._actor = actor
        self._limits = limits
        self.outcome = PushOutcome()

    def capabilities(self) -> list[bytes]:
        return [c for c in super().capabilities() if c != CAPABILITY_ATOMIC]

    def _apply_pack(self, refs: list[tuple[ObjectID, ObjectID, Ref]]) -> Iterator[tuple[bytes, bytes]]:
        store = self.repo.object_store
        assert isinstance(store, _Store)
        updates = [RefUpdate(ref.decode("utf-8", "replace"), GitId(old.decode()), GitId(new.decode()))
                   for old, new, ref in refs]
        pushed: dict[GitId, GitObject] = {}
        if any(u.new != "0" * 40 for u in updates):
            try:
                pushed = read_pack(self._body_rest(), resolve_base=self._base,
                                   max_object_bytes=self._limits.max_file_bytes,
                                   max_total_bytes=self._limits.max_inflated_bytes)
            except PushRefused as exc:
                yield (b"unpack", _status(exc.message))
                for u in updates:
                    yield (u.ref.encode(), b"pack refused, nothing stored")
                return
        yield (b"unpack", b"ok")
        self.outcome = store.bridge.run(store.remote.push(updates, pushed, self._actor,
                                                          self._limits.max_file_bytes))
        for ref, error in self.outcome.results:
            yield (ref.encode(), b"ok" if error is None else _status(error))

    def _base(self, gid: GitId) -> GitObject | None:
        store = self.repo.object_store
        assert isinstance(store, _Store)
        return store.bridge.run(store.remote.object(gid))


def backend(remote: GitRemote, refs: Mapping[str, GitId], bridge: Bridge) -> Backend:
    """A dulwich backend serving one request of one workspace."""
    return _Backend(_Repo(refs, _Store(remote, bridge)))
