"""What `build_site` returns: every file of the site, and the build's figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One file of the site. `data` is None when the file was not rendered because `previous`
    maps its path to the same render key: the caller reuses the previous deployment's file."""

    path: str  # relative POSIX path, e.g. "guide/intro/index.html"
    data: bytes | None
    render_key: str  # sha256 hex of everything this file depends on

    @property
    def reused(self) -> bool:
        return self.data is None


@dataclass(frozen=True, slots=True)
class BuildResult:
    files: list[OutputFile]  # every file of the site, sorted by path
    stats: dict[str, Any]
    page_urls: dict[str, str] = field(default_factory=dict)  # page path (in the pages' folder) → URL, drafts left out
