"""The agents' side of the QNDT bus: emulation results become live NETCONF state.

The agents manage nodes that exist only in the digital twin, so their telemetry is
what the QNDT engine publishes (seed 6.2: network elements subscribe to the topics
relevant to them). One SUB socket per process subscribes, for each agent it hosts,
to that element's topics and hands each result to the agent's live state:

- QFS agent of node N: ``telemetry.node.N`` (statistics, memory banks),
  ``telemetry.link.L`` for each quantum link L of N, and ``alloc.*`` for the
  allocations N heads (its QFS state ignores the others);
- SS agent of node N: ``alloc.*`` deliveries and losses where N is an endpoint;
- CS agent of domain D: ``engine`` faults cutting or restoring D's channels.

``follow_twin`` also starts, for each QFS agent, the head-end driver that sends the
twin the requests its QUIs call for (headend.py). Only the light half of the bus
(qnms.qndt.messages) is imported: an agent process never loads the engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

import zmq
import zmq.asyncio

from qnms.qndt.messages import TOPIC_PREFIX, endpoints

from .base import Agent
from .headend import HeadEnd
from .qfs import QfsState

log = logging.getLogger(__name__)


def topics_of(agent: Agent) -> list[str]:
    """The bus topics (without the version prefix) an agent consumes."""
    stratum, name = agent.config.stratum, agent.config.name
    if stratum == "qfs":
        assert isinstance(agent.live, QfsState)  # STATE_CLASSES["qfs"]
        links = (f"telemetry.link.{lk}" for lk in agent.live.links())
        return [f"telemetry.node.{name}", *links, "alloc."]
    if stratum == "ss":
        return ["alloc."]
    return ["engine"]


class QndtFeed:
    """Routes QNDT results to the agents of this process until cancelled."""

    def __init__(self, agents: Sequence[Agent], bind: str) -> None:
        self.bind = bind
        self.routes: dict[str, list[Agent]] = {}  # topic or topic prefix (ending in .)
        for agent in agents:
            for topic in topics_of(agent):
                self.routes.setdefault(TOPIC_PREFIX + topic, []).append(agent)
        self.received = 0

    def _targets(self, topic: str) -> list[Agent]:
        found = list(self.routes.get(topic, []))
        prefix = topic[: topic.find(".", len(TOPIC_PREFIX)) + 1]
        if prefix != topic:
            found += self.routes.get(prefix, [])
        return found

    async def run(self) -> None:
        ctx = zmq.asyncio.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        for topic in self.routes:
            sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        sub.connect(endpoints(self.bind)[0])
        try:
            while True:
                raw_topic, body = await sub.recv_multipart()
                topic = raw_topic.decode()
                try:
                    msg: dict[str, Any] = json.loads(body)
                except ValueError:
                    log.warning("malformed QNDT result on %s", topic)
                    continue
                self.received += 1
                for agent in self._targets(topic):
                    if agent.live.apply(msg):
                        agent.state_changed()
        finally:
            sub.close(0)

    def start(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self.run(), name="qndt-feed")


def follow_twin(agents: Sequence[Agent], bind: str) -> list[asyncio.Task[None]]:
    """Feed the agents' live state from the twin at ``bind`` and let every QFS agent
    drive the allocations it heads; cancel the returned tasks to stop."""
    tasks = [QndtFeed(agents, bind).start()]
    tasks += [HeadEnd(a, bind).start() for a in agents if a.config.stratum == "qfs"]
    return tasks
