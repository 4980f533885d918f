"""Quantum Fabric Stratum agent: live state of one quantum node.

Memory state counts follow the QUI table (each local handle reserves one qubit), link
state follows the link's enabled flag, QUIs age from the moment they were configured
and expire after their time-to-live. Emulation results (link-level pairs, swaps) arrive
as counters; the QNDT bus feeds them. On the head-end node of a path the twin's
allocation results (``alloc.<service-unit>``) fill the QUI's generation state, state
and fidelity (see headend.py for the requests that start them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape as _x

from lxml import etree

from .live import Clock, Element, FirstSeen, dec, rfc3339

NS = "urn:qnms:yang:qnms-quantum-fabric"
LINKS = "quantum-links/quantum-link"
NODE_COUNTERS = (
    "swaps-attempted",
    "swaps-succeeded",
    "purifications-attempted",
    "purifications-succeeded",
)
LINK_DECIMALS = {
    "generation-rate": 3,
    "success-probability": 6,
    "mean-fidelity": 6,
    "last-fidelity": 6,
    "loss": 4,
}
E = Element(NS)
_T = {
    name: f"{{{NS}}}{name}"
    for name in ("quantum-links", "quantum-link", "name", "enabled", "oper-state", "telemetry",
                 "attempts", "successes", *LINK_DECIMALS)
}  # fmt: skip
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
_LINK_PATH = "/".join(f"{{{NS}}}{p}" for p in LINKS.split("/"))
_NO_TELEMETRY: dict[str, Any] = {}
FINAL = ("completed", "expired", "released")
HELD_GONE = ("pair-used", "pair-expired", "pair-released", "pair-lost")
# the twin's allocation state -> qt:qui-state of the head-end QUI
QUI_STATE = {
    "scheduled": "allocated",
    "interrupted": "allocated",
    "expired": "expired",
    "released": "released",
}


@dataclass
class TwinStatus:
    """What the twin said about the allocation a head-end QUI asked for."""

    allocation: str
    state: str  # the twin-state leaf: an allocation state or why there is none
    start: float = 0.0  # sim time the allocation starts: older results are stale
    delivered: int = 0
    held: int = 0
    fidelity: float | None = None

    def apply(self, msg: dict[str, Any]) -> bool:
        """Take one ``alloc.<name>`` result; False when it is stale or not ours."""
        t = float(msg.get("sim-time", 0.0))
        kind = msg.get("type")
        if t < self.start or (t == self.start and msg.get("state") in FINAL):
            return False  # from an earlier allocation of the same name
        if kind == "allocation-state":
            self.state = str(msg.get("state", self.state))
            self.delivered = max(self.delivered, int(msg.get("delivered", 0)))
            self.held = int(msg.get("held", self.held))
        elif kind == "pair-delivered":
            self.delivered += 1
            self.fidelity = float(msg.get("fidelity", 0.0))
            self.held += bool(msg.get("held"))
            if self.state == "scheduled":  # its activation result may have been missed
                self.state = "active"
        elif kind in HELD_GONE:
            self.held = max(0, self.held - 1)
        else:
            return False
        return True

    def qui_state(self) -> str | None:
        """The QUI's qt:qui-state as the twin sees it (None: not known to the twin)."""
        if self.state in ("active", "completed"):
            if self.held or (self.state == "active" and self.delivered):
                return "bound"
            return "generating" if self.state == "active" else "released"
        return QUI_STATE.get(self.state)


