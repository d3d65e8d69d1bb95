"""The preview's reload script in a real browser: edits, a broken file and its fix show by themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext

from openbook.preview.server import Preview, preview_app
from openbook.render import SiteSettings
from tests.preview.conftest import PAGES, edit


async def test_page_follows_edits_without_a_click(
    tmp_path: Path, aiohttp_server: Any, browser: BrowserContext
) -> None:
    folder = tmp_path / "book"
    for path, text in PAGES.items():
        edit(folder / path, text)
    preview = Preview(folder, "book", SiteSettings(title="Live"))
    server = await aiohttp_server(preview_app(preview, force_polling=True, poll_delay_ms=50))
    page = await browser.new_page()
    await page.goto(str(server.make_url("/guide/intro/")))
    main = page.locator("main")
    assert "The first version." in await main.inner_text()

    edit(folder / "guide" / "intro.md", "# Introduction\n\nEdited while the page was open.\n")
    await page.get_by_text("Edited while the page was open.").wait_for()

    edit(folder / "guide" / "usage.md", "---\norder: [1\n---\n# Usage\n")
    await page.locator("[data-preview-error-path]").wait_for()
    assert await page.locator("[data-preview-error-path]").inner_text() == "guide/usage.md"

    edit(folder / "guide" / "usage.md", "# Usage\n\nFixed.\n")
    await page.get_by_text("Edited while the page was open.").wait_for()
    assert await page.locator("[data-ob-toc] a").count() >= 3
