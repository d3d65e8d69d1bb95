"""Headless Debian Chromium driven by Playwright (never a downloaded browser), and built books to serve."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, async_playwright

from openbook.dev.stack import ensure_debian_package
from openbook.dev.static import static_app
from openbook.fs.scan import scan_folder
from openbook.fs.themes import load_theme
from openbook.render import SiteSettings, build_site

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A small book with the shapes the theme must handle: nested chapters, code,
# a table, links between pages, and a word only one page contains.
GENERATED_BOOK = {
    "index.md": "---\ntitle: The Test Book\n---\n# The Test Book\n\n"
    "Read [getting started](start/index.md) first, then [advanced topics](advanced/deep.md).\n",
    "start/index.md": "---\ntitle: Getting started\norder: 1\n---\n# Getting started\n\n"
    "## Install\n\nRun the installer.\n\n```python\nprint('hello')\n```\n\n## Configure\n\n"
    "| key | meaning |\n|---|---|\n| `port` | where to listen |\n\nNext: [first steps](first-steps.md).\n",
    "start/first-steps.md": "---\ntitle: First steps\norder: 2\n---\n# First steps\n\n"
    "Steps one to three. See also [the install section](index.md#install).\n",
    "advanced/index.md": "---\ntitle: Advanced\norder: 2\n---\n# Advanced\n\nFor experts.\n",
    "advanced/deep.md": "---\ntitle: Deep dive\n---\n# Deep dive\n\n"
    "The quixotic zanzibar protocol explained at length.\n\n## Details\n\nMore text.\n\n## Caveats\n\nFew.\n",
}


def example_book() -> dict[str, bytes] | None:
    """The repository's example book, once it has pages."""
    if not EXAMPLES.is_dir():
        return None
    content = scan_folder(EXAMPLES)
    return content if any(p.endswith(".md") and p != "SUMMARY.md" for p in content) else None


def write_site(content: dict[str, bytes], title: str, out: Path) -> dict[str, Any]:
    """Build `content` with theme `book` and write it under `out` as the worker would; return the stats."""
    result = build_site(content, load_theme("book"), SiteSettings(title=title))
    for file in result.files:
        target = out / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
    return result.stats


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_debian_package("chromium", "chromium")


@pytest.fixture
async def serve(aiohttp_server: Any) -> Any:
    """`await serve(folder)` → base URL of `static_app` serving that folder on 127.0.0.1."""

    async def start(folder: Path) -> str:
        server = await aiohttp_server(static_app(lambda: folder))
        return str(server.make_url("/")).rstrip("/")

    return start


@pytest.fixture
async def browser(chromium: str, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A fresh Chromium profile (its own --user-data-dir), so stored settings start empty."""
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 860},
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            await context.close()
