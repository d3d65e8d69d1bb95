"""The long-running loops stop when cancelled, even when a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from openbook.pipeline.loops import stop_if_cancelled


async def test_a_swallowed_cancellation_still_stops_a_polling_loop() -> None:
    polls = 0

    async def poll_forever() -> None:
        nonlocal polls
        while True:
            stop_if_cancelled()
            polls += 1
            # Swallowed, as asyncpg's pool does when it hands out a connection at the moment of cancellation.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    task = asyncio.create_task(poll_forever())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert polls == 1


async def test_a_task_never_cancelled_goes_on() -> None:
    stop_if_cancelled()
