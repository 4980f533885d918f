"""Quantum Fabric Stratum agent: live state of one quantum node.

Memory state counts follow the QUI table (each local handle reserves one qubit), link
state follows the link's enabled flag, QUIs age from the moment they were configured
and expire after their time-to-live. Emulation results (link-level pairs, swaps) arrive
as counters; the QNDT bus feeds them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lxml import etree

from qnms_agents.live import Clock, Counters, Element, FirstSeen, dec, rfc3339

NS = "urn:qnms:yang:qnms-quantum-fabric"
E = Element(NS)


class QfsState:
    """The config-false data of ``qnms-quantum-fabric`` for one node."""

    module = "qnms-quantum-fabric"

    def __init__(self, running: Callable[[], etree._Element], clock: Clock = time.time) -> None:
        self.running = running  # () -> the <data> element of the running datastore
        self.clock = clock
        self.counters = Counters()
        self.quis = FirstSeen(clock)
        self.fidelity: dict[str, float] = {}  # last fidelity reported per link

    def config_changed(self) -> None:
        """Note the QUIs that appeared or went, so each ages from its creation."""
        fabric = E.find(self.running(), "quantum-fabric")
        self.quis.track(
            {E.text(q, "id") for q in E.find(fabric[0] if fabric else None, "qui-table/qui")}
        )

    def state(self) -> list[etree._Element]:
        fabric = E.find(self.running(), "quantum-fabric")
        if not fabric:
            return []
        cfg = fabric[0]
        node_id = E.text(cfg, "node/id")
        quis = E.find(cfg, "qui-table/qui")
        self.quis.track({E.text(q, "id") for q in quis})
        out = E("quantum-fabric", self._node(node_id), self._memories(cfg, quis))
        out.append(self._links(cfg))
        out.append(self._quis(quis))
        return [out]

    def _node(self, node_id: str) -> etree._Element:
        c = self.counters
        return E(
            "node",
            E("oper-state", "up"),
            E(
                "statistics",
                *(
                    E(name, str(c.get(node_id, name)))
                    for name in (
                        "swaps-attempted",
                        "swaps-succeeded",
                        "purifications-attempted",
                        "purifications-succeeded",
                    )
                ),
            ),
        )

    def _memories(self, cfg: etree._Element, quis: list[etree._Element]) -> etree._Element:
        reserved: dict[str, int] = {}
        for q in quis:
            for handle in E.find(q, "local-handle"):
                mem = E.text(handle, "memory")
                reserved[mem] = reserved.get(mem, 0) + 1
        out = E("memories")
        for mem in E.find(cfg, "memories/memory"):
            name = E.text(mem, "name")
            size = int(E.text(mem, "size", "0"))
            entangled = min(self.counters.get(name, "entangled"), size)
            held = min(reserved.get(name, 0), size - entangled)
            free = size - held - entangled
            out.append(
                E(
                    "memory",
                    E("name", name),
                    E(
                        "state",
                        E("free", str(free)),
                        E("reserved", str(held)),
                        E("occupied", "0"),
                        E("entangled", str(entangled)),
                        E("occupancy", dec(100 * (size - free) / size if size else 0, 2)),
                    ),
                )
            )
        return out

    def _links(self, cfg: etree._Element) -> etree._Element:
        out = E("quantum-links")
        for link in E.find(cfg, "quantum-links/quantum-link"):
            name = E.text(link, "name")
            up = E.text(link, "enabled", "true") == "true"
            attempts = self.counters.get(name, "attempts")
            successes = self.counters.get(name, "successes")
            telemetry = E("telemetry", E("attempts", str(attempts)), E("successes", str(successes)))
            if attempts:
                telemetry.append(E("success-probability", dec(successes / attempts, 6)))
            if name in self.fidelity:
                telemetry.append(E("last-fidelity", dec(self.fidelity[name], 6)))
            out.append(
                E(
                    "quantum-link",
                    E("name", name),
                    E("oper-state", "up" if up else "down"),
                    telemetry,
                )
            )
        return out

    def _quis(self, quis: list[etree._Element]) -> etree._Element:
        now = self.clock()
        out = E("qui-table")
        for q in quis:
            qid = E.text(q, "id")
            created = self.quis.since(qid)
            ttl = E.text(q, "lifecycle/time-to-live")
            lifecycle = E("lifecycle", E("age", dec((now - created) * 1000, 3)))
            expired = False
            if ttl:
                expiry = created + float(ttl)
                expired = now >= expiry
                lifecycle.insert(0, E("expiry", rfc3339(expiry)))
            handles = len(E.find(q, "local-handle"))
            state = "expired" if expired else ("allocated" if handles else "generating")
            out.append(
                E(
                    "qui",
                    E("id", qid),
                    lifecycle,
                    E("state", state),
                    E("bound-pairs", "0"),
                    E("rebind-count", "0"),
                )
            )
        return out
