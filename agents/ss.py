"""Service Stratum agent (KME-like): live state of stores and application sessions.

Each session's token bucket starts full when the session is configured and refills at
its rate up to its burst; consuming units (delivery requests) drains it, and requests
finding it empty are counted as rejected (seed 4.2). Stores count the units delivered
for each service unit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .live import Clock, Counters, Element, dec

NS = "urn:qnms:yang:qnms-service-stratum"
E = Element(NS)


@dataclass
class TokenBucket:
    """A token bucket: ``rate`` tokens per second up to ``burst``."""

    rate: float
    burst: int
    level: float
    stamp: float
    rejected: int = 0

    def refill(self, now: float) -> float:
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.level

    def take(self, now: float, tokens: float = 1.0) -> bool:
        """Consume ``tokens`` if available; count a rejection otherwise."""
        if self.refill(now) >= tokens:
            self.level -= tokens
            return True
        self.rejected += 1
        return False


class SsState:
    """The config-false data of ``qnms-service-stratum`` for one KME-like element."""

    module = "qnms-service-stratum"

    def __init__(self, running: Callable[[], etree._Element], clock: Clock = time.time) -> None:
        self.running = running
        self.clock = clock
        self.counters = Counters()
        self.buckets: dict[str, TokenBucket] = {}
        self.fidelity: dict[str, float] = {}  # last delivered fidelity per service unit
        self.node_name: str | None = None  # set by the agent: the node it manages
        # Told of every QNDT result taken for this node (the KME makes link key from
        # delivered pairs: agents/kme/attach.py).
        self.result_listeners: list[Callable[[dict], None]] = []
        # More config-false children of service-stratum (the KME's ``kme`` container).
        self.state_extensions: list[Callable[[], etree._Element]] = []
        # Told of every configuration change (the KME follows its qkd-key units).
        self.config_listeners: list[Callable[[etree._Element | None], None]] = []
        # A service unit's store made by someone else (a qkd-key unit's, by the KME:
        # agents/kme/units.py); None where the pair counters below apply.
        self.store_providers: list[Callable[[str], etree._Element | None]] = []

    def apply(self, msg: dict[str, Any]) -> bool:
        """Take a QNDT result: pairs delivered to, or lost from, this node's endpoints.

        The bus names allocations after service units (the head-end QFS agent allocates
        one per service unit, named by the QUI's service-unit leaf), so results are
        counted against the service unit of that name. False when not for this node.
        """
        if self.node_name is None or self.node_name not in msg.get("endpoints", ()):
            return False
        unit = msg.get("allocation", "")
        kind = msg.get("type")
        if kind == "pair-delivered":
            self.counters.add(unit, "delivered")
            if msg.get("held"):
                self.counters.add(unit, "stored")
            self.fidelity[unit] = float(msg.get("fidelity", 0.0))
        elif kind in ("pair-used", "pair-expired", "pair-released", "pair-lost"):
            self.counters.add(unit, "stored", -1)
        else:
            return False
        for listener in self.result_listeners:
            listener(msg)
        return True

    def config_changed(self) -> None:
        """Create, re-shape or drop buckets as sessions are configured; a service
        unit's store that is removed is emptied, so one created again under the same
        name (re-bound or re-routed) counts from zero."""
        cfg = self._config()
        self._sync(cfg)
        units = {E.text(su, "name") for su in E.find(cfg, "service-units/service-unit")}
        self.counters.forget(units)
        for gone in self.fidelity.keys() - units:
            del self.fidelity[gone]
        for listener in self.config_listeners:
            listener(cfg)

    def bucket(self, session: str) -> TokenBucket | None:
        """The session's bucket (kept in step with the configuration by config_changed)."""
        return self.buckets.get(session)

    def _config(self) -> etree._Element | None:
        found = E.find(self.running(), "service-stratum")
        return found[0] if found else None

    def _sync(self, cfg: etree._Element | None) -> None:
        now = self.clock()
        seen = set()
        for s in E.find(cfg, "sessions/session"):
            sid = E.text(s, "id")
            seen.add(sid)
            rate = float(E.text(s, "token-bucket/rate", "0"))
            burst = int(E.text(s, "token-bucket/burst", "1"))
            b = self.buckets.get(sid)
            if b is None:
                self.buckets[sid] = TokenBucket(rate, burst, float(burst), now)
            elif (b.rate, b.burst) != (rate, burst):
                b.refill(now)
                b.rate, b.burst, b.level = rate, burst, min(b.level, burst)
        for sid in self.buckets.keys() - seen:
            del self.buckets[sid]

    def state(self) -> list[etree._Element]:
        cfg = self._config()
        if cfg is None:
            return []
        now = self.clock()
        out = E("service-stratum")
        units = E("service-units")
        for su in E.find(cfg, "service-units/service-unit"):
            name = E.text(su, "name")
            provided = [s for p in self.store_providers if (s := p(name)) is not None]
            if provided:
                units.append(E("service-unit", E("name", name), provided[0]))
                continue
            units.append(
                E(
                    "service-unit",
                    E("name", name),
                    E(
                        "store",
                        E("stored-units", str(max(0, self.counters.get(name, "stored")))),
                        E("delivered-units", str(self.counters.get(name, "delivered"))),
                        *(
                            [E("achieved-fidelity", dec(self.fidelity[name], 6))]
                            if name in self.fidelity
                            else []
                        ),
                    ),
                )
            )
        out.append(units)
        sessions = E("sessions")
        for sid, b in sorted(self.buckets.items()):
            sessions.append(
                E(
                    "session",
                    E("id", sid),
                    E(
                        "token-bucket",
                        E("level", dec(b.refill(now), 3)),
                        E("rejected-requests", str(b.rejected)),
                    ),
                )
            )
        out.append(sessions)
        for extension in self.state_extensions:
            out.append(extension())
        return [out]
