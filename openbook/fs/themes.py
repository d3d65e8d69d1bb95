"""Read theme folders from disk into `ThemeChain` values (the renderer itself does no I/O).

Theme folders are searched in `extra_dirs` (THEMES_PATH, in order) first,
then among the built-in themes shipped as the `openbook.themes` package.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from collections.abc import Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from openbook.errors import NotFound, RenderError
from openbook.render.templates import valid_template_name
from openbook.render.theme import ThemeChain, ThemeLayer, ThemeOutput

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_OUTPUT_PATH_RE = re.compile(
    r"^(?:[A-Za-z0-9_\-]+/|\{slug\}/)*(?:[A-Za-z0-9_\-]+|\{slug\})\.(?:html|xml|txt|json)$"
)
MAX_EXTENDS_DEPTH = 16


def _roots(extra_dirs: Sequence[Path]) -> list[Traversable]:
    return [*extra_dirs, importlib.resources.files("openbook.themes")]


def _find(name: str, extra_dirs: Sequence[Path]) -> Traversable | None:
    if not _NAME_RE.match(name):
        return None
    for root in _roots(extra_dirs):
        folder = root / name
        if (folder / "theme.toml").is_file():
            return folder
    return None


def theme_exists(name: str, extra_dirs: Sequence[Path] = ()) -> bool:
    return _find(name, extra_dirs) is not None


def available_themes(extra_dirs: Sequence[Path] = ()) -> list[str]:
    names: set[str] = set()
    for root in _roots(extra_dirs):
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if _NAME_RE.match(entry.name) and (entry / "theme.toml").is_file():
                names.add(entry.name)
    return sorted(names)


def load_theme(name: str, extra_dirs: Sequence[Path] = ()) -> ThemeChain:
    """The theme `name` and every theme it extends, child first.

    Raises NotFound for an unknown theme (or parent), RenderError naming the
    theme.toml for an invalid file or an `extends` cycle, or the file that
    cannot be read.
    """
    layers: list[ThemeLayer] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            raise RenderError(f"{seen[-1]}/theme.toml", "extends cycle: " + " → ".join([*seen, current]))
        if len(seen) >= MAX_EXTENDS_DEPTH:
            raise RenderError(f"{current}/theme.toml", "themes extend each other too deeply")
        folder = _find(current, extra_dirs)
        if folder is None:
            parent = f" (extended by theme {seen[-1]!r})" if seen else ""
            raise NotFound(f"theme {current!r} not found{parent}", {"theme": current})
        seen.append(current)
        try:
            layer = _read_layer(current, folder)
        except OSError as exc:
            # THEMES_PATH is the operator's: an unreadable file names itself and fails the build.
            raise RenderError(str(exc.filename or f"themes/{current}"),
                              f"cannot read the theme: {exc.strerror or exc}") from exc
        layers.append(layer)
        current = layer.extends
    return ThemeChain(tuple(layers))


def _read_layer(name: str, folder: Traversable) -> ThemeLayer:
    origin = f"themes/{name}"
    try:
        data: dict[str, Any] = tomllib.loads((folder / "theme.toml").read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RenderError(f"{origin}/theme.toml", f"invalid theme.toml: {exc}") from None
    extends = data.get("extends") or None
    settings = data.get("settings", {})
    if extends is not None and not isinstance(extends, str):
        raise RenderError(f"{origin}/theme.toml", "'extends' must be a theme name")
    if not isinstance(settings, dict):
        raise RenderError(f"{origin}/theme.toml", "[settings] must be a table")
    outputs = _read_outputs(origin, data.get("outputs", []))
    templates: dict[str, str] = {}
    for path, raw in _files(folder / "templates"):
        try:
            templates[path] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RenderError(f"{origin}/templates/{path}", "template is not valid UTF-8") from None
    return ThemeLayer(
        name=name,  # the folder name: what `extends` and "name:template.html" refer to
        version=str(data.get("version", "0")),
        extends=extends,
        settings=settings,
        templates=templates,
        static=dict(_files(folder / "static")),
        outputs=outputs,
        origin=origin,
    )


def _read_outputs(origin: str, raw: Any) -> tuple[ThemeOutput, ...]:
    """`[[outputs]]` tables: path, template, optional each; every problem named at once."""
    where = f"{origin}/theme.toml"
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise RenderError(where, "[[outputs]] must be a list of tables")
    problems: list[str] = []
    outputs: list[ThemeOutput] = []
    for n, item in enumerate(raw, 1):
        path, template, each = item.get("path"), item.get("template"), item.get("each")
        if not isinstance(path, str) or not _OUTPUT_PATH_RE.match(path):
            problems.append(f"output {n}: path must be a relative .html/.xml/.txt/.json path")
        elif (each is None) == ("{slug}" in path):
            problems.append(f"output {n}: path has {{slug}} exactly when 'each' is set")
        if not isinstance(template, str) or (template and not valid_template_name(template)):
            problems.append(f"output {n}: template must be a template file name")
        if each is not None and not (isinstance(each, str) and each):
            problems.append(f"output {n}: each must be a front matter field name")
        if not problems:
            outputs.append(ThemeOutput(path=str(path), template=str(template), each=each))
    if problems:
        raise RenderError(where, "; ".join(problems))
    return tuple(outputs)


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, bytes]]:
    if not folder.is_dir():
        return []
    out: list[tuple[str, bytes]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            out.extend(_files(entry, f"{prefix}{entry.name}/"))
        elif entry.is_file():
            out.append((f"{prefix}{entry.name}", entry.read_bytes()))
    return out
