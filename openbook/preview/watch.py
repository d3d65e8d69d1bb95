"""Watch folders for changes (the `watchfiles` library) and say which watched root each change is in.

`openbook preview` watches the content folder and the theme folders; it needs
to know only *which* of them changed (content is re-scanned, themes re-read),
so changes are reported as the set of watched roots they fall under.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from openbook.fs.scan import IGNORED_NAMES


class _Filter(DefaultFilter):
    """watchfiles' defaults (VCS folders, editor swap files) plus what `scan_folder` skips."""

    ignore_dirs = (*DefaultFilter.ignore_dirs, *sorted(IGNORED_NAMES))


async def watch_roots(
    roots: Sequence[Path],
    stop: asyncio.Event,
    *,
    force_polling: bool | None = None,
    poll_delay_ms: int = 300,
) -> AsyncIterator[set[Path]]:
    """Yield, after each burst of changes, the roots (as given) that something changed under.

    Runs until `stop` is set. `force_polling=True` stats files every
    `poll_delay_ms` instead of using OS notifications (for file systems where
    inotify misses events, and for tests); None lets watchfiles decide.
    """
    resolved = [(root, root.resolve()) for root in roots]
    existing = [str(real) for _, real in resolved if real.is_dir()]
    if not existing:
        await stop.wait()
        return
    changes: set[tuple[Change, str]]
    async for changes in awatch(
        *existing,
        watch_filter=_Filter(),
        step=50,
        stop_event=stop,
        force_polling=force_polling,
        poll_delay_ms=poll_delay_ms,
    ):
        touched: set[Path] = set()
        for _, raw in changes:
            changed = Path(raw)
            touched.update(root for root, real in resolved if changed == real or real in changed.parents)
        if touched:
            yield touched
