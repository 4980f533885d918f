"""ZeroMQ bus of the QNDT and its message catalogue (version 1).

Transport
=========

No broker: the engine binds two ZeroMQ sockets (``127.0.0.1`` by default).

* **results** - a PUB socket (XPUB, which subscribers see as a PUB). Every result is a
  two-frame message ``[topic, json]``; subscribers filter by topic prefix. A result whose
  topic no subscriber wants is neither serialised nor sent, and the frequent ones (link
  pairs, swaps, purifications, deliveries) not even built (the service reads the
  subscriptions from the XPUB socket): what each subscriber receives is unchanged.
* **requests** - a ROUTER socket. A client sends one JSON frame (REQ or DEALER
  socket) and gets exactly one JSON reply; replies carry the request's ``id``.

``--bind tcp://127.0.0.1:5555`` puts results on port 5555 and requests on 5556;
``--bind ipc:///run/qndt`` uses ``ipc:///run/qndt.pub`` and ``ipc:///run/qndt.req``.

Addresses, topics and request checks live in messages.py, the light half that agents
import (it pulls in neither the engine nor SeQUeNCe); this module is the service side.

Topics (all prefixed ``qndt.v1.``)
----------------------------------

=============================  ======================================================
``link.<link>``                ``link-pair``: a heralded link-level pair
``node.<node>``                ``swap``, ``purification``, ``memory-expired``
``alloc.<allocation>``         ``allocation-state``, ``pair-delivered``, ``pair-used``,
                               ``pair-expired``, ``pair-released``, ``pair-lost``,
                               ``pairs-lost``
``telemetry.link.<link>``      ``link-telemetry`` (every telemetry period, sim time)
``telemetry.node.<node>``      ``node-telemetry`` (per node, with its memory banks)
``engine``                     ``fault`` (applied), ``engine-status``, ``lag``
=============================  ======================================================

Every message has ``v`` (1), ``type``, ``sim-time`` (simulated seconds) and ``model``
(``full`` or ``link``: the generation model, see messages.py).

Results
-------

``link-pair``: ``link``, ``nodes`` [a, b], ``fidelity``, ``allocation``, ``memories``
[{node, memory, index}, ...].
``swap``: ``node``, ``success``, ``fidelity`` (of the new pair, 0 on failure), ``left``,
``right``, ``allocation``.
``purification``: ``nodes``, ``success``, ``fidelity``, ``allocation``.
``pair-delivered``: ``allocation``, ``pair`` (number within the allocation),
``endpoints``, ``fidelity`` (aged by the decoherence model), ``latency`` (per pair,
defined in messages.py), ``sequence-fidelity``
(SeQUeNCe's un-aged bookkeeping), ``age`` (s since the pair's fidelity was last set),
``meets-target``, ``held``, ``memories`` (the two endpoints' memory handles).
``pair-used`` / ``pair-expired`` / ``pair-released`` / ``pair-lost``: a held pair
leaves its memories; same fields as delivery, fidelity and age at that instant.
``pairs-lost``: ``allocation``, ``node`` (that went down), ``count``.
``memory-expired``: ``node``, ``memory`` handle, ``fidelity``, ``age``.
``allocation-state``: ``allocation``, ``state`` (scheduled, active, interrupted,
completed, expired, released, failed), ``reason`` (why it failed, qndt/reach.py; else
null), ``path``, ``delivered``, ``requested``, ``held``, ``lost``, ``expired``,
``mean-fidelity``, ``min-fidelity``, ``mean-latency``,
``establishment-latency``, ``last-delivery`` (timing fields: messages.py),
``swaps`` and ``purifications`` per node ({attempted, succeeded}).
``link-telemetry``: ``attempts`` (channel uses), ``successes``, ``generation-rate``
(pairs/s over the period), ``success-probability``, ``mean-fidelity``,
``last-fidelity``, ``loss`` (dB), ``oper-state``.
``node-telemetry``: ``oper-state``, ``swaps-attempted``, ``swaps-succeeded``,
``purifications-attempted``, ``purifications-succeeded``, ``memories``: per bank
{free, reserved, occupied, entangled, occupancy}.
``engine-status`` (every wall second) and ``lag`` (when behind by more than the
tolerance): ``speed``, ``target`` and ``reached`` sim time, ``lag`` (sim s),
``lag-wall`` (wall s), ``wall-origin`` (CLOCK_MONOTONIC s) and ``sim-origin``: simulated
time ``t`` is released at wall ``wall-origin + (t - sim-origin) / speed``, never before.
A ``query`` for status also returns these under ``pacing``.

Requests
--------

All requests: ``v`` (1, optional), ``type``, ``id`` (echoed), ``at`` (simulated
seconds, optional: when to apply; default now. Give it for reproducible runs).

``allocate``: ``allocation`` (name), ``path`` (ordered node names), ``memories``
(qubits per hop, default 1), ``pairs`` (0 = until the window ends),
``target-fidelity``, ``start`` (sim s, default now), ``end`` or ``duration`` (sim s),
``purification`` (bool, default true: purify up to the target where needed),
``max-swaps`` (swapping depth cap: the path may not need more swaps), ``hold`` (keep
delivered pairs stored until ``consume``; default false: consumed on delivery).
Reply: ``allocation``, ``start``, ``end``, ``memories`` (handles per node).
``release``: ``allocation``. Reply: the allocation summary.
``consume``: ``allocation``, ``pair`` (optional: oldest). Reply: fidelity and age at use.
``fault``: ``fault`` one of node-down, node-up (``node``), channel-cut,
channel-restored (``channel``), memory-degraded (``node``, ``memory`` and any of
``raw-fidelity``, ``efficiency``, ``coherence-time``, ``frequency``).
``query``: ``what`` = status (default) | allocation (``allocation``) | telemetry.
``stop``: the service replies, then stops (service mode only).

Errors: ``{"ok": false, "error": {"code", "message"}}``; codes: malformed,
unsupported-version, unknown-type, missing-field, bad-value, bad-path, unknown-node,
no-link, insufficient-memory, swap-depth, unreachable-target (the message names the best
achievable fidelity), bad-window, duplicate, unknown-allocation,
no-pair, unknown-fault, unknown-channel, unknown-memory, unknown-query. An erroneous
request changes nothing.
"""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Any

