"""Waiting for the controller's tasks: ``idle`` (tests, shutdown) must not spin."""

from __future__ import annotations

import asyncio
import threading

from qnms.orchestrator.tasks import settle


def test_settle_returns_while_a_finished_tasks_done_callback_is_still_queued() -> None:
    """Python 3.12's gather of done tasks completes without yielding: a task that has
    finished but whose done callback (which drops it from the set) has not run yet
    must not make the wait spin and block the loop (it did: the key tests hung)."""
    result: list[str] = []

    async def done_at_once() -> None:
        return None

    async def go() -> None:
        tasks: set[asyncio.Task[None]] = set()
        task = asyncio.get_running_loop().create_task(done_at_once())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        await asyncio.sleep(0)  # the task ran to its end; its callback is queued
        assert task.done() and task in tasks
        await settle(tasks)
        result.append("settled" if not tasks else "left")

    # a thread, so that a spinning loop fails this test instead of hanging the suite
    runner = threading.Thread(target=asyncio.run, args=(go(),), daemon=True)
    runner.start()
    runner.join(5)
    assert result == ["settled"]
