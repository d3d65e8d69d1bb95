"""Themes as in-memory values: layers of templates and static files.

A `ThemeChain` lists layers highest precedence first: the content's own
`_theme/` overrides (if any), then the site's theme, then the themes it
extends. Reading theme folders from disk is `openbook.fs.themes`'s job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openbook.errors import RenderError

CONTENT_THEME_DIR = "_theme/"


@dataclass(frozen=True, slots=True)
class ThemeOutput:
    """A file the theme renders from a template besides the pages (`[[outputs]]` in theme.toml).

    Without `each` it is rendered once; with `each` (a front matter field such as
    "tags") once per distinct value, `{slug}` in `path` naming the value.
    """

    path: str  # output path, e.g. "feed.xml", "index.html", "tags/{slug}/index.html"
    template: str  # "" in a child theme removes the parent's output at `path`
    each: str | None = None


@dataclass(frozen=True, slots=True)
class ThemeLayer:
    """One theme folder (or the content's `_theme/`), already read."""

    name: str
    version: str = "0"
    extends: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)
    static: Mapping[str, bytes] = field(default_factory=dict)
    outputs: tuple[ThemeOutput, ...] = ()
    origin: str = ""  # shown in error messages, e.g. "themes/book" or "_theme"
    sandboxed: bool = False  # templates come from content, not from the operator

    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (self.name, self.version, self.extends or "", repr(sorted(self.settings.items()))):
            h.update(part.encode() + b"\0")
        for name in sorted(self.templates):
            h.update(b"t\0" + name.encode() + b"\0" + hashlib.sha256(self.templates[name].encode()).digest())
        for path in sorted(self.static):
            h.update(b"s\0" + path.encode() + b"\0" + hashlib.sha256(self.static[path]).digest())
        for out in self.outputs:
            h.update(f"o\0{out.path}\0{out.template}\0{out.each or ''}\0".encode())
        return h.hexdigest()


@dataclass(frozen=True, slots=True)
class ThemeChain:
    """Ordered theme layers, highest precedence first."""

    layers: tuple[ThemeLayer, ...]

    @property
    def name(self) -> str:
        """The site theme's name (content overrides do not rename it)."""
        for layer in self.layers:
            if not layer.sandboxed:
                return layer.name
        return self.layers[0].name if self.layers else ""

    @property
    def version(self) -> str:
        for layer in self.layers:
            if not layer.sandboxed:
                return layer.version
        return "0"

    @property
    def sandboxed(self) -> bool:
        return any(layer.sandboxed for layer in self.layers)

    def settings(self) -> dict[str, Any]:
        """Settings defaults merged so that a child overrides its parents."""
        merged: dict[str, Any] = {}
        for layer in reversed(self.layers):
            merged.update(layer.settings)
        return merged

    def template_source(self, name: str) -> tuple[str, str] | None:
        """(source, origin file) of the highest-precedence template `name`."""
        for layer in self.layers:
            src = layer.templates.get(name)
            if src is not None:
                return src, f"{layer.origin}/templates/{name}"
        return None

    def layer_template(self, layer_name: str, name: str) -> tuple[str, str] | None:
        """Template `name` from the named layer only (`{% extends "book:base.html" %}`)."""
        for layer in self.layers:
            if layer.name == layer_name:
                src = layer.templates.get(name)
                return None if src is None else (src, f"{layer.origin}/templates/{name}")
        return None

    def static_files(self) -> dict[str, bytes]:
        """Every static file, a child's file replacing its parent's at the same path."""
        merged: dict[str, bytes] = {}
        for layer in reversed(self.layers):
            merged.update(layer.static)
        return merged

    def outputs(self) -> list[ThemeOutput]:
        """Every layer's outputs, a child's replacing its parent's at the same path."""
        merged: dict[str, ThemeOutput] = {}
        for layer in reversed(self.layers):
            merged.update((out.path, out) for out in layer.outputs)
        return [out for out in merged.values() if out.template]

    def digest(self) -> str:
        h = hashlib.sha256()
        for layer in self.layers:
            h.update(layer.digest().encode())
        return h.hexdigest()

    def with_content_overrides(self, content: Mapping[str, bytes]) -> ThemeChain:
        """Prepend a sandboxed layer built from content paths under `_theme/`."""
        templates: dict[str, str] = {}
        static: dict[str, bytes] = {}
        for path, data in content.items():
            if not path.startswith(CONTENT_THEME_DIR):
                continue
            rest = path[len(CONTENT_THEME_DIR) :]
            if rest.startswith("templates/"):
                try:
                    templates[rest[len("templates/") :]] = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise RenderError(path, "template is not valid UTF-8") from None
            elif rest.startswith("static/"):
                static[rest[len("static/") :]] = data
        if not templates and not static:
            return self
        layer = ThemeLayer(name="_theme", templates=templates, static=static, origin="_theme", sandboxed=True)
        return ThemeChain((layer, *self.layers))
