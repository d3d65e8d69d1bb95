"""Validation of content paths, branch names and commit ids (SPEC §5)."""

from __future__ import annotations

import re
import unicodedata

from openbook.errors import InvalidPath, InvalidRef
from openbook.store.objects import ObjectId

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_BRANCH_CHARS = 200

_HEX64 = re.compile(r"[0-9a-f]{64}")
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_RESERVED_SEGMENTS = frozenset({"commits", "log", "tree", "files"})
# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _bad_path(p: str, why: str) -> InvalidPath:
    return InvalidPath(f"invalid path {p!r}: {why}", {"path": p})


def validate_path(p: str) -> str:
    """Return `p` NFC-normalised if it is a clean relative POSIX file path.

    Raises InvalidPath (message naming the path, ``details={"path": p}``) for:
    an empty path, a leading ``/``, an empty segment (``a//b``, trailing ``/``),
    ``.`` or ``..`` segments, a backslash, NUL or any control character, a
    segment over 255 UTF-8 bytes, or a path over 1024 UTF-8 bytes.
    """
    if not isinstance(p, str) or p == "":
        raise _bad_path(str(p), "empty path")
    n = p if p.isascii() else unicodedata.normalize("NFC", p)
    if n[0] == "/":
        raise _bad_path(p, "must be relative (no leading '/')")
    if "\\" in n:
        raise _bad_path(p, "backslash not allowed")
    bad = _CONTROL.search(n)
    if bad is not None:
        raise _bad_path(p, f"control character U+{ord(bad.group()):04X} not allowed")
    size = len(n.encode())
    if size > MAX_PATH_BYTES:
        raise _bad_path(p, f"longer than {MAX_PATH_BYTES} bytes")
    for seg in n.split("/"):
        if seg == "":
            raise _bad_path(p, "empty segment")
        if seg[0] == "." and (seg == "." or seg == ".."):
            raise _bad_path(p, f"'{seg}' segment not allowed")
        if size > MAX_SEGMENT_BYTES and len(seg.encode()) > MAX_SEGMENT_BYTES:
            raise _bad_path(p, f"segment longer than {MAX_SEGMENT_BYTES} bytes")
    return n


def validate_dir_path(p: str) -> str:
    """Like `validate_path` but ``""`` (the root directory) is allowed."""
    return "" if p == "" else validate_path(p)


def validate_branch_name(name: str) -> str:
    """Return `name` if it is a valid branch name.

    Allowed: 1..200 characters from ``[A-Za-z0-9._/-]``, no ``..``, no leading
    ``/`` or ``-``, no trailing ``/``, no ``//``, not 64 hex digits (that
    spells a commit id), and in a name with ``/`` no segment ``commits``,
    ``log``, ``tree`` or ``files`` (they would make API URLs ambiguous). Raises InvalidRef
    (``details={"ref": name}``) otherwise.
    """
    why = None
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_BRANCH_CHARS:
        why = f"must be 1 to {MAX_BRANCH_CHARS} characters"
    elif not _BRANCH_CHARS.fullmatch(name):
        why = "only letters, digits, '.', '_', '/' and '-' are allowed"
    elif ".." in name:
        why = "'..' not allowed"
    elif name[0] in "/-":
        why = "must not start with '/' or '-'"
    elif name.endswith("/"):
        why = "must not end with '/'"
    elif "//" in name:
        why = "'//' not allowed"
    elif "/" in name and _RESERVED_SEGMENTS & set(name.split("/")):
        # The API addresses /branches/{name}/log and /refs/{ref}/files/{path}:
        # these segments inside a name would make such URLs ambiguous.
        why = f"segments {sorted(_RESERVED_SEGMENTS)} are reserved in names with '/'"
    elif _HEX64.fullmatch(name):
        # A ref is a branch name or a commit id; one spelling must not mean both.
        why = "a 64-hex-digit name would read as a commit id"
    if why is not None:
        raise InvalidRef(f"invalid branch name {name!r}: {why}", {"ref": name})
    return name


def is_commit_id(s: str) -> bool:
    """True if `s` has the shape of an object id (64 lowercase hex characters)."""
    return isinstance(s, str) and _HEX64.fullmatch(s) is not None


def parse_object_id(s: str) -> ObjectId:
    """Return `s` as an ObjectId; raises InvalidRef if it is not 64 lowercase hex."""
    if not is_commit_id(s):
        raise InvalidRef(f"invalid commit id {s!r}", {"ref": s})
    return ObjectId(s)


def split_path(p: str) -> tuple[str, str]:
    """Split a validated path into (parent directory, name); the root parent is ``""``."""
    head, _, tail = p.rpartition("/")
    return head, tail
