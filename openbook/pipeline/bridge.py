"""Coroutines run on the event loop from a worker thread (synchronous libraries calling back into ours).

dulwich's protocol handlers and its git client are synchronous; they run in
threads (so the loop keeps serving) and reach PostgreSQL through `Bridge`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

BRIDGE_TIMEOUT_S = 600.0


class Bridge:
    """Runs coroutines on `loop` from another thread, one at a time, waiting for each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(BRIDGE_TIMEOUT_S)
