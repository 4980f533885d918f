"""Waiting for something to arrive: poll a predicate until it holds or a deadline passes.

Tests must not sleep a fixed time hoping that a notification, a revert or a subprocess
got there in the meantime: on a loaded machine the sleep is too short (a flaky failure),
on an idle one it is wasted time. Poll instead, with a deadline that is generous because
it costs nothing when things go well. A sleep that *is* the behaviour under test ("nothing
arrives during 0.5 s") stays a sleep, with a comment saying so.

``wait_until`` / ``await_until`` answer whether the predicate came to hold;
``poll`` / ``apoll`` read a value until a check on it holds and return the last value read,
so that the assertion after them can show what was seen instead of just ``False``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 0.02


def wait_until(
    predicate: Callable[[], object],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
) -> bool:
    """Call ``predicate`` until it is truthy (True) or ``timeout`` seconds pass (False).

    The predicate is always called once more at the deadline, so a slow machine that
    gets there just in time still passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


def poll[T](
    read: Callable[[], T],
    check: Callable[[T], object],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
) -> T:
    """Call ``read`` until ``check(value)`` holds or the deadline passes; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
) -> bool:
    """``wait_until`` for coroutines: yields to the event loop between tries.

    ``predicate`` may be a plain function or return an awaitable.
    """

    async def holds() -> bool:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        return bool(value)

    deadline = time.monotonic() + timeout
    while True:
        if await holds():
            return True
        if time.monotonic() >= deadline:
            return await holds()
        await asyncio.sleep(interval)


async def apoll[T](
    read: Callable[[], Awaitable[T]],
    check: Callable[[T], object],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
) -> T:
    """``poll`` for coroutines: ``read`` returns an awaitable."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)
