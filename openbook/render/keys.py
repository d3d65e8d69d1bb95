"""Render keys: a hash of everything an output depends on, known before it is rendered.

An output whose key equals the previous deployment's is not rendered (the
caller reuses that file), which is what lets a one-page edit cost one page
of work. So a key must change whenever its output could: bump
`RENDERER_VERSION` (`version.py`) whenever the renderer writes other bytes for the same inputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping

from openbook.render.settings import SiteSettings
from openbook.render.theme import ThemeChain
from openbook.render.version import RENDERER_VERSION


def sha(*parts: str | bytes) -> str:
    """sha256 hex of `parts`, each length-prefixed (so no two lists of parts collide)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def settings_json(settings: SiteSettings) -> str:
    """Every field of `settings` but `nav`, canonically: a field added to SiteSettings is covered by
    every key. (The nav is covered where it has effects: URLs, frames, the nav's own digest.)"""
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "nav"}
    return json.dumps(fields, sort_keys=True, default=_plain)


def _plain(value: object) -> object:
    return dict(value) if isinstance(value, Mapping) else str(value)  # str: dates in theme settings


def build_key(commit_id: str, root: str, chain: ThemeChain, settings: SiteSettings) -> str:
    """The render key of a whole build: equal keys mean equal output, so a deployment whose
    key is already published need not be built again.

    It covers the renderer's version, the commit (every content file, `_theme/` overrides
    included), the site's root folder in it, every file and setting of the theme chain (as
    read from the theme folders, before content overrides) and every site setting.
    """
    return sha(RENDERER_VERSION, "build", commit_id, root, chain.digest(), settings_json(settings))