import zmq

from .messages import DEFAULT_BIND, TOPIC_PREFIX, endpoints, error_reply
from .pacing import Pacer

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["DEFAULT_BIND", "TOPIC_PREFIX", "Service", "endpoints"]

# JSON as json.dumps gives it (same bytes), without the circular-reference bookkeeping
# per container: results are plain trees built by the recorder.
_encode = json.JSONEncoder(check_circular=False).encode


class Service:
    """Runs an engine as a bus service, paced, from the calling thread only."""

    def __init__(
        self,
        engine: Engine,
        bind: str = DEFAULT_BIND,
        speed: float | None = 1.0,
        tick: float = 0.02,
        lag_tolerance: float = 0.1,
        context: zmq.Context | None = None,
    ) -> None:
        self.engine = engine
        self.pub_addr, self.req_addr = endpoints(bind)
        self.ctx = context or zmq.Context.instance()
        self.pub = self.ctx.socket(zmq.XPUB)
        self.pub.setsockopt(zmq.SNDHWM, 1_000_000)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(self.pub_addr)
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(self.req_addr)
        self.pacer = Pacer(speed)
        self.tick = tick
        self.lag_tolerance = lag_tolerance
        self.stopped = False
        self.published = 0  # results sent
        self.unwanted = 0  # results no subscriber wanted: not serialised, not sent
        self.prefixes: set[bytes] = set()  # topic prefixes subscribed (XPUB: unique ones)
        self.wanted: dict[str, bool] = {}  # per topic, for the current prefixes
        self.max_lag_wall = 0.0
        engine.sink = self.publish
        engine.rec.wants = self.wants

    def wants(self, topic: str) -> bool:
        """Whether a subscriber wants results of ``topic`` (the engine's recorder asks
        before building a frequent result's body); pending subscriptions are read first
        (``EVENTS``, ~1 us), so the answer covers every subscriber the socket knows of.
        A result nobody wants is counted in ``unwanted``."""
        if self.pub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self._read_subscriptions()
        wanted = self.wanted.get(topic)
        if wanted is None:
            full = (TOPIC_PREFIX + topic).encode()
            wanted = self.wanted[topic] = any(full.startswith(p) for p in self.prefixes)
        if not wanted:
            self.unwanted += 1
        return wanted

    def publish(self, topic: str, msg: dict[str, Any]) -> None:
        """Send one result on the PUB socket: two frames, topic and JSON body; nothing when
        no subscriber wants the topic (``wants``).

        The engine hands every result to the bus on the pacing thread (~5,500 per
        simulated second on the default network with 4 allocations); encoding and sending
        them all was 9% of a profiled service run (docs/qndt-realtime.md), also when no
        one listened, and building the bodies of link pairs, swaps and deliveries ~5% of
        the engine's (sixth pass): the recorder asks ``wants`` first. Two ``send`` calls
        rather than ``send_multipart`` (the same message on the wire): pyzmq's generic
        multipart loop cost about as much as the sends themselves.
        """
        if not self.wants(topic):
            return
        pub = self.pub
        pub.send((TOPIC_PREFIX + topic).encode(), zmq.SNDMORE)
        pub.send(_encode(msg).encode())
        self.published += 1

    def _read_subscriptions(self) -> None:
        """Apply the (un)subscriptions queued on the XPUB socket: ``\\x01prefix`` /
        ``\\x00prefix``; without XPUB_VERBOSE each prefix comes once, when its first
        subscriber subscribes, and goes when its last one leaves or disconnects."""
        while True:
            try:
                frame = self.pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if frame[:1] == b"\x01":
                self.prefixes.add(frame[1:])
            elif frame[:1] == b"\x00":
                self.prefixes.discard(frame[1:])
            self.wanted.clear()

    def _serve_request(self) -> None:
        frames = self.router.recv_multipart()
        ident, body = frames[0], frames[-1]
        envelope = frames[1:-1]
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            reply = error_reply(None, "malformed", "request is not JSON")
        else:
            if isinstance(request, dict) and request.get("type") == "stop":
                self.stopped = True
                reply = {
                    "v": 1,
                    "type": "reply",
                    "ok": True,
                    "id": request.get("id"),
                    "request": "stop",
                }
            else:
                try:
                    reply = self.engine.handle(request)
                except Exception as err:  # a bug must not take the service down
                    reply = error_reply(request, "internal", f"{type(err).__name__}: {err}")
                if reply.get("ok") and reply.get("request") == "query" and "network" in reply:
                    reply["pacing"] = self.status()
        self.router.send_multipart([ident, *envelope, json.dumps(reply).encode()])

    def status(self) -> dict[str, Any]:
        lag, lag_wall = self.pacer.lag(self.engine.now)
        return {
            "speed": self.pacer.speed,
            "target": min(self.pacer.target(), 1e300),
            "reached": self.engine.now,
            "lag": lag,
            "lag-wall": lag_wall,
            "wall-origin": self.pacer.wall_origin,
            "sim-origin": self.pacer.sim_origin,
            "tick": self.tick,
        }

    def serve(self, wall_duration: float | None = None, until_sim: float | None = None) -> None:
        """Serve until a ``stop`` request, ``wall_duration`` s or simulated ``until_sim`` s."""
        clock = time.monotonic
        self.pacer.start(self.engine.now)
        end = clock() + wall_duration if wall_duration else float("inf")
        next_status = clock() + 1.0
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        while not self.stopped and clock() < end:
            if until_sim is not None and self.engine.tl.now() >= round(until_sim * 1e12):
                break
            while self.router.poll(0):
                self._serve_request()
            step_end = clock() + self.tick
            target = self.pacer.target()
            if until_sim is not None:
                target = min(target, until_sim)
            reached = self.engine.run_until(target, wall_deadline=step_end)
            if until_sim is not None and reached and target >= until_sim:
                break
            now = clock()
            if self.pacer.speed:
                _lag, lag_wall = self.pacer.lag(self.engine.now)
                self.max_lag_wall = max(self.max_lag_wall, lag_wall)
                if lag_wall > self.lag_tolerance and now >= next_status:
                    self.engine.rec.emit("engine", "lag", **self.status())
            if now >= next_status:
                self.engine.rec.emit("engine", "engine-status", **self.status())
                next_status = now + 1.0
            wait = self.pacer.wait(self.engine.next_time(), self.tick) if reached else 0.0
            poller.poll(math.ceil(wait * 1000))  # not before it is due: ms, rounded up

    def close(self) -> None:
        """Close both sockets (the context is left to its owner)."""
        self.pub.close(0)
        self.router.close(0)
