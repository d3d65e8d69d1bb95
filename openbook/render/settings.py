"""A site's settings as the renderer takes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from openbook.render.nav import NavSpec


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """Every field but `nav` is part of every render key (`keys.settings_json`): a new one needs
    no other change there."""

    title: str
    base_url: str | None = None  # absolute URL of the primary domain (sitemap); None without a domain
    html: Literal["escape", "sanitize", "trusted"] = "sanitize"
    strict: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)  # theme settings, over the theme's defaults
    # Where the pages are, for books laid out for another tool (openbook.siteconf.books):
    source: str = ""  # the pages' folder in the content ("" the site root): mdBook's src, MkDocs' docs_dir
    summary: str = "SUMMARY.md"  # the navigation file in that folder (GitBook's structure.summary)
    home: str | None = None  # the home page's path in that folder, when not index.md/README.md
    # A navigation listed in a configuration file (MkDocs' nav), over `summary` and folders. Not
    # in render keys: what it decides (URLs, prev/next, the nav) is, output by output.
    nav: NavSpec | None = None
