"""A preview server in-process on a temporary book, and a reader for its event stream."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from openbook.preview.server import EVENTS_PATH, Preview, preview_app
from openbook.render import SiteSettings

PAGES = {
    "index.md": "---\ntitle: Welcome\n---\n# Welcome\n\nStart with the [introduction](guide/intro.md).\n",
    "guide/intro.md": "---\ntitle: Introduction\norder: 1\n---\n# Introduction\n\nThe first version.\n",
    "guide/usage.md": "---\ntitle: Usage\norder: 2\n---\n# Usage\n\nBack to [the introduction](intro.md).\n",
    "images/dot.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>',
}


@pytest.fixture
def book_dir(tmp_path: Path) -> Path:
    root = tmp_path / "book"
    for path, text in PAGES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture
def themes_dir(tmp_path: Path) -> Path:
    """A THEMES_PATH entry with one theme extending `book` by a stylesheet of its own."""
    theme = tmp_path / "themes" / "tinted"
    (theme / "static").mkdir(parents=True)
    (theme / "templates").mkdir()
    (theme / "theme.toml").write_text('name = "tinted"\nversion = "0.1.0"\nextends = "book"\n')
    (theme / "static" / "tint.css").write_text("body { color: #123; }\n")
    (theme / "templates" / "base.html").write_text(
        '{% extends "book:base.html" %}\n'
        "{% block head %}{{ super() }}"
        '<link rel="stylesheet" href="{{ asset(\'tint.css\') }}">{% endblock %}\n'
    )
    return tmp_path / "themes"


_ticks = itertools.count(10)


def edit(path: Path, text: str) -> None:
    """Write `path` and move its mtime to a later whole second than any edit before.

    The tests watch by polling (no inotify needed), and watchfiles' poller
    compares size and whole-second mtimes: a same-size edit within the second
    of the previous state would go unseen.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    when = int(time.time()) + next(_ticks)
    os.utime(path, (when, when))


StartPreview = Callable[..., Awaitable[tuple[Any, Preview]]]


@pytest.fixture
def start_preview(aiohttp_client: Any) -> StartPreview:
    """`await start_preview(folder, theme="book", extra_dirs=())` → (test client, Preview), built."""

    async def start(
        folder: Path, theme: str = "book", extra_dirs: tuple[Path, ...] = ()
    ) -> tuple[Any, Preview]:
        preview = Preview(folder, theme, SiteSettings(title="Preview Test"), extra_dirs)
        # polling: no dependence on inotify (overlay and network file systems miss events)
        client = await aiohttp_client(preview_app(preview, force_polling=True, poll_delay_ms=50))
        return client, preview

    return start


class EventReader:
    """Reads `/_preview/events` the way EventSource does: `event:` and `data:` lines up to a blank one."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        name, data = "", ""
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the event stream ended")
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "" and name:
                    return name, json.loads(data)


@pytest.fixture
async def open_events() -> Any:
    opened: list[aiohttp.ClientResponse] = []

    async def open_(client: Any) -> EventReader:
        response = await client.get(EVENTS_PATH)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        opened.append(response)
        return EventReader(response)

    yield open_
    for response in opened:
        response.close()
