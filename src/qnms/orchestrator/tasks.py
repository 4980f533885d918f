"""Waiting for a set of background tasks to finish, shared by the domain and parent
controllers (their provisioning and release tasks leave the set in done callbacks)."""

from __future__ import annotations

import asyncio


async def settle(tasks: set[asyncio.Task]) -> None:
    """Wait until ``tasks`` (a set its tasks leave in their done callbacks) is empty.

    Since Python 3.12 ``gather`` of tasks that are already done completes at once,
    without yielding, so a finished task whose done callback is still queued would make
    a plain ``while tasks: await gather(...)`` spin forever and block the loop; the
    ``sleep(0)`` lets those callbacks run.
    """
    while tasks:
        await asyncio.gather(*list(tasks), return_exceptions=True)
        await asyncio.sleep(0)
