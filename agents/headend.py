"""The head-end QFS agent drives the digital twin for the service units it heads.

In a real network the controller configures devices, never the physics: the
orchestrator writes a QUI on every node of a service unit's path (draft-irtf-qirg-qi-
multiplane-arch-02 section 5.3.3) and the QUI of the head-end node (``path[0]``) carries
the route and the generation request. The head-end's agent turns that configuration
into requests to the node's fabric, which here is the QNDT (section 6.2): ``allocate``
when such a QUI appears, ``release`` when it goes, release then allocate when its path
or generation request changes. Replies and ``alloc.<service-unit>`` results (routed by
qndt_feed.py) fill the QUI's config-false state through ``QfsState.twin``.

Bus I/O never runs in the datastore's edit path: the change listener, called after a
commit, only wakes a task on the agent's event loop, which compares the running QUIs
with what it asked for and talks to the twin over a zmq.asyncio DEALER socket, so the
NETCONF sessions of the loop are never blocked. A twin error or silence is shown in the
QUI's twin-state and logged; the agent keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio
from lxml import etree

from qnms.qndt.messages import endpoints

from .qfs import E, QfsState, TwinStatus

if TYPE_CHECKING:
    from .base import Agent

log = logging.getLogger(__name__)

# A QUI without time-to-live generates until it is removed; the twin's allocate needs a
# window, so it gets one longer than any emulation runs (ten simulated years).
UNTIL_RELEASED = 10 * 365 * 24 * 3600.0


@dataclass(frozen=True)
class Allocation:
    """What one head-end QUI asks of the twin (equal requests need no new allocate)."""

    qui: str
    allocation: str
    path: tuple[str, ...]
    memories: int
    pairs: int
    target_fidelity: float | None
    purification: bool
    max_swaps: int | None
    hold: bool
    duration: float | None

    def request(self) -> dict[str, Any]:
        """The ``allocate`` request of the bus catalogue."""
        body: dict[str, Any] = {
            "type": "allocate",
            "allocation": self.allocation,
            "path": list(self.path),
            "memories": self.memories,
            "pairs": self.pairs,
            "purification": self.purification,
            "hold": self.hold,
            "duration": self.duration if self.duration is not None else UNTIL_RELEASED,
        }
        if self.target_fidelity is not None:
            body["target-fidelity"] = self.target_fidelity
        if self.max_swaps is not None:
            body["max-swaps"] = self.max_swaps
        return body


def head_end_allocations(running: etree._Element) -> dict[str, Allocation]:
    """The allocations the QUIs of a running configuration ask this node to drive:
    those whose path starts with this node's id, keyed by QUI id."""
    fabric = E.find(running, "quantum-fabric")
    if not fabric:
        return {}
    node = E.text(fabric[0], "node/id")
    out = {}
    for q in E.find(fabric[0], "qui-table/qui"):
        path = tuple(p.text or "" for p in E.find(q, "path"))
        if not path or path[0] != node:
            continue
        qid = E.text(q, "id")
        target = E.text(q, "generation/target-fidelity")
        swaps = E.text(q, "generation/max-swaps")
        ttl = E.text(q, "lifecycle/time-to-live")
        out[qid] = Allocation(
            qui=qid,
            allocation=E.text(q, "service-unit"),
            path=path,
            memories=max(1, len(E.find(q, "local-handle"))),
            pairs=int(E.text(q, "generation/pairs", "0")),
            target_fidelity=float(target) if target else None,
            purification=E.text(q, "generation/purification", "true") == "true",
            max_swaps=int(swaps) if swaps else None,
            hold=E.text(q, "generation/hold", "false") == "true",
            duration=float(ttl) if ttl else None,
        )
    return out


