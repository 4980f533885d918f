"""An asyncio event loop in a background thread, for synchronous callers.

The servers are asyncio; their clients (ncclient, netconf-console2, yangcli, a
notebook, the demo script) are synchronous. Running the servers on a private loop in a
daemon thread lets both sides live in one process, exactly as they would on separate
machines: they still meet only over the network.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any


class BackgroundLoop:
    """A private event loop running in a daemon thread until ``close()``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run[T](self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call[T](self, fn: Callable[[], T], timeout: float | None = 30.0) -> T:
        """Run a plain function on the loop thread (where loop-owned state may be
        touched safely) and wait for its result."""
        fut: Future[T] = Future()

        def _do() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(_do)
        return fut.result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> BackgroundLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
