"""Small client for the QNDT bus, for agents, the orchestrator and tests.

It hides the ZeroMQ socket types so callers only deal with JSON dicts; see bus.py
for the message catalogue. It imports only the light half of the bus (messages.py), so
a client process never loads the engine, SeQUeNCe or numpy.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import zmq

from .messages import TOPIC_PREFIX, endpoints


class BusClient:
    """Sends requests to and receives results from one QNDT engine."""

    def __init__(
        self,
        bind: str,
        topics: tuple[str, ...] = ("",),
        context: zmq.Context | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.ctx = context or zmq.Context.instance()
        pub_addr, req_addr = endpoints(bind)
        self.timeout = timeout
        self.req = self.ctx.socket(zmq.DEALER)
        self.req.setsockopt(zmq.LINGER, 0)
        self.req.connect(req_addr)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 1_000_000)
        for topic in topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, (TOPIC_PREFIX + topic).encode())
        self.sub.connect(pub_addr)
        self._ids = itertools.count(1)

    def request(self, body: dict[str, Any] | bytes) -> dict[str, Any]:
        """Send one request and wait for its reply (raises TimeoutError)."""
        if isinstance(body, dict):
            body = dict(body)
            body.setdefault("id", f"c{next(self._ids)}")
            payload = json.dumps(body).encode()
        else:
            payload = body
        self.req.send_multipart([b"", payload])
        if not self.req.poll(int(self.timeout * 1000)):
            raise TimeoutError("no reply from the QNDT engine")
        return json.loads(self.req.recv_multipart()[-1])

    def results(self, wait: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """Results received so far (waiting up to ``wait`` s for the first one)."""
        out: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + wait
        while True:
            left = max(0.0, deadline - time.monotonic())
            if not self.sub.poll(int(left * 1000) if not out else 0):
                return out
            topic, body = self.sub.recv_multipart()
            out.append((topic.decode()[len(TOPIC_PREFIX) :], json.loads(body)))

    def close(self) -> None:
        self.req.close(0)
        self.sub.close(0)
