"""Git objects as OpenBook writes and reads them: ids, modes, tree and commit payloads.

A git object is a kind (``blob``, ``tree``, ``commit``) and a payload; its id
is ``sha1(kind + " " + len(payload) + "\\0" + payload)`` in lowercase hex. The
encodings below are the *export* of OpenBook objects (docs/git.md): they are
fixed forever, because every git id a client has ever seen depends on them.

- a file is a blob with its bytes, mode ``100644`` (OpenBook keeps no modes);
- a directory is one flat git tree whatever OpenBook's node layout below it
  (a split directory's tnodes are flattened), entries in git's order (names
  as UTF-8 bytes, a directory compared as if its name ended in ``/``), mode
  ``40000`` for directories;
- a commit has the author as both author and committer, the creation time in
  whole seconds at ``+0000``, and the message followed by one newline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NewType

from dulwich.errors import ObjectFormatException
from dulwich.objects import Commit as DulwichCommit
from dulwich.objects import parse_tree

GitId = NewType("GitId", str)
"""40 lowercase hex characters: the SHA-1 of a git object."""

GitKind = Literal["blob", "tree", "commit"]

ZERO_ID = GitId("0" * 40)
FILE_MODE = 0o100644
EXECUTABLE_MODE = 0o100755
TREE_MODE = 0o40000
SYMLINK_MODE = 0o120000
GITLINK_MODE = 0o160000
FILE_MODES = frozenset((FILE_MODE, EXECUTABLE_MODE, 0o100664))
"""Modes read as a regular file (``100664`` was written by git before 2005)."""

TYPE_NUMS: dict[GitKind, int] = {"commit": 1, "tree": 2, "blob": 3}

_HEX40 = re.compile(r"[0-9a-f]{40}")
_IDENTITY = re.compile(r"[^<>\n\0]+ <[^<>\n\0]*>")


def git_id(kind: GitKind, payload: bytes) -> GitId:
    """The id git gives `payload` as an object of `kind`."""
    h = hashlib.sha1(b"%s %d\0" % (kind.encode(), len(payload)), usedforsecurity=False)
    h.update(payload)
    return GitId(h.hexdigest())


def is_git_id(text: str) -> bool:
    return _HEX40.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class GitObject:
    """One git object: kind and payload (the bytes after git's header)."""

    kind: GitKind
    payload: bytes

    @property
    def id(self) -> GitId:
        return git_id(self.kind, self.payload)


@dataclass(frozen=True, slots=True)
class GitEntry:
    """One entry of a git tree as stored: raw name bytes, mode, id."""

    name: bytes
    mode: int
    id: GitId

    @property
    def is_tree(self) -> bool:
        return self.mode == TREE_MODE


def _order_key(entry: tuple[bytes, bool, GitId]) -> bytes:
    name, is_dir, _ = entry
    return name + b"/" if is_dir else name


def tree_payload(entries: Iterable[tuple[str, bool, GitId]]) -> bytes:
    """The canonical git tree of (name, is_directory, id) entries, in any order."""
    items = sorted(((name.encode(), is_dir, gid) for name, is_dir, gid in entries), key=_order_key)
    return b"".join(
        (b"40000 " if is_dir else b"100644 ") + name + b"\0" + bytes.fromhex(gid) for name, is_dir, gid in items
    )


def parse_tree_payload(payload: bytes) -> list[GitEntry]:
    """Entries of a git tree payload; raises ObjectFormatException if it does not parse."""
    try:
        return [GitEntry(name, mode, GitId(sha.decode())) for name, mode, sha in parse_tree(payload, 20)]
    except (ValueError, IndexError) as exc:
        raise ObjectFormatException(f"malformed tree: {exc}") from exc


def identity(author: str) -> bytes:
    """Git's ``Name <email>`` for an OpenBook author.

    An author imported from git is already ``Name <email>`` and is kept as is;
    any other (a token's ``sub``) becomes ``sub <>``, with the characters git
    cannot hold in a name (``<``, ``>``, newline, NUL) removed.
    """
    if _IDENTITY.fullmatch(author):
        return author.encode()
    name = re.sub(r"[<>\n\0]", "", author).strip() or "unknown"
    return f"{name} <>".encode()


def commit_payload(tree: GitId, parents: Sequence[GitId], author: str, created_at: datetime, message: str) -> bytes:
    """The git commit exported for an OpenBook commit (see the module docstring)."""
    who = identity(author) + b" %d +0000" % int(created_at.timestamp())
    lines = [b"tree " + tree.encode()]
    lines.extend(b"parent " + p.encode() for p in parents)
    lines.append(b"author " + who)
    lines.append(b"committer " + who)
    body = message.encode()
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return b"\n".join(lines) + b"\n\n" + body


@dataclass(frozen=True, slots=True)
class PushedCommit:
    """What OpenBook keeps of a pushed git commit (its bytes are kept whole beside it)."""

    tree: GitId
    parents: tuple[GitId, ...]
    author: str
    created_at: datetime
    message: str


def fingerprint_us(commit_id: GitId) -> int:
    """Microseconds added to a pushed commit's time: 20 bits of its git id.

    Two git commits that differ only in committer, signature or headers
    OpenBook does not keep would otherwise become one OpenBook commit, and a
    fetch could not return both.
    """
    return int(commit_id[:5], 16) % 1_000_000


def parse_commit(commit_id: GitId, payload: bytes) -> PushedCommit:
    """Read a pushed commit; raises ObjectFormatException when git itself would not accept it."""
    try:
        c = DulwichCommit.from_string(payload)
        c.check()
    except (ValueError, KeyError, IndexError, AssertionError) as exc:
        raise ObjectFormatException(f"malformed commit {commit_id}: {exc}") from exc
    encoding = (c.encoding or b"utf-8").decode("ascii", "replace")
    try:
        message = c.message.decode(encoding, "replace")
    except LookupError:
        message = c.message.decode("utf-8", "replace")
    if message.endswith("\n"):
        message = message[:-1]
    when = datetime.fromtimestamp(c.author_time, UTC) + timedelta(microseconds=fingerprint_us(commit_id))
    return PushedCommit(
        tree=GitId(c.tree.decode()),
        parents=tuple(GitId(p.decode()) for p in c.parents),
        author=c.author.decode("utf-8", "replace"),
        created_at=when,
        message=message,
    )


def commit_links(payload: bytes) -> tuple[GitId, tuple[GitId, ...]]:
    """Tree and parents of a stored commit (its first header lines), without parsing the rest."""
    tree: GitId | None = None
    parents: list[GitId] = []
    for line in payload.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(b"tree "):
            tree = GitId(line[5:45].decode())
        elif line.startswith(b"parent "):
            parents.append(GitId(line[7:47].decode()))
        else:
            break
    if tree is None:
        raise ObjectFormatException("commit without a tree")
    return tree, tuple(parents)
