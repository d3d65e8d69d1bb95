"""A site's settings as the renderer takes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """Every field is part of every render key (`keys.settings_json`): a new one needs no other change there."""

    title: str
    base_url: str | None = None  # absolute URL of the primary domain (sitemap); None without a domain
    html: Literal["escape", "sanitize", "trusted"] = "escape"
    strict: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)  # theme settings, over the theme's defaults