class QfsState:
    """The config-false data of ``qnms-quantum-fabric`` for one node."""

    module = "qnms-quantum-fabric"

    def __init__(self, running: Callable[[], etree._Element], clock: Clock = time.time) -> None:
        self.running = running  # () -> the <data> element of the running datastore
        self.clock = clock
        self.quis = FirstSeen(clock)
        self.emulated_node: dict[str, Any] = {}  # last node-telemetry from the QNDT
        self.emulated_links: dict[str, dict[str, Any]] = {}  # last link-telemetry per link
        self.twin: dict[str, TwinStatus] = {}  # head-end QUI id -> its allocation's status
        self.drives_twin = False  # set by the head-end driver when the agent follows a twin
        # (configuration it was built from, the links' state): see stable_state
        self._links_memo: tuple[etree._Element, etree._Element] | None = None

    def links(self) -> list[str]:
        """Names of the configured quantum links (for bus subscriptions)."""
        fabric = E.find(self.running(), "quantum-fabric")
        return [E.text(lk, "name") for lk in E.find(fabric[0] if fabric else None, LINKS)]

    def apply(self, msg: dict[str, Any]) -> bool:
        """Take a QNDT result: the latest telemetry of this node or one of its links, or
        a result of an allocation this node heads. False when it was not for us."""
        kind = msg.get("type")
        if kind == "node-telemetry":
            self.emulated_node = msg
        elif kind == "link-telemetry" and "link" in msg:
            self.emulated_links[msg["link"]] = msg
            self._links_memo = None
        else:
            name = msg.get("allocation")
            hits = [st.apply(msg) for st in self.twin.values() if st.allocation == name]
            return any(hits)
        return True

    def config_changed(self) -> None:
        """Note the QUIs that appeared or went, so each ages from its creation."""
        self._links_memo = None  # (stable_state compares the tree too: this frees it)
        fabric = E.find(self.running(), "quantum-fabric")
        self.quis.track(
            {E.text(q, "id") for q in E.find(fabric[0] if fabric else None, "qui-table/qui")}
        )

    def stable_state(self) -> list[etree._Element]:
        """The links' state, the same element while neither the configuration nor a
        link's telemetry changed (``interfaces.StableStateProvider``): with 20,000 links
        it is most of a ``<get>``, built and merged once instead of per read (issue 13).
        Empty when running has no ``quantum-links``: ``state`` places it then, so the
        reply keeps the schema's order of the containers it adds."""
        fabric = self._fabric()
        if fabric is None or fabric.find(_T["quantum-links"]) is None:
            return []
        memo = self._links_memo
        if memo is None or memo[0] is not fabric:
            memo = self._links_memo = (fabric, E("quantum-fabric", self._links(fabric)))
        return [memo[1]]

    def state(self) -> list[etree._Element]:
        """The rest of the state: node, memories and QUIs (ages change with the clock)."""
        cfg = self._fabric()
        if cfg is None:
            return []
        quis = E.find(cfg, "qui-table/qui")
        out = E("quantum-fabric", self._node(), self._memories(cfg, quis))
        if cfg.find(_T["quantum-links"]) is None:
            out.append(self._links(cfg))
        out.append(self._quis(quis, E.text(cfg, "node/id")))
        return [out]

    def _fabric(self) -> etree._Element | None:
        fabric = E.find(self.running(), "quantum-fabric")
        return fabric[0] if fabric else None

    def _node(self) -> etree._Element:
        emu = self.emulated_node
        stats = E(
            "statistics",
            *(E(k, str(emu.get(k, 0))) for k in NODE_COUNTERS),
        )
        return E("node", E("oper-state", emu.get("oper-state", "up")), stats)

    def _memories(self, cfg: etree._Element, quis: list[etree._Element]) -> etree._Element:
        reserved: dict[str, int] = {}
        for q in quis:
            for handle in E.find(q, "local-handle"):
                in_use = E.text(handle, "memory")
                reserved[in_use] = reserved.get(in_use, 0) + 1
        out = E("memories")
        for mem in E.find(cfg, "memories/memory"):
            name = E.text(mem, "name")
            size = int(E.text(mem, "size", "0"))
            emulated = self.emulated_node.get("memories", {}).get(name)
            if emulated:
                out.append(_emulated_memory(name, emulated))
                continue
            held = min(reserved.get(name, 0), size)
            free = size - held
            out.append(
                E(
                    "memory",
                    E("name", name),
                    E(
                        "state",
                        E("free", str(free)),
                        E("reserved", str(held)),
                        E("occupied", "0"),
                        E("entangled", "0"),
                        E("occupancy", dec(100 * (size - free) / size if size else 0, 2)),
                    ),
                )
            )
        return out

    def _links(self, cfg: etree._Element) -> etree._Element:
        """One state entry per configured link, written as text and parsed by lxml (in
        C): a node with 20,000 links spent most of a ``<get>`` here, element by element
        (issue 13). Every value is escaped: names and telemetry come from outside."""
        parts = [f'<quantum-links xmlns="{NS}">']
        emulated = self.emulated_links
        for link in cfg.iterfind(_LINK_PATH):
            name = link.findtext(_T["name"]) or ""
            emu = emulated.get(name, _NO_TELEMETRY)
            if (link.findtext(_T["enabled"]) or "true") == "true":
                oper = str(emu.get("oper-state", "up"))
            else:
                oper = "down"
            parts.append(
                f"<quantum-link><name>{_x(name)}</name><oper-state>{_x(oper)}</oper-state>"
                f"<telemetry><attempts>{_x(str(emu.get('attempts', 0)))}</attempts>"
                f"<successes>{_x(str(emu.get('successes', 0)))}</successes>"
            )
            if emu:
                for leaf, digits in LINK_DECIMALS.items():
                    if emu.get(leaf) is not None:
                        parts.append(f"<{leaf}>{dec(emu[leaf], digits)}</{leaf}>")
            parts.append("</telemetry></quantum-link>")
        parts.append("</quantum-links>")
        return etree.fromstring("".join(parts), _PARSER)

    def _quis(self, quis: list[etree._Element], node_id: str) -> etree._Element:
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
            twin = self.twin.get(qid)
            if twin is not None and not expired:
                state = twin.qui_state() or state
            out.append(
                E(
                    "qui",
                    E("id", qid),
                    self._generation(q, twin, node_id),
                    lifecycle,
                    E("state", state),
                    E("fidelity", dec(twin.fidelity, 6)) if twin and twin.fidelity else None,
                    E("bound-pairs", str(twin.held if twin else 0)),
                    E("rebind-count", "0"),
                )
            )
        return out

    def _generation(
        self, qui: etree._Element, twin: TwinStatus | None, node_id: str
    ) -> etree._Element:
        """twin-state and delivered: the twin's word, or why it was not asked."""
        if twin is not None:
            return E("generation", E("twin-state", twin.state), E("delivered", str(twin.delivered)))
        path = [p.text or "" for p in E.find(qui, "path")]
        if not path:
            why = "no path: not a head-end QUI"
        elif path[0] != node_id:
            why = f"not head-end: {path[0]} drives this path"
        elif not self.drives_twin:
            why = "no twin"
        else:
            why = "pending"
        return E("generation", E("twin-state", why), E("delivered", "0"))


def _emulated_memory(name: str, banks: dict[str, Any]) -> etree._Element:
    counts = {k: str(int(banks.get(k, 0))) for k in ("free", "reserved", "occupied", "entangled")}
    return E(
        "memory",
        E("name", name),
        E(
            "state",
            *(E(k, v) for k, v in counts.items()),
            E("occupancy", dec(float(banks.get("occupancy", 0.0)), 2)),
        ),
    )
