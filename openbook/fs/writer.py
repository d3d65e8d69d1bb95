"""Writing a build folder: files created below one open folder without following a symlink, one
`syncfs` for all of them, and an atomic exchange of two folders (`storage.publish` uses them).

Blocking, and raising OSError: `storage` translates it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import uuid
from collections.abc import Iterable
from pathlib import Path

from openbook.errors import InternalError

MANIFEST = ".openbook-manifest.json"  # every build folder's, written last
TMP_PREFIX = ".tmp-"  # folders being written, or deleted: never a build
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def segments(path: str) -> list[str]:
    parts = path.split("/")
    if (not path or path.startswith("/") or "\0" in path or "\\" in path
            or any(p in ("", ".", "..") for p in parts) or parts[0] == MANIFEST):
        raise InternalError(f"the renderer produced an invalid output path {path!r}", {"path": path})
    return parts


class Writer:
    """Creates files below one open root folder without ever following a symlink (a new folder,
    or an `existing` one this module made: a spare)."""

    def __init__(self, root: Path, existing: bool = False) -> None:
        if not existing:
            os.mkdir(root, 0o755)
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        self._dirs: dict[str, int] = {"": self.root_fd}
        # One syncfs() for the whole build instead of an fsync per file and per
        # folder: a pretty-URL site has a folder per page, and thousands of
        # fsyncs cost seconds. Both make everything durable before the rename.
        self.batch_sync = _SYNCFS is not None

    def _dir_fd(self, parts: list[str]) -> int:
        key = ""
        fd = self.root_fd
        for part in parts:
            child = f"{key}/{part}" if key else part
            known = self._dirs.get(child)
            if known is None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                known = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                self._dirs[child] = known
            key, fd = child, known
        return fd

    def write(self, path: str, data: bytes, *, checked: bool = True) -> None:
        parts = segments(path) if checked else path.split("/")
        dfd = self._dir_fd(parts[:-1])
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if not self.batch_sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def link(self, source: str, path: str) -> bool:
        """Hard-link `source` (a regular file of an earlier build) as `path`; False if impossible."""
        parts = segments(path)
        dfd = self._dir_fd(parts[:-1])
        try:
            os.link(source, parts[-1], dst_dir_fd=dfd, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EMLINK, errno.ENOENT, errno.EPERM):
                return False
            raise
        return True

    def remove(self, paths: Iterable[str], prune: bool = True) -> None:
        """Delete files of the folder, then (with `prune`) the folders that leaves empty."""
        emptied: set[str] = set()
        for path in paths:
            parts = segments(path)
            os.unlink(parts[-1], dir_fd=self._dir_fd(parts[:-1]))
            if prune:
                emptied.update("/".join(parts[:i]) for i in range(1, len(parts)))
        for folder in sorted(emptied, key=lambda f: f.count("/"), reverse=True):  # deepest first
            fd = self._dirs.pop(folder, None)
            if fd is not None:
                os.close(fd)
            parent, _, name = folder.rpartition("/")
            try:
                os.rmdir(name, dir_fd=self._dir_fd(parent.split("/") if parent else []))
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise

    def sync_and_close(self) -> None:
        if self.batch_sync:
            _syncfs(self.root_fd)
        else:
            for fd in self._dirs.values():
                os.fsync(fd)
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def close(self) -> None:
        for fd in self._dirs.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._dirs.clear()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_LIBC = ctypes.CDLL(None, use_errno=True)
_SYNCFS = getattr(_LIBC, "syncfs", None)


def _syncfs(fd: int) -> None:
    """Flush the filesystem holding `fd`; an error (reported since Linux 5.8) fails the build."""
    assert _SYNCFS is not None
    if _SYNCFS(fd) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE)."""
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), str(a))
    # No atomic exchange on this filesystem: a short window where `b` is absent.
    aside = b.with_name(f"{TMP_PREFIX}old-{uuid.uuid4().hex}")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
