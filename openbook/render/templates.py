"""Jinja2 over a theme chain: one environment, one loader, errors as RenderError.

When any layer comes from the content tree the whole chain runs in an
`ImmutableSandboxedEnvironment` with a per-render time limit: content
chooses template *sources*, never file names outside the chain.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from openbook.errors import RenderError
from openbook.render.theme import ThemeChain

RENDER_TIME_LIMIT_S = 5.0
_MAX_SEQUENCE = 1_000_000
_TEMPLATE_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.(html|xml|txt|js)$")
_JINJA_CODE_RE = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
_BLOCK_TAG_RE = re.compile(r"^\s*-?\s*(block|endblock)\s+\w+\s*-?\s*$")


class TemplateTimeout(Exception):
    pass


class _ChainLoader(jinja2.BaseLoader):
    def __init__(self, chain: ThemeChain) -> None:
        self.chain = chain

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        layer, sep, name = template.partition(":")
        found = self.chain.layer_template(layer, name) if sep else self.chain.template_source(template)
        if found is None:
            raise jinja2.TemplateNotFound(template)
        source, origin = found
        return source, origin, lambda: True


class _LimitedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus a wall-clock limit and caps on huge strings/sequences."""

    intercepted_binops = frozenset({"*", "**"})
    deadline = float("inf")
    _ticks = 0

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks & 255 == 0 and time.monotonic() > self.deadline:
            raise TemplateTimeout(f"template ran longer than {RENDER_TIME_LIMIT_S:g}s")

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "**" and isinstance(right, int) and abs(right) > 1000:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(n, int)
                    and len(seq) * n > _MAX_SEQUENCE
                ):
                    raise SecurityError("sequence too large")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        return super().call(__context, __obj, *args, **kwargs)


def _make_env(chain: ThemeChain) -> jinja2.Environment:
    options: dict[str, Any] = {
        "loader": _ChainLoader(chain),
        "autoescape": jinja2.select_autoescape(["html", "htm", "xml"], default_for_string=True),
        "trim_blocks": True,
        "lstrip_blocks": True,
        "auto_reload": False,
        "cache_size": -1,
    }
    if not chain.sandboxed:
        return jinja2.Environment(**options)
    env = _LimitedSandbox(**options)

    def ticking_range(*args: int) -> Iterator[int]:
        for i in safe_range(*args):
            env.tick()
            yield i

    env.globals["range"] = ticking_range
    return env


def valid_template_name(name: str) -> bool:
    return bool(_TEMPLATE_NAME_RE.match(name))


def references_nav(chain: ThemeChain, exclude: tuple[str, ...] = ()) -> bool:
    """Whether a template's code names `nav`; then every page depends on the whole nav,
    so pages get `nav` only when this is true (keeps one-page edits one page of work)."""
    for layer in chain.layers:
        for name, source in layer.templates.items():
            if name in exclude:
                continue
            for m in _JINJA_CODE_RE.finditer(source):
                code = m.group(1) if m.group(1) is not None else m.group(2)
                if m.group(2) is not None and _BLOCK_TAG_RE.match(code):
                    continue
                if re.search(r"\bnav\b", code):
                    return True
    return False


class Templates:
    """Renders named templates of a chain; every failure becomes a RenderError."""

    def __init__(self, chain: ThemeChain, globals: dict[str, Any]) -> None:
        self.chain = chain
        self.env = _make_env(chain)
        self.env.globals.update(globals)
        self.origins = {
            f"{layer.origin}/templates/{name}" for layer in chain.layers for name in layer.templates
        }

    def has(self, name: str) -> bool:
        return self.chain.template_source(name) is not None

    def render(self, name: str, context: dict[str, Any], while_rendering: str) -> str:
        env = self.env
        if isinstance(env, _LimitedSandbox):
            env.deadline = time.monotonic() + RENDER_TIME_LIMIT_S
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            origin = exc.filename or exc.name or name
            raise RenderError(origin, f"line {exc.lineno}: {exc.message}") from None
        except RecursionError:
            raise RenderError(
                self._origin_of(name), "templates extend or include each other in a loop"
            ) from None
        except Exception as exc:  # any template failure is a content error of the build
            origin, line = self._locate(exc, name)
            where = f"line {line}: " if line else ""
            kind = "unsafe template access" if isinstance(exc, SecurityError) else type(exc).__name__
            raise RenderError(origin, f"{where}{kind}: {exc} (while rendering {while_rendering})") from None

    def _origin_of(self, name: str) -> str:
        found = self.chain.template_source(name)
        return found[1] if found else name

    def _locate(self, exc: BaseException, name: str) -> tuple[str, int | None]:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename in self.origins:
                return frame.filename, frame.lineno
        return self._origin_of(name), None
