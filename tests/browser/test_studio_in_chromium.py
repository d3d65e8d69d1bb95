"""The web studio in headless Debian Chromium, as a person uses it (SPEC §13).

One flow: sign in with a link → create a branch → edit a page with the live
preview → commit → open the change request → merge → watch the deployment go
live → roll back with "Make live"; and a conflict resolved in the page. The
API and a worker run in this process on a private database and Redis
database, exactly as `openbook api` and `openbook worker` would.

axe-core (from the npm registry, packed once into a cache folder) runs on
every main page: no serious or critical violation. With
`STUDIO_SCREENSHOTS=<folder>` the test also saves a screenshot of each main
page there (docs/studio/*.png were made so).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from openbook.config import Settings, load_settings
from openbook.db.content import ContentRepository
from openbook.db.database import Database
from openbook.db.migrate import apply_migrations
from openbook.db.sites import Sites
from openbook.db.workspaces import create_workspace
from openbook.dev.stack import PostgresServer, RedisServer, ensure_debian_package
from openbook.server import create_app
from openbook.store.trees import Change
from openbook.studio.signin import make_login_link
from openbook.worker.main import serve

AXE_VERSION = "4.14.1"
AXE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "openbook-tests"
SHOTS = os.environ.get("STUDIO_SCREENSHOTS")
_redis_dbs = itertools.count(12)


def axe_source() -> str:
    """axe.min.js of axe-core AXE_VERSION, `npm pack`ed once into the cache (npm installed if missing)."""
    target = AXE_CACHE / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if not target.exists():
        npm = ensure_debian_package("npm", "npm")
        target.parent.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"], cwd=target.parent,
                                capture_output=True, text=True, timeout=120, check=True).stdout.strip().splitlines()[-1]
        with tarfile.open(target.parent / packed) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            target.write_bytes(member.read())
    return target.read_text()


@dataclass
class Studio:
    base: str
    db: Database
    settings: Settings
    workspace_id: uuid.UUID
    site_id: uuid.UUID

    @property
    def repo(self) -> ContentRepository:
        return ContentRepository(self.db, self.workspace_id)

    async def link(self, role: str = "admin") -> str:
        return await make_login_link(self.db, self.workspace_id, "ada", role, self.base)


@pytest.fixture
async def studio(pg_server: PostgresServer, redis_server: RedisServer, aiohttp_server: Any,
                 tmp_path: Path) -> AsyncIterator[Studio]:
    """A private database and Redis database, the API on a port, a worker task, a workspace with a book and a site."""
    name = f"st_{uuid.uuid4().hex[:12]}"
    dsn = pg_server.create_database(name)
    apply_migrations(dsn)
    storage = tmp_path / "storage"
    storage.mkdir()
    redis_db = str(next(_redis_dbs) % 16)
    env = {"DB_DSN": dsn, "REDIS_ADDR": redis_server.addr, "REDIS_PASSWORD": "", "REDIS_DB": redis_db,
           "APP_PORT": "8080", "STORAGE_PATH": str(storage), "JWT_SECRET": "studio-test-secret-" + "z" * 40,
           "WORKER_NAME": "studio-test", "WORKER_CLAIM_IDLE_MS": "2000"}
    settings = load_settings("api", env)
    server = await aiohttp_server(create_app(settings))
    db = await Database.open(settings.database)
    stop = asyncio.Event()
    worker = asyncio.create_task(serve(load_settings("worker", env), False, stop))
    try:
        ws = await create_workspace(db, f"s-{uuid.uuid4().hex[:8]}", "studio")
        site = await Sites(db, ws.id).create("ada", name="Field Notes", slug="notes", theme="book", branch="main",
                                             root="", settings={}, auto_deploy=True, previews=False)
        await ContentRepository(db, ws.id).commit("main", [
            Change.put("index.md", b"# Field Notes\n\nA small book about birds.\n\nSee [the guide](guide.md).\n"),
            Change.put("guide.md", b"# Guide\n\nLook up.\nListen.\nWrite it down.\n"),
        ], "The first edition", "ada", None)
        yield Studio(str(server.make_url("")).rstrip("/"), db, settings, ws.id, site.id)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 15)
        await db.close()


class Watch:
    """Errors of the studio's own pages (content shown in sandboxed frames may be refused its scripts: good)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                if r.status >= 500 or (r.status >= 400 and "/static/" in r.url) else None)

    def _console(self, message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and "/studio/render/" not in where and where != "about:srcdoc" \
                and "sandboxed" not in message.text and not where.endswith("/favicon.ico"):
            self.errors.append(f"{message.text} at {where}")


async def check(page: Page, name: str) -> None:
    """axe-core on the page: no serious or critical violation; and a screenshot when asked for."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, not a <script>: the page's CSP stays on and unchanged.
        await page.evaluate(axe_source())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


async def body_font(frame: Any) -> str:
    return str(await frame.locator("body").evaluate("b => getComputedStyle(b).fontFamily"))


async def live_commit(studio: Studio) -> str:
    return os.readlink(studio.settings.storage_path / str(studio.workspace_id) / str(studio.site_id) / "live")  # type: ignore[operator]


async def until(predicate: Any, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_write_review_merge_publish_and_roll_back(studio: Studio, browser: BrowserContext) -> None:
    page = await browser.new_page()
    watch = Watch(page)
    first_edition = (await studio.repo.branch("main")).head

    async def deployed(commit: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            return await live_commit(studio) == commit
        return False

    await until(lambda: deployed(first_edition))  # the book's first push deployed it

    await page.goto(await studio.link())
    assert page.url == f"{studio.base}/studio/"
    await check(page, "branches")

    # Keyboard: the skip link comes first, then the studio's navigation.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"

    await page.fill("#new-branch", "draft/birds")
    await page.click("text=Create branch")
    await page.wait_for_url("**/studio/tree?ref=draft%2Fbirds")
    await check(page, "tree")

    await page.click("a:text-is('guide.md')")
    frame = page.frame_locator("iframe.preview")
    await frame.locator("h1").wait_for()
    assert await frame.locator("h1").inner_text() == "Guide"
    assert await body_font(frame) != '"Times New Roman"', "the theme's stylesheet styles the page"
    await check(page, "file")

    await page.click("a:text-is('Edit')")
    await page.wait_for_url("**/studio/edit?*")
    text = page.locator("textarea[name=content]")
    await text.fill("# Guide\n\nLook up.\nListen **closely**.\nWrite it down.\n")
    preview = page.frame_locator("iframe.preview")
    await preview.locator("strong:text('closely')").wait_for()
    # The preview is styled by the site's theme (its stylesheet loaded inside the sandboxed frame).
    assert await body_font(preview) != '"Times New Roman"', "the theme's stylesheet styles the preview"
    await check(page, "editor")
    await page.fill("#message", "Listen closely")
    await page.click("button:text('Commit to draft/birds')")
    await page.wait_for_url("**/studio/file?*saved=*")
    assert "Committed to draft/birds" in await page.inner_text("main")

    await page.click("nav.mainnav >> text=Change requests")
    await page.click("a:text-is('draft/birds')")
    await page.wait_for_url("**/studio/change?*")
    assert await page.locator("table.diff ins").first.inner_text() == " **closely**"  # the words, not the line
    await check(page, "change-request")
    await page.click("button:text('Merge into main')")
    await page.wait_for_url("**merged=*")
    merged = (await studio.repo.branch("main")).head
    assert merged != first_edition

    await page.click("nav.mainnav >> text=Sites")
    await check(page, "sites")
    await page.click("a:has-text('Field Notes')")
    # The page follows the deployment by itself until it is live.
    await until(lambda: deployed(merged))
    newest = page.locator("tbody tr").first
    await newest.locator("[data-status='deployed']").wait_for(timeout=15_000)
    assert "Built 2 pages" in await newest.inner_text()
    await check(page, "site")

    await page.click("a:text-is('Make live')")
    assert "Make this deployment live?" in await page.inner_text("h1")
    await check(page, "make-live")
    await page.click("button:text('Yes, make it live')")
    await page.wait_for_url("**switched=1")
    assert await live_commit(studio) == first_edition

    await page.click("nav.mainnav >> text=Activity")
    await page.select_option("#f-action", "live.switched")
    await page.click("button:text('Filter')")
    assert await page.locator("tbody code:text('live.switched')").count() == 3
    await check(page, "activity")

    # 375 px wide: nothing runs off the side.
    await page.set_viewport_size({"width": 375, "height": 800})
    for path in ("/studio/", "/studio/change?branch=draft%2Fbirds"):
        await page.goto(studio.base + path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375, path
    if SHOTS:
        await page.goto(studio.base + "/studio/")
        await page.screenshot(path=str(Path(SHOTS) / "narrow.png"))
    assert not watch.errors, watch.errors


async def test_a_conflict_is_resolved_in_the_page(studio: Studio, browser: BrowserContext) -> None:
    repo = studio.repo
    await repo.create_branch("draft/tone", "main", "bob")
    await repo.commit("draft/tone", [Change.put("guide.md", b"# Guide\n\nLook up, slowly.\nListen.\nWrite it down.\n")],
                      "Slower", "bob", None)
    await repo.commit("main", [Change.put("guide.md", b"# Guide\n\nLook up at dawn.\nListen.\nWrite it down.\n")],
                      "Dawn", "carol", None)
    page = await browser.new_page()
    watch = Watch(page)
    if SHOTS:
        await page.emulate_media(color_scheme="dark")
    await page.goto(await studio.link("writer"))
    await page.goto(f"{studio.base}/studio/change?branch=draft%2Ftone")
    await page.click("button:text('Merge into main')")
    await page.wait_for_url("**/studio/conflicts?*")
    assert "Both sides changed the same lines." in await page.inner_text("main")
    merged_text = page.locator("#text-0")
    assert "<<<<<<< main" in await merged_text.input_value()
    await check(page, "conflicts")
    await merged_text.fill("# Guide\n\nLook up at dawn, slowly.\nListen.\nWrite it down.\n")
    await page.check("input[name=choice-0][value=edit]")
    await page.click("button:text('Merge with these resolutions')")
    await page.wait_for_url("**merged=*")
    assert await repo.read_file("main", "guide.md") == b"# Guide\n\nLook up at dawn, slowly.\nListen.\nWrite it down.\n"
    (merge,) = await repo.log("main", 1)
    assert len(merge.parents) == 2
    assert not watch.errors, watch.errors
