"""Helpers for renderer tests: build a site in memory and read its HTML as a browser would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar

import pytest

from openbook.fs.themes import load_theme
from openbook.render import BuildResult, SiteSettings, ThemeChain, build_site


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    children_text: list[str] = field(default_factory=list)


class Doc(HTMLParser):
    """A tiny DOM-ish view: every element with its attributes and its full text."""

    VOID: ClassVar[frozenset[str]] = frozenset(
        {
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "source",
            "track",
            "wbr",
        }
    )

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(el)
        if tag not in self.VOID:
            self._open.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for el in self._open:
            el.text += data

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        out = []
        for el in self.elements:
            if tag is not None and el.tag != tag:
                continue
            if all(el.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items()):
                out.append(el)
        return out

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]

    def by_id(self, id_: str) -> Element:
        return self.find(None, id=id_)

    def with_class(self, cls: str, tag: str | None = None) -> list[Element]:
        return [
            el for el in self.elements if (tag is None or el.tag == tag) and cls in el.attrs.get("class", "").split()
        ]

    def title(self) -> str:
        return self.find("title").text.strip()


class Site:
    def __init__(self, result: BuildResult) -> None:
        self.result = result
        self.files = {f.path: f.data for f in result.files if f.data is not None}
        self.keys = {f.path: f.render_key for f in result.files}
        self.stats = result.stats

    def html(self, path: str) -> Doc:
        assert path in self.files, f"{path} not in output: {sorted(self.files)[:40]}"
        return Doc(self.files[path].decode())

    def text(self, path: str) -> str:
        return self.files[path].decode()


Build = Callable[..., Site]


@pytest.fixture(scope="session")
def book() -> ThemeChain:
    return load_theme("book")


@pytest.fixture(scope="session")
def base() -> ThemeChain:
    return load_theme("base")


@pytest.fixture
def build(book: ThemeChain) -> Build:
    def run(
        content: Mapping[str, bytes | str],
        theme: ThemeChain | None = None,
        title: str = "Test Book",
        **kwargs: Any,
    ) -> Site:
        options = {
            k: kwargs.pop(k)
            for k in ("search_shard_limit", "previous", "last_commits", "workers", "site_key")
            if k in kwargs
        }
        settings = SiteSettings(title=title, **kwargs)
        data = {k: v.encode() if isinstance(v, str) else v for k, v in content.items()}
        return Site(build_site(data, theme or book, settings, **options))

    return run
