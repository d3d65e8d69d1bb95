"""Reading a local folder of content (`openbook push`, `openbook preview`): path → bytes.

Dot-files (.git, .env, editor state) stay local: the store keeps history
forever, so a secret pushed once could never be taken back. `.well-known/` is
an exception, since sites publish it on purpose, and so are GitBook's
`.gitbook.yaml` and `.gitbook/` (its configuration and its pages' images).
"""

from __future__ import annotations

import os
from pathlib import Path

from openbook.errors import InvalidRequest
from openbook.store.paths import validate_path

IGNORED_NAMES = frozenset({"__pycache__"})
PUBLISHED_DOT_NAMES = frozenset({".well-known", ".gitbook", ".gitbook.yaml"})


def skipped(name: str) -> bool:
    """Whether a file or folder of this name stays out of the content."""
    return name in IGNORED_NAMES or (name.startswith(".") and name not in PUBLISHED_DOT_NAMES)


def scan_folder(root: Path) -> dict[str, bytes]:
    """Every regular file below `root` (symlinks and skipped names left out), path → bytes.

    Raises InvalidRequest when `root` is not a folder or a file cannot be read,
    InvalidPath for a file name the store refuses.
    """
    if not root.is_dir():
        raise InvalidRequest(f"{root} is not a folder", {"path": str(root)})
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not skipped(d))
        for name in filenames:
            full = Path(dirpath) / name
            if skipped(name) or full.is_symlink() or not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            try:
                files[validate_path(rel)] = full.read_bytes()
            except OSError as exc:
                raise InvalidRequest(f"cannot read {full}: {exc.strerror or exc}", {"path": rel}) from exc
    return files
