"""Jinja2 over a theme chain: one environment, one loader, errors as RenderError.

When any layer comes from the content tree the whole chain runs in an
`ImmutableSandboxedEnvironment` with a per-render time limit: content
chooses template *sources*, never file names outside the chain. Compiled
templates and what each template reads are kept in the site's cache.
"""

from __future__ import annotations

import marshal
import re
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from openbook.errors import BuildLimitExceeded, RenderError, TemplateTimeout
from openbook.render.cache import Codec, Kind, SiteCache
from openbook.render.theme import ThemeChain

RENDER_TIME_LIMIT_S = 5.0
_MAX_SEQUENCE = 1_000_000
_TEMPLATE_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.(html|xml|txt|js)$")


@dataclass(frozen=True, slots=True)
class TemplateUses:
    """What a template, with everything it extends, includes or imports, reads beyond its page.

    Found in the templates' syntax trees before anything renders. Pages get `nav`
    and `page.last_commit` only when their template reads them, and render keys
    include the navigation, the last commit and `url_for` targets on the same
    condition: a one-page edit stays one page of work.
    """

    nav: bool = False
    last_commit: bool = False
    url_for: frozenset[str] | None = frozenset()  # literal url_for() arguments; None: a computed one


class _ChainLoader(jinja2.BaseLoader):
    def __init__(self, chain: ThemeChain) -> None:
        self.chain = chain

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
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
    rendering = ""  # the template being rendered (`Templates.render` then names the line)
    _ticks = 0

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks & 255 == 0 and time.monotonic() > self.deadline:
            raise TemplateTimeout(self.rendering, f"template ran longer than {RENDER_TIME_LIMIT_S:g}s")

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "**" and isinstance(right, int) and abs(right) > 1000:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > _MAX_SEQUENCE:
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


def _env_class_out(key: tuple[type, str, str | None, str]) -> tuple[str, str, str | None, str]:
    env_class, name, filename, source = key
    for label, cls in _ENV_CLASSES.items():
        if env_class is cls:
            return label, name, filename, source
    raise ValueError(f"no snapshot of templates compiled for {env_class.__name__}")


def _env_class_in(key: tuple[str, str, str | None, str]) -> tuple[type, str, str | None, str]:
    label, name, filename, source = key
    return _ENV_CLASSES[label], name, filename, source


_ENV_CLASSES: dict[str, type] = {"plain": jinja2.Environment, "sandbox": _LimitedSandbox}
# A compiled template (a code object, which marshal writes as it is), by environment class,
# name, file name and source.
_CODE: Kind[Any] = Kind("compiled template", Codec(key_out=_env_class_out, key_in=_env_class_in))
_FACTS: Kind[_Facts] = Kind("template facts", Codec(
    value_out=lambda f: (f.refs, f.nav, f.last_commit, f.url_literals, f.computed_url),
    value_in=lambda t: _Facts(tuple(t[0]), bool(t[1]), bool(t[2]), frozenset(t[3]), bool(t[4])),
))
_FACTS_BYTES = 400  # a _Facts value beyond its key, the template's source


class _CodeCache(jinja2.BytecodeCache):
    """Compiled templates kept in the site's cache, for the next build's environment.

    Code depends on the environment's class (the sandbox compiles operators differently),
    the template's name and file name (autoescape is chosen by name) and its source; the
    options `_make_env` passes are fixed. All of them key an entry, so none is ever stale."""

    def __init__(self, cache: SiteCache) -> None:
        self._cache = cache

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> jinja2.bccache.Bucket:
        key = (type(environment), name, filename, source)
        bucket = _CodeBucket(environment, key, "")
        bucket.code = self._cache.get(_CODE, key)
        return bucket

    def set_bucket(self, bucket: jinja2.bccache.Bucket) -> None:
        if isinstance(bucket, _CodeBucket) and bucket.code is not None:
            size = len(marshal.dumps(bucket.code)) + len(bucket.cache_key[3])
            self._cache.put(_CODE, bucket.cache_key, bucket.code, size)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:  # pragma: no cover - get_bucket loads
        pass

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:  # pragma: no cover - set_bucket stores
        pass


class _CodeBucket(jinja2.bccache.Bucket):
    def __init__(self, environment: jinja2.Environment, key: tuple[type, str, str | None, str], checksum: str):
        super().__init__(environment, "", checksum)
        self.cache_key = key


