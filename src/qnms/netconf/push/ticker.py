"""The clock of YANG-Push timed work, shared by every server on one event loop.

Periodic updates, on-change polls and their kin are due at wall-clock instants. Many
servers can share one loop (500 agents in one ``qnms agents`` process): with one loop
timer each, every update due at an instant ran in the same loop iteration, one after
the other, and a ``<get-config>`` that arrived meanwhile waited for all of them (a
500-agent process answered in seconds). The ticker keeps one heap for the loop and
runs what is due in slices of at most ``SLICE`` seconds; between two slices the loop
polls its sockets, so requests are answered while a batch of updates is still being
produced (issue 13, fair service). Work due at one instant keeps its order; a slice
always runs at least one piece of work, so the backlog always moves.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from collections.abc import Callable

from qnms.netconf.push.triggers import guarded

SLICE = 0.002  # s of due work run before the loop gets to poll its sockets again

_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Ticker] = weakref.WeakKeyDictionary()


def ticker_for(loop: asyncio.AbstractEventLoop) -> Ticker:
    """The loop's ticker (created on first use): servers on one loop share it."""
    ticker = _tickers.get(loop)
    if ticker is None:
        ticker = _tickers[loop] = Ticker(loop)
    return ticker


class Ticker:
    """Calls functions at wall-clock times on one loop, a slice at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slice_s: float = SLICE) -> None:
        # weakly: the registry keys tickers by loop, and a value holding its key would
        # keep every closed loop (one per test server) alive
        self._loop = weakref.ref(loop)
        self.slice_s = slice_s
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")  # wall time the timer is set for
        self._running = False  # a slice runs, or the call_soon of the next one is pending
        self.slices = 0  # slices run (how many loop iterations the work took)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the ticker's event loop is gone")
        return loop

    def __len__(self) -> int:
        return len(self._heap)

    def at(self, wall: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` at wall-clock time ``wall`` (at once if it is past)."""
        heapq.heappush(self._heap, (wall, next(self._seq), fn))
        if not self._running and wall < self._timer_at:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")
        if not self._heap or self.loop.is_closed():
            return
        wall = self._heap[0][0]
        self._timer_at = wall
        delay = max(0.0, wall - time.time())
        self._timer = self.loop.call_at(self.loop.time() + delay, self._run)

    def _run(self) -> None:
        """One slice: what is due, for at most ``slice_s`` (at least one item)."""
        self._timer, self._timer_at = None, float("inf")
        self._running = True  # what the work schedules is armed once, at the end
        self.slices += 1
        start = time.monotonic()
        heap = self._heap
        ran = False
        while heap and heap[0][0] <= time.time():
            if ran and time.monotonic() - start >= self.slice_s:
                self.loop.call_soon(self._run)  # the rest after the loop polled its sockets
                return
            _, _, fn = heapq.heappop(heap)
            ran = True
            guarded(fn)  # one failure must not stop the clock of every server
        self._running = False
        self._arm()
