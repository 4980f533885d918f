"""Run callbacks on the server's event-loop thread from a worker (issue 9, fair service).

Long datastore writes run in a worker thread so that other sessions are served
meanwhile, but what a write calls out to (NACM write checks, an application's
admission, change listeners that feed notifications and YANG-Push) owns state of the
event loop and is not thread-safe. ``LoopBridge.call`` runs such a callback on the
loop's thread: at once when already there, else queued on the loop, and, for a check
that may veto the write, waited for with its exception re-raised in the worker.

A worker waiting for the loop while holding the datastore's writer lock would deadlock
with a loop-side caller waiting for that lock (a commit, a session releasing its
candidate lock). ``hold`` takes the lock for such a caller while running the worker's
waiting callbacks itself, so both go on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable


class LoopBridge:
    """Where loop-owned callbacks run; unbound (no loop) it calls them in place."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._waiting: deque[Callable[[], None]] = deque()  # callbacks a worker waits for

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to ``loop``; must be called from the thread that runs it."""
        self._loop, self._thread = loop, threading.get_ident()

    def call(self, fn: Callable[[], None], *, wait: bool) -> None:
        """Call ``fn`` on the loop's thread; ``wait`` blocks this worker until it ran.

        Queued callbacks run in the order they were queued, before the completion of
        the worker's own future is seen by the loop (both go through
        ``call_soon_threadsafe``), so an edit's listeners run before its reply is sent.
        """
        loop = self._loop
        if loop is None or threading.get_ident() == self._thread or loop.is_closed():
            fn()
            return
        if not wait:
            loop.call_soon_threadsafe(fn)
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # re-raised in the worker
                done.set_exception(exc)
            else:
                done.set_result(None)

        self._waiting.append(run)
        loop.call_soon_threadsafe(self._run_waiting)
        done.result()

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the loop's thread ``delay`` seconds from now (unbound: now)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            fn()
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, fn)

    def _run_waiting(self) -> None:
        while self._waiting:
            try:
                fn = self._waiting.popleft()
            except IndexError:  # taken by ``hold`` meanwhile
                return
            fn()

    def hold(self, lock: threading.RLock) -> _Held:
        """``with lock``; on the loop's thread, the callbacks a worker holding ``lock``
        waits for are run while this waits for it (so neither waits for the other)."""
        return _Held(self, lock)


class _Held:
    """``LoopBridge.hold``'s context: a class, not a generator (one per datastore call,
    twice per small edit; issue 13)."""

    __slots__ = ("bridge", "lock")

    def __init__(self, bridge: LoopBridge, lock: threading.RLock) -> None:
        self.bridge, self.lock = bridge, lock

    def __enter__(self) -> None:
        bridge, lock = self.bridge, self.lock
        if bridge._loop is None or threading.get_ident() != bridge._thread:
            lock.acquire()
            return
        while not lock.acquire(timeout=0.002):
            bridge._run_waiting()

    def __exit__(self, *_exc: object) -> None:
        self.lock.release()