def _make_env(chain: ThemeChain, cache: SiteCache | None) -> jinja2.Environment:
    options: dict[str, Any] = {
        "bytecode_cache": None if cache is None else _CodeCache(cache),
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


class Templates:
    """Renders named templates of a chain; every failure becomes a RenderError.
    With a site's `cache`, compiled templates and their facts are kept between builds."""

    def __init__(self, chain: ThemeChain, globals: dict[str, Any], cache: SiteCache | None = None) -> None:
        self.chain = chain
        self._cache = cache
        self.env = _make_env(chain, cache)
        self.env.globals.update(globals)
        self.origins = {f"{layer.origin}/templates/{name}" for layer in chain.layers for name in layer.templates}
        self._uses: dict[str, TemplateUses] = {}

    def has(self, name: str) -> bool:
        return self.chain.template_source(name) is not None

    def uses(self, name: str) -> TemplateUses:
        """What template `name` and every template it can reach read (see `TemplateUses`).

        A computed `extends`/`include`/`import` name makes every template of the chain
        reachable. A template that does not parse reads nothing: rendering it fails.
        """
        found = self._uses.get(name)
        if found is not None:
            return found
        nav = last_commit = computed_url = False
        literals: set[str] = set()
        seen: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            layer, sep, rest = current.partition(":")
            source = self.chain.layer_template(layer, rest) if sep else self.chain.template_source(current)
            facts = None if source is None else self._facts(source[0])
            if facts is None:
                continue
            todo.extend(ref for ref in facts.refs if ref is not None)
            if None in facts.refs:
                todo.extend(self._every_name())
            nav = nav or facts.nav
            last_commit = last_commit or facts.last_commit
            computed_url = computed_url or facts.computed_url
            literals |= facts.url_literals
        found = TemplateUses(nav, last_commit, None if computed_url else frozenset(literals))
        self._uses[name] = found
        return found

    def _facts(self, source: str) -> _Facts | None:
        found = None if self._cache is None else self._cache.get(_FACTS, source)
        if found is None:
            found = _facts(source)
            if found is not None and self._cache is not None:
                self._cache.put(_FACTS, source, found, _FACTS_BYTES + len(source))
        return found

    def _every_name(self) -> list[str]:
        names = []
        for layer in self.chain.layers:
            for template in layer.templates:
                names += [template, f"{layer.name}:{template}"]
        return names

    def render(self, name: str, context: dict[str, Any], while_rendering: str) -> str:
        env = self.env
        if isinstance(env, _LimitedSandbox):
            env.deadline = time.monotonic() + RENDER_TIME_LIMIT_S
            env.rendering = self.origin_of(name)
        try:
            return env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            origin = exc.filename or exc.name or name
            raise RenderError(origin, f"line {exc.lineno}: {exc.message}", exc.lineno or 0) from None
        except RecursionError:
            raise RenderError(self.origin_of(name), "templates extend or include each other in a loop") from None
        except (BuildLimitExceeded, MemoryError) as exc:
            # Met inside this template (the CPU-time signal, an allocation over the address-space
            # limit): the template and its line are what the author must change.
            origin, line = self._locate(exc, name)
            where = f"line {line}: " if line else ""
            if isinstance(exc, MemoryError):
                cause = f"{where}memory limit reached (BUILD_MEMORY_MB) while rendering {while_rendering}"
                raise BuildLimitExceeded(origin, cause, "memory") from None
            raise BuildLimitExceeded(origin, f"{where}{exc.cause}", exc.limit) from None
        except Exception as exc:  # any template failure is a content error of the build
            origin, line = self._locate(exc, name)
            where = f"line {line}: " if line else ""
            kind = "unsafe template access" if isinstance(exc, SecurityError) else type(exc).__name__
            detail = exc.cause if isinstance(exc, RenderError) else exc
            error = TemplateTimeout if isinstance(exc, TemplateTimeout) else RenderError
            raise error(origin, f"{where}{kind}: {detail} (while rendering {while_rendering})", line or 0) from None

    def origin_of(self, name: str) -> str:
        """The file template `name` comes from (`_theme/templates/page.html`), as errors name it."""
        found = self.chain.template_source(name)
        return found[1] if found else name

    def _locate(self, exc: BaseException, name: str) -> tuple[str, int | None]:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename in self.origins:
                return frame.filename, frame.lineno
        return self.origin_of(name), None


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one template's source names (see `TemplateUses`)."""

    refs: tuple[str | None, ...]  # templates it extends, includes or imports; None: a computed name
    nav: bool
    last_commit: bool
    url_literals: frozenset[str]
    computed_url: bool


# Only parses (never renders): OpenBook's environments differ in options that do not change syntax.
_PARSER = jinja2.Environment()


def _facts(source: str) -> _Facts | None:
    """Facts of a template source; None when it does not parse."""
    try:
        ast = _PARSER.parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    literals: set[str] = set()
    computed_url = _url_for_literals(ast, literals)
    return _Facts(
        refs=tuple(meta.find_referenced_templates(ast)),
        nav=any(n.name == "nav" and n.ctx == "load" for n in ast.find_all(nodes.Name)),
        last_commit=_names(ast, "last_commit"),
        url_literals=frozenset(literals),
        computed_url=computed_url,
    )


def _names(ast: nodes.Template, word: str) -> bool:
    """Whether `word` appears as a variable, an attribute or a string constant (`page["word"]`)."""
    for node in ast.find_all((nodes.Name, nodes.Getattr, nodes.Const)):
        if isinstance(node, nodes.Name) and node.name == word:
            return True
        if isinstance(node, nodes.Getattr) and node.attr == word:
            return True
        if isinstance(node, nodes.Const) and node.value == word:
            return True
    return False


def _url_for_literals(ast: nodes.Template, literals: set[str]) -> bool:
    """Add the string arguments of `url_for("...")` calls; True when `url_for` is used otherwise
    (a computed argument, or the function passed around), so any page URL may matter."""
    literal_calls: set[int] = set()
    for call in ast.find_all(nodes.Call):
        fn, args = call.node, call.args
        if (
            isinstance(fn, nodes.Name)
            and fn.name == "url_for"
            and len(args) == 1
            and isinstance(args[0], nodes.Const)
            and isinstance(args[0].value, str)
            and not call.kwargs
            and call.dyn_args is None
            and call.dyn_kwargs is None
        ):
            literals.add(args[0].value)
            literal_calls.add(id(fn))
    return any(n.name == "url_for" and id(n) not in literal_calls for n in ast.find_all(nodes.Name))
