"""The built book in headless Chromium, used as a reader would: sidebar, search, dark mode, links.

Builds the example book (examples/, once it has pages) and a small generated
book with theme `book`, writes each to a folder, serves it with
`dev.static.static_app` (what nginx does in production) and drives Debian's
Chromium through Playwright.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from tests.browser.conftest import GENERATED_BOOK, example_book, write_site

SCREENSHOTS = Path("/tmp")


def _book(name: str) -> tuple[dict[str, bytes], str]:
    if name == "generated":
        return {p: t.encode() for p, t in GENERATED_BOOK.items()}, "zanzibar"
    content = example_book()
    if content is None:
        pytest.skip("examples/ has no pages yet")
    return content, _search_word(content)


def _search_word(content: dict[str, bytes]) -> str:
    """The longest word of a heading (headings are always indexed) of a page other than the home page."""
    for path in sorted(content):
        if not path.endswith(".md") or path in ("index.md", "README.md", "SUMMARY.md"):
            continue
        in_code, words = False, set()
        for line in content[path].decode("utf-8", "replace").splitlines():
            if line.startswith(("```", "~~~")):
                in_code = not in_code
            elif not in_code and re.match(r"#{1,6} ", line):
                words.update(w.lower() for w in re.findall(r"[A-Za-z]{5,}", line))
        if words:
            return sorted(words, key=lambda w: (-len(w), w))[0]
    raise AssertionError("the example book has no page with a heading to search for")


class Watch:
    """Everything a page did wrong: failed requests, uncaught script errors, console errors."""

    def __init__(self, page: Page) -> None:
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("requestfailed", lambda r: self.failed.append(f"failed {r.url}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico by itself when a page names no icon; that is not the book's link.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"{message.text} at {message.location.get('url')}")

    def assert_clean(self, where: str) -> None:
        assert not self.failed, f"{where}: {self.failed}"
        assert not self.errors, f"{where}: {self.errors}"


async def _theme(page: Page) -> str:
    return str(await page.evaluate("document.documentElement.getAttribute('data-theme')"))


async def _background(page: Page) -> str:
    return str(await page.evaluate("getComputedStyle(document.body).backgroundColor"))


@pytest.mark.parametrize("name", ["generated", "examples"])
async def test_book_in_chromium(name: str, tmp_path: Path, serve: Any, browser: BrowserContext) -> None:
    content, word = _book(name)
    stats = write_site(
        content, "The Test Book" if name == "generated" else "The OpenBook Book", tmp_path / "site"
    )
    assert stats["broken_links"] == []
    base = await serve(tmp_path / "site")
    page = await browser.new_page()
    watch = Watch(page)

    home = await page.goto(base + "/")
    assert home is not None and home.status == 200

    # The sidebar comes from the shared toc.js, rendered by script.
    sidebar = page.locator("[data-ob-toc] a")
    await sidebar.first.wait_for()
    assert await sidebar.count() >= min(stats["pages"], 3)
    if name == "generated":
        assert "Deep dive" in await page.locator("[data-ob-toc]").inner_text()
    in_sidebar = set(await sidebar.evaluate_all("els => els.map(a => a.href)"))

    # Search: type a word, a result appears and leads to a real page holding it.
    box = page.locator("[data-ob-search]")
    await box.click()
    await box.press_sequentially(word, delay=15)
    first = page.locator("[data-ob-search-results] a").first
    await first.wait_for()
    await page.screenshot(path=str(SCREENSHOTS / f"openbook-{name}-search.png"))
    target = str(await first.evaluate("a => a.href"))
    assert target.startswith(base)
    await first.click()
    await page.wait_for_url(target)
    assert word in (await page.locator("main").inner_text()).lower()
    watch.assert_clean("search")

    # Dark mode: the toggle flips the document's theme, the colours follow, a reload keeps it.
    await page.goto(base + "/")
    before, background = await _theme(page), await _background(page)
    assert before in ("light", "dark")
    await page.locator("[data-ob-theme-toggle]").click()
    after = await _theme(page)
    assert after in ("light", "dark") and after != before
    assert await _background(page) != background, "the theme attribute changes no colours"
    await page.reload()
    assert await _theme(page) == after, "the choice is stored and survives a reload"
    await page.screenshot(path=str(SCREENSHOTS / f"openbook-{name}-home-{after}.png"))
    await page.locator("[data-ob-theme-toggle]").click()
    assert await _theme(page) == before

    # Every link on the home page (sidebar included) answers, and its anchor exists.
    hrefs = await page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    internal = sorted({h for h in hrefs if h.startswith(base)})
    assert len(internal) >= 3
    bodies: dict[str, str] = {}
    for href in internal:
        url, fragment = urldefrag(href)
        if url not in bodies:
            response = await page.request.get(url)
            assert response.status == 200, f"{href} from the home page: {response.status}"
            bodies[url] = await response.text()
        if fragment and url.endswith("/"):
            assert f'id="{fragment}"' in bodies[url], f"{href}: no element with id {fragment!r}"

    # Each linked page renders cleanly in the browser, with its sidebar entry marked current.
    for url in sorted(u for u in bodies if urlsplit(u).path.endswith("/")):
        response = await page.goto(url)
        assert response is not None and response.status == 200
        await sidebar.first.wait_for()
        if url in in_sidebar and urlsplit(url).path != "/":
            assert await page.locator("[data-ob-toc] a[aria-current='page']").count() == 1, url
    watch.assert_clean("pages linked from home")

    # One look at a content page, light mode, for the report.
    content_page = next((u for u in sorted(bodies) if urlsplit(u).path.count("/") > 2), base + "/")
    await page.goto(content_page)
    await page.screenshot(path=str(SCREENSHOTS / f"openbook-{name}-page-light.png"), full_page=True)
    missing = await page.goto(base + "/no/such/page/")
    assert missing is not None and missing.status == 404
    assert "not found" in (await page.locator("body").inner_text()).lower()
