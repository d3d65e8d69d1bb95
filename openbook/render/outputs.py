"""Theme outputs: files a theme renders from the whole page list (`[[outputs]]` in theme.toml).

A blog's date-ordered index, its tag pages and its Atom feed are outputs. An
output gets `pages` (every published page, newest `date` first), `terms`
(for each `each` field: its values with their pages) and, when rendered once
per value, `term`. An output at a path a content page publishes renders that
page (its text can introduce the list); content files and aliases win over it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from openbook.errors import RenderError
from openbook.render import sitefiles
from openbook.render.markdown import slugify
from openbook.render.pages import Page
from openbook.render.problems import Failures
from openbook.render.theme import ThemeChain, ThemeOutput

SUMMARY_CHARS = 280


@dataclass(frozen=True, slots=True)
class Claim:
    """One output file to write: which theme output, and for which term (slug) if any."""

    output: ThemeOutput
    slug: str | None = None


def terms_of(value: Any) -> list[str]:
    """A front matter field's values: one string, or a list of them (other values ignored)."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip():
            out.append(str(v).strip())
    return out


def summary(page: Page) -> str:
    """The description, else the opening text (first heading dropped), cut at a word."""
    if page.meta.description:
        return page.meta.description
    text = page.doc.text
    if page.doc.first_heading and text.startswith(page.doc.first_heading):
        text = text[len(page.doc.first_heading) :]
    text = " ".join(text.split())
    if len(text) <= SUMMARY_CHARS:
        return text
    return text[:SUMMARY_CHARS].rsplit(" ", 1)[0].rstrip(",;:.") + "…"


@dataclass(slots=True)
class Listing:
    """The page list and term groups every output of one build shares."""

    chain: ThemeChain
    pages: list[Page]  # newest date first, then undated; ties by title
    base_url: str | None
    term_urls: dict[str, str] = field(default_factory=dict)  # field → "tags/{slug}/"
    terms: dict[str, dict[str, tuple[str, list[Page]]]] = field(default_factory=dict)
    _cache: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)

    @classmethod
    def build(cls, chain: ThemeChain, pages: list[Page], base_url: str | None) -> Listing:
        ordered = sorted(pages, key=lambda p: (p.title.casefold(), p.source))
        ordered.sort(key=lambda p: p.meta.date or "", reverse=True)
        listing = cls(chain, [p for p in ordered if p.output != "404.html"], base_url)
        for out in chain.outputs():
            if out.each is not None and out.each not in listing.term_urls:
                url = out.path.removesuffix("index.html")
                listing.term_urls[out.each] = url
                groups: dict[str, tuple[str, list[Page]]] = {}
                for page in listing.pages:
                    for name in terms_of(page.meta.data.get(out.each)):
                        members = groups.setdefault(slugify(name), (name, []))[1]
                        if not members or members[-1] is not page:  # `tags: [a, a]` lists it once
                            members.append(page)
                listing.terms[out.each] = groups
        return listing

    def claims(self, has_template: Callable[[str], bool], failures: Failures) -> dict[str, Claim]:
        """Output path → claim, every `each` output expanded once per term. An output whose
        template the theme lacks fails the build (or is left out, when collecting)."""
        found: dict[str, Claim] = {}
        for out in self.chain.outputs():
            if not has_template(out.template):
                failures.fail(RenderError(
                    f"themes/{self.chain.name}/theme.toml",
                    f"output {out.path} uses template {out.template!r}, which the theme does not have",
                ))
                continue
            if out.each is None:
                found[out.path] = Claim(out)
            else:
                for slug in self.terms.get(out.each, {}):
                    found[out.path.replace("{slug}", slug)] = Claim(out, slug)
        return found

    def page_terms(self, page: Page, root: str) -> dict[str, list[dict[str, str]]]:
        """For a page's own context: its values of each `each` field, linked to their outputs."""
        out: dict[str, list[dict[str, str]]] = {}
        for key, url in self.term_urls.items():
            out[key] = [
                {"name": name, "slug": slugify(name), "url": self._href(root, url, slugify(name))}
                for name in terms_of(page.meta.data.get(key))
            ]
        return out

    def context(self, root: str, claim: Claim) -> tuple[dict[str, Any], str]:
        """(`pages`, `terms`, `term` for the template, a digest of them for the render key).

        The digest covers every entry (title, URL, date, tags, summary, front matter), so
        any change to the listing changes the key of every output that shows it."""
        if root not in self._cache:
            entries = {p.source: self._entry(p, root) for p in self.pages}
            terms = {
                key: [
                    {
                        "name": name,
                        "slug": slug,
                        "url": self._href(root, self.term_urls[key], slug),
                        "pages": [entries[p.source] for p in pages],
                    }
                    for slug, (name, pages) in sorted(groups.items(), key=lambda g: g[1][0].casefold())
                ]
                for key, groups in self.terms.items()
            }
            ctx: dict[str, Any] = {"pages": list(entries.values()), "terms": terms}
            digest = hashlib.sha256(json.dumps(ctx, sort_keys=True, default=str).encode()).hexdigest()
            self._cache[root] = ctx, digest
        ctx, digest = self._cache[root]
        if claim.slug is None or claim.output.each is None:
            return dict(ctx), digest
        term = next(t for t in ctx["terms"][claim.output.each] if t["slug"] == claim.slug)
        return {**ctx, "term": term}, f"{digest}\0{claim.slug}"

    def _href(self, root: str, pattern: str, slug: str) -> str:
        return sitefiles.href(root, quote(pattern.replace("{slug}", slug)))

    def _entry(self, page: Page, root: str) -> dict[str, Any]:
        url = quote(page.url)
        href = sitefiles.href(root, url)
        return {
            "title": page.title,
            "url": href,
            "permalink": f"{self.base_url.rstrip('/')}/{url}" if self.base_url else href,
            "path": page.source,
            "date": page.meta.date,
            "description": page.meta.description,
            "summary": summary(page),
            "meta": copy.deepcopy(page.meta.data),  # shared with the parse cache
            "terms": self.page_terms(page, root),
        }