class HeadEnd:
    """Keeps the twin's allocations in step with the head-end QUIs of one QFS agent."""

    def __init__(self, agent: Agent, bind: str, *, timeout: float = 5.0) -> None:
        self.agent = agent
        if not isinstance(agent.live, QfsState):
            raise TypeError(f"a head end drives a QFS agent, not {agent.config.stratum!r}")
        self.live = agent.live
        self.req_addr = endpoints(bind)[1]
        self.timeout = timeout
        self.asked: dict[str, Allocation] = {}  # QUI id -> request the twin accepted/refused
        self.granted: set[str] = set()  # QUI ids whose allocation the twin holds
        self._ids = itertools.count(1)
        self._sock: zmq.asyncio.Socket | None = None
        self._dirty = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[None]:
        """Follow the running configuration from now on (call on the agent's loop)."""
        self._loop = asyncio.get_running_loop()
        self.live.drives_twin = True
        self.agent.datastores.add_listener(self._changed)
        self._dirty.set()  # QUIs persisted from an earlier run are driven too
        return self._loop.create_task(self.run(), name=f"head-end-{self.agent.config.name}")

    def _changed(self, _changes: Any, _session: Any) -> None:
        # called after a commit, possibly from the thread that committed: no I/O here
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._dirty.set)

    async def run(self) -> None:
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                try:
                    await self.reconcile()
                except Exception:  # a bug here must not stop the agent serving
                    log.exception("%s: head-end reconcile failed", self.agent.config.name)
        finally:
            self.agent.datastores.remove_listener(self._changed)
            self.live.drives_twin = False
            if self._sock is not None:
                self._sock.close(0)

    async def reconcile(self) -> None:
        """Release what is no longer wanted as asked, then allocate what is new."""
        want = head_end_allocations(self.agent.datastores.get_config("running"))
        for qid, asked in list(self.asked.items()):
            if want.get(qid) == asked:
                continue
            del self.asked[qid]
            self.live.twin.pop(qid, None)
            if qid in self.granted:
                self.granted.discard(qid)
                reply = await self._call({"type": "release", "allocation": asked.allocation})
                if not reply.get("ok"):
                    log.warning("%s: release %s: %s", qid, asked.allocation, _error(reply))
            self.agent.state_changed()
        for qid, alloc in want.items():
            if qid not in self.asked:
                await self._allocate(alloc)
                self.agent.state_changed()

    async def _allocate(self, alloc: Allocation) -> None:
        self.asked[alloc.qui] = alloc
        reply = await self._call(alloc.request())
        if not reply.get("ok") and reply.get("error", {}).get("code") == "duplicate":
            reply = await self._adopt(alloc)
        if reply.get("ok"):
            self.granted.add(alloc.qui)
            self.live.twin[alloc.qui] = TwinStatus(
                alloc.allocation,
                state=reply.get("state", "scheduled"),
                start=float(reply.get("start", 0.0)),
                delivered=int(reply.get("delivered", 0)),
            )
            return
        why = _error(reply)
        log.warning("%s: allocate %s refused: %s", alloc.qui, alloc.allocation, why)
        self.live.twin[alloc.qui] = TwinStatus(alloc.allocation, state=why)

    async def _adopt(self, alloc: Allocation) -> dict[str, Any]:
        """The twin already runs this allocation (the agent restarted, the twin did not):
        take it over if it is the same path, else report the clash."""
        query = await self._call(
            {"type": "query", "what": "allocation", "allocation": alloc.allocation}
        )
        if query.get("ok") and tuple(query.get("path", ())) == alloc.path:
            return {**query, "start": 0.0}
        return {
            "ok": False,
            "error": {"code": "duplicate", "message": f"{alloc.allocation} runs on another path"},
        }

    async def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request, one reply; silence becomes an error reply, never an exception."""
        if self._sock is None:
            self._sock = zmq.asyncio.Context.instance().socket(zmq.DEALER)
            self._sock.setsockopt(zmq.LINGER, 0)
            self._sock.connect(self.req_addr)
        rid = f"{self.agent.config.name}-{next(self._ids)}"
        await self._sock.send_multipart([b"", json.dumps({**body, "id": rid}).encode()])
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    frames = await self._sock.recv_multipart()
                    with contextlib.suppress(ValueError):
                        reply = json.loads(frames[-1])
                        if isinstance(reply, dict) and reply.get("id") == rid:
                            return reply
        except TimeoutError:
            # drop the socket: a queued request must not reach a twin that comes back
            self._sock.close(0)
            self._sock = None
            return {"ok": False, "error": {"code": "timeout", "message": "no reply from twin"}}


def _error(reply: dict[str, Any]) -> str:
    err = reply.get("error") or {}
    return f"error {err.get('code', '?')}: {err.get('message', '')}".rstrip(": ")
