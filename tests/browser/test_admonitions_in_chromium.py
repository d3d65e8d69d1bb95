"""Admonitions in every built-in theme, in Chromium: one look per kind in light and in dark, a note
with a title a screen reader announces, collapsible ones that open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page

from openbook.fs.themes import load_theme
from openbook.render import SiteSettings, build_site

PAGE = """\
# Notes

!!! note "Read this first"
    A MkDocs note.

??? tip "Folded tip"
    Hidden until opened.

> [!WARNING]
> A GitHub alert.

NOTE: a callout paragraph.

{% hint style="danger" %}
A GitBook hint.
{% endhint %}
"""


async def _styles(page: Page) -> list[dict[str, str]]:
    result: list[dict[str, str]] = await page.evaluate("""() =>
        [...document.querySelectorAll("aside.admonition")].map(a => ({
            kind: a.className, border: getComputedStyle(a).borderLeftColor,
            background: getComputedStyle(a).backgroundColor,
            title: getComputedStyle(a.querySelector(".admonition-title")).color}))""")
    return result


async def test_admonitions_look_alike_in_light_and_dark(tmp_path: Path, serve: Any,
                                                         browser: BrowserContext) -> None:
    for theme in ("base", "book", "blog"):  # one browser for the three themes
        await _check_theme(theme, tmp_path / theme, serve, browser)


async def _check_theme(theme: str, folder: Path, serve: Any, browser: BrowserContext) -> None:
    result = build_site({"notes.md": PAGE.encode(), "index.md": b"# Home\n"}, load_theme(theme),
                        SiteSettings(title="Notes"), workers=1)
    for file in result.files:
        target = folder / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data or b"")
    base = await serve(folder)
    page = await browser.new_page()
    looks = {}
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.goto(f"{base}/notes/")
        looks[scheme] = await _styles(page)
        kinds = [look["kind"] for look in looks[scheme]]
        assert kinds == ["admonition note", "admonition tip", "admonition warning", "admonition note",
                         "admonition danger"], theme
        colours = {look["kind"]: look["border"] for look in looks[scheme]}
        assert len(set(colours.values())) == 4, (theme, scheme, colours)  # each kind its own colour
        body = await page.evaluate("getComputedStyle(document.body).color")
        assert all(look["title"] != body for look in looks[scheme])  # titles take their kind's colour
    for light, dark in zip(looks["light"], looks["dark"], strict=True):
        assert light["border"] != dark["border"] and light["background"] != dark["background"], theme

    # a screen reader meets a note named by its title
    assert await page.get_by_role("note", name="Read this first").count() == 1, theme
    assert await page.get_by_role("note", name="Folded tip").count() == 1, theme
    hidden = page.get_by_text("Hidden until opened.")
    assert not await hidden.is_visible()
    await page.get_by_text("Folded tip").click()
    assert await hidden.is_visible()
    await page.close()
