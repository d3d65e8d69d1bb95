"""Theme static files under content-hashed names (`static/book.3f2a9c1d.css`).

Hashed names let browsers cache assets forever and let a page from an older
deployment still fetch the assets it was built with.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass

STATIC_DIR = "static/"
_CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


@dataclass(frozen=True, slots=True)
class Assets:
    files: dict[str, bytes]  # output path → bytes
    names: dict[str, str]  # theme static path → output path


def _hashed(path: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()[:8]
    stem, ext = posixpath.splitext(path)
    return f"{STATIC_DIR}{stem}.{digest}{ext}"


def build_assets(static: dict[str, bytes]) -> Assets:
    """Name every static file by its content; CSS `url(...)` references follow the renames."""
    names: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for path in sorted(static):
        if not path.endswith(".css"):
            names[path] = _hashed(path, static[path])
            files[names[path]] = static[path]
    for path in sorted(p for p in static if p.endswith(".css")):
        data = _rewrite_css(path, static[path], names)
        names[path] = _hashed(path, data)
        files[names[path]] = data
    return Assets(files, names)


def _rewrite_css(path: str, data: bytes, names: dict[str, str]) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    base = posixpath.dirname(path)

    def replace(m: re.Match[str]) -> str:
        ref = m.group(2).strip()
        if ref.startswith(("data:", "http:", "https:", "//", "/", "#")):
            return m.group(0)
        clean, sep, rest = ref.partition("?") if "?" in ref else ref.partition("#")
        target = posixpath.normpath(posixpath.join(base, clean))
        out = names.get(target)
        if out is None:
            return m.group(0)
        own_dir = posixpath.dirname(STATIC_DIR + path)
        return f"url({posixpath.relpath(out, own_dir)}{sep}{rest})"

    return _CSS_URL_RE.sub(replace, text).encode("utf-8")
