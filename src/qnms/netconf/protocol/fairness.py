"""Fair service (issue 9): expensive work leaves the event loop, within a budget.

One asyncio loop serves every session, so a request that computes for seconds on it
(an XPath filter of degree 2 over a large tree, a 20,000-entry edit, a full
validation) freezes every other session for as long. ``Fairness`` moves that work
into worker threads: lxml releases the GIL while libxml2 parses, copies into C
structures and evaluates XPath, and pure-Python work is preempted every GIL switch
interval, so the loop keeps answering the other sessions between slices.

* Reads (get, get-config, and the filtering in them) run in a small pool: each works
  on its own copy of a snapshot (``DatastoreManager`` readers take no lock).
* Writes run in one writer thread, in arrival order across sessions; the datastore's
  writer lock keeps check-to-apply atomic and runs its callbacks on the loop.
* A session still answers its RPCs one by one in arrival order (RFC 6241 4.2): its
  ``_answer_inbox`` awaits each reply before it takes the next request; only other sessions
  proceed meanwhile.
* An XPath evaluation has a budget: ``qnms.yang.xpath_cost`` refuses what its
  estimate finds too dear before evaluating, and a read with an XPath filter that
  is still running after ``xpath_time_budget`` seconds is answered ``operation-failed``
  / ``xpath-too-expensive``. A thread cannot be killed, so the abandoned evaluation
  runs to its end (bounded by the estimate); until it has, that session's next request
  waits, so one client can never keep more than one abandoned evaluation alive.
  (A killable worker process would stop it at once, but would pay a copy of the
  whole datastore across a pipe on every filtered read: see the README.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from lxml import etree

from qnms.yang.secure_xml import parse_secure
from qnms.yang.xpath_cost import DEFAULT_MAX_COST, too_expensive

T = TypeVar("T")
PARSE_OFF_LOOP_BYTES = 256 * 1024  # requests at least this big are parsed in a worker


class Requester(Protocol):
    """What fair service needs of the session a request came from: to hand it an
    evaluation that ran over budget, and to wait for the one it was handed before."""

    def abandoned(self, work: asyncio.Future[Any]) -> None: ...

    async def settle(self) -> None: ...


@dataclass
class FairnessOptions:
    """Budgets of one server (``ServerOptions`` carries them)."""

    xpath_time_budget: float | None = 2.0  # seconds a filtered read may take (None: no limit)
    xpath_max_cost: float | None = DEFAULT_MAX_COST  # estimated node visits (None: no limit)
    read_workers: int = 4
    offload: bool = True  # False: everything on the loop (ServerOptions.offload)


class Fairness:
    """The worker pools of one server and the budgets they apply."""

    def __init__(self, options: FairnessOptions | None = None) -> None:
        self.options = options or FairnessOptions()
        self._pools: dict[str, concurrent.futures.ThreadPoolExecutor] = {}

    def _pool(self, name: str) -> concurrent.futures.ThreadPoolExecutor:
        """The ``read`` or ``write`` pool, created on first use (and after shutdown)."""
        pool = self._pools.get(name)
        if pool is None:
            cap = max(1, min(self.options.read_workers, (os.cpu_count() or 2) * 2))
            workers = cap if name == "read" else 1
            pool = self._pools[name] = concurrent.futures.ThreadPoolExecutor(
                workers, f"netconf-{name}"
            )
        return pool

    async def read(self, session: Requester, fn: Callable[[], T], *,
                   select: str | None = None) -> T:  # fmt: skip
        """``fn()`` in a reader thread; with ``select`` (an XPath filter in it) within
        the time budget, else ``operation-failed`` / ``xpath-too-expensive``."""
        if not self.options.offload:
            return fn()
        await session.settle()
        fut = asyncio.get_running_loop().run_in_executor(self._pool("read"), fn)
        budget = self.options.xpath_time_budget if select is not None else None
        if budget is None:
            return await fut
        done, _ = await asyncio.wait([fut], timeout=budget)
        if done:
            return fut.result()
        session.abandoned(fut)  # it runs on; the session's next request waits for it
        raise too_expensive(select or "", f"not evaluated within {budget:g} s")

    async def write(self, session: Requester, fn: Callable[[], T]) -> T:
        """``fn()`` (a datastore change) in the writer thread, in arrival order."""
        if not self.options.offload:
            return fn()
        await session.settle()
        return await asyncio.get_running_loop().run_in_executor(self._pool("write"), fn)

    async def parse(self, raw: bytes, max_depth: int) -> etree._Element:
        """A request parsed with ``parse_secure``: in a reader thread when it is large
        (a 20,000-entry edit is megabytes; libxml2 parses without the GIL)."""
        if not self.options.offload or len(raw) < PARSE_OFF_LOOP_BYTES:
            return parse_secure(raw, max_depth)
        return await self.run_in_reader(lambda: parse_secure(raw, max_depth))

    def run_in_reader(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """``fn()`` in a reader thread for the server's own work (YANG-Push)."""
        return asyncio.get_running_loop().run_in_executor(self._pool("read"), fn)

    def shutdown(self) -> None:
        """Stop the pools (a running evaluation finishes on its own; nothing waits)."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
