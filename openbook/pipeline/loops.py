"""What the long-running loops of the API and the worker share."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise CancelledError when the current task was asked to stop but carried on.

    A loop that is cancelled while asyncpg's pool hands it a connection can see
    the cancellation swallowed (the pool returns the connection rather than
    leak it), and a polling loop would then run forever: `task.cancel()` then
    `await task` hung a test run for good. The request stays counted on the
    task (`Task.cancelling()`), so each iteration checks it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
