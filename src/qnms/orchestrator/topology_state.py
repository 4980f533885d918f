"""The network's live topology on the northbound: RFC 8345 topology state (qnms-topology).

Operators and the web console look at the network rather than read it; the standard
model for a network map is RFC 8345, and for a server without NMDA its Appendix A
modules ``ietf-network-state`` and ``ietf-network-topology-state`` (config false),
augmented by qnms-topology with what a quantum network adds (roles, memories, QUI
counts, link kinds and link-level telemetry).

Two sources, joined here and nowhere else:

* the map itself comes from discovery (``Controller.discovery``): the QFS nodes, every
  quantum link as each end's QFS agent reports it (one RFC 8345 link per direction,
  link-id ``<node>/<link-name>``, so an inter-domain link seen from one side only is
  still on the map), the connectivity agents' fibre and classical-assist channels
  (link-id ``<domain>/<channel-name>``) and the endpoints the SS agents serve;
* what moves comes from the closed loop's telemetry replicas (``telemetry.Facts``):
  node, link and channel states, memory occupancy, QUI states, link telemetry. A leaf
  whose agent has not reported yet is left out rather than guessed.

The tree is rebuilt when telemetry arrives, at most once per ``min_interval`` (bursts
of notifications, one per agent after a fault, become one rebuild), and the server is
told (``changed``, i.e. ``NetconfServer.state_changed``) only when the map really
differs, so on-change subscriptions on ``/nw-s:networks`` get one push-change-update
per visible change and the rest of the northbound is not re-evaluated for nothing.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from qnms.orchestrator.discovery import CS, QFS, AgentFacts, Discovery
from qnms.orchestrator.southbound import AgentAddress
from qnms.orchestrator.telemetry import Facts

NW = "urn:ietf:params:xml:ns:yang:ietf-network-state"
NT = "urn:ietf:params:xml:ns:yang:ietf-network-topology-state"
QTP = "urn:qnms:yang:qnms-topology"
QT = "urn:qnms:yang:qnms-types"
MODULES = ("ietf-network-state", "ietf-network-topology-state", "qnms-topology")
GONE = ("expired", "released")  # QUI states that no longer count as active
LINK_TELEMETRY = ("generation-rate", "success-probability", "mean-fidelity", "last-fidelity")


@dataclass(frozen=True)
class MapNode:
    """A QFS node of the map (what does not move)."""

    name: str
    domain: str
    role: str  # qnms-types identity, without prefix
    memories: tuple[tuple[str, int], ...]  # (name, size)
    endpoints: tuple[str, ...]
    border: bool


@dataclass(frozen=True)
class MapLink:
    """One RFC 8345 link of the map: a direction of a quantum link, or a CS channel."""

    link_id: str
    source: str
    dest: str
    kind: str  # quantum-link | quantum-channel | classical-assist
    domain: str
    state_key: tuple[str, str]  # (node, link) in Facts.links, or ("", channel name)
    technology: str | None = None
    length_km: float | None = None
    channel: str | None = None  # quantum links: link-id of the quantum-channel
    assist: str | None = None  # quantum links: link-id of the classical-assist link


@dataclass(frozen=True)
class NetworkMap:
    nodes: tuple[MapNode, ...]
    links: tuple[MapLink, ...]


def _text(el: etree._Element, path: str, ns: str, default: str = "") -> str:
    text = el.findtext("/".join(f"{{{ns}}}{s}" for s in path.split("/")))
    return text.strip() if text is not None else default


def _local(identity: str) -> str:
    return identity.rpartition(":")[2]


def network_map(discovery: Discovery) -> NetworkMap:
    """The map as discovery read it from the agents."""
    topo = discovery.topology
    qfs: list[AgentFacts] = []
    cs: list[AgentFacts] = []
    for facts in discovery.agents.values():
        if facts.data is not None and facts.address.stratum in ("qfs", "cs"):
            (qfs if facts.address.stratum == "qfs" else cs).append(facts)
    channel_ids: dict[str, str] = {}  # channel name -> link-id
    assist_ids: dict[frozenset[str], str] = {}  # node pair -> link-id
    links: list[MapLink] = []
    for facts in cs:
        d = facts.data
        assert d is not None
        domain = _text(d, "domain", CS) or facts.address.name
        for ch in d.iterfind(f"{{{CS}}}channels/{{{CS}}}channel"):
            name, length = _text(ch, "name", CS), _text(ch, "length-km", CS)
            link_id = channel_ids[name] = f"{domain}/{name}"
            links.append(
                MapLink(
                    link_id,
                    _text(ch, "node-a", CS),
                    _text(ch, "node-b", CS),
                    "quantum-channel",
                    domain,
                    ("", name),
                    technology=_local(_text(ch, "technology", CS, "fibre")),
                    length_km=float(length) if length else None,
                )
            )
        for cc in d.iterfind(f"{{{CS}}}classical-channels/{{{CS}}}classical-channel"):
            name, a, b = (_text(cc, leaf, CS) for leaf in ("name", "node-a", "node-b"))
            link_id = assist_ids[frozenset((a, b))] = f"{domain}/{name}"
            links.append(MapLink(link_id, a, b, "classical-assist", domain, ("", name)))
    lengths = {lk.link_id: lk.length_km for lk in links}
    borders: set[str] = set()
    quantum: list[MapLink] = []
    for facts in qfs:
        d = facts.data
        assert d is not None
        node = _text(d, "node/id", QFS) or facts.address.name
        info = topo.nodes.get(node)
        domain = info.domain if info is not None else _text(d, "node/domain", QFS)
        for lk in d.iterfind(f"{{{QFS}}}quantum-links/{{{QFS}}}quantum-link"):
            name, remote = _text(lk, "name", QFS), _text(lk, "remote-node", QFS)
            far = topo.nodes.get(remote)
            if far is None or far.domain != domain:
                borders.add(node)
            channel = channel_ids.get(_text(lk, "channel", QFS))
            quantum.append(
                MapLink(
                    f"{node}/{name}",
                    node,
                    remote,
                    "quantum-link",
                    domain,
                    (node, name),
                    technology=_local(_text(lk, "technology", QFS, "fibre")),
                    length_km=lengths.get(channel) if channel else None,
                    channel=channel,
                    assist=assist_ids.get(frozenset((node, remote))),
                )
            )
    endpoints: dict[str, list[str]] = {}
    for urn, ep in sorted(topo.endpoints.items()):
        endpoints.setdefault(ep.node, []).append(urn)
    nodes = tuple(
        MapNode(
            n.name,
            n.domain,
            n.role,
            tuple((m.name, m.size) for m in n.memories),
            tuple(endpoints.get(n.name, ())),
            n.name in borders,
        )
        for n in sorted(topo.nodes.values(), key=lambda n: n.name)
    )
    return NetworkMap(nodes, tuple(sorted(quantum, key=lambda lk: lk.link_id)) + tuple(links))


def _decimal(value: float, digits: int) -> str:
    """RFC 7950 canonical decimal64: no trailing zeros, one digit after the point."""
    text = f"{value:.{digits}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _e(parent: etree._Element, ns: str, tag: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def _node(network: etree._Element, node: MapNode, facts: Facts, active: int) -> None:
    el = _e(network, NW, "node")
    _e(el, NW, "node-id", node.name)
    q = _e(el, QTP, "quantum-node")
    _e(q, QTP, "domain", node.domain)
    role = etree.SubElement(q, f"{{{QTP}}}role", nsmap={"qt": QT})
    role.text = f"qt:{node.role}"
    if (state := facts.nodes.get(node.name)) is not None:
        _e(q, QTP, "oper-state", state)
    _e(q, QTP, "border", str(node.border).lower())
    for urn in node.endpoints:
        _e(q, QTP, "endpoint", urn)
    for name, size in node.memories:
        mem = _e(q, QTP, "memory")
        _e(mem, QTP, "name", name)
        _e(mem, QTP, "size", size)
        if (occ := facts.occupancy.get((node.name, name))) is not None:
            _e(mem, QTP, "occupancy", _decimal(occ, 2))
    _e(q, QTP, "active-quis", active)


def _state(link: MapLink, facts: Facts) -> str | None:
    if link.kind == "quantum-link":
        return facts.links.get(link.state_key)
    states = facts.channels if link.kind == "quantum-channel" else facts.classical
    return states.get(link.state_key[1])


def _link(network: etree._Element, link: MapLink, facts: Facts) -> None:
    el = _e(network, NT, "link")
    _e(el, NT, "link-id", link.link_id)
    _e(_e(el, NT, "source"), NT, "source-node", link.source)
    _e(_e(el, NT, "destination"), NT, "dest-node", link.dest)
    q = _e(el, QTP, "quantum-link")
    _e(q, QTP, "kind", link.kind)
    if (state := _state(link, facts)) is not None:
        _e(q, QTP, "oper-state", state)
    _e(q, QTP, "domain", link.domain)
    if link.technology:
        tech = etree.SubElement(q, f"{{{QTP}}}technology", nsmap={"qt": QT})
        tech.text = f"qt:{link.technology}"
    if link.length_km is not None:
        _e(q, QTP, "length", _decimal(link.length_km, 3))
    if link.channel:
        _e(q, QTP, "channel", link.channel)
    if link.assist:
        _e(q, QTP, "classical-assist", link.assist)
    if link.kind == "quantum-link":
        values = facts.link_telemetry.get(link.state_key, {})
        tel = _e(q, QTP, "telemetry")
        for leaf in LINK_TELEMETRY:
            if values.get(leaf):
                _e(tel, QTP, leaf, values[leaf])


def active_quis(facts: Facts) -> dict[str, int]:
    """Per node, the QUIs neither expired nor released."""
    active: dict[str, int] = {}
    for (node, _q), qui in facts.quis.items():
        if qui.state not in GONE:
            active[node] = active.get(node, 0) + 1
    return active


def _inputs(facts: Facts) -> tuple[object, ...]:
    """What the tree reads from the facts (the facts' dicts are replaced, never changed,
    on each notification, so they compare as they were)."""
    return (
        facts.nodes,
        facts.links,
        facts.link_telemetry,
        facts.occupancy,
        facts.channels,
        facts.classical,
        active_quis(facts),
    )


def topology_tree(network_id: str, nmap: NetworkMap, facts: Facts) -> etree._Element:
    """``/nw-s:networks`` with the one quantum network, as XML."""
    top = etree.Element(f"{{{NW}}}networks", nsmap={None: NW, "nt": NT, "qtp": QTP, "qt": QT})
    network = _e(top, NW, "network")
    _e(network, NW, "network-id", network_id)
    _e(_e(network, NW, "network-types"), QTP, "quantum-network")
    active = active_quis(facts)
    for node in nmap.nodes:
        _node(network, node, facts, active.get(node.name, 0))
    for link in nmap.links:
        _link(network, link, facts)
    return top


class TopologyState:
    """State provider of ``/nw-s:networks``, and the telemetry listener that keeps it.

    ``discovery`` and ``facts`` are read when needed (the controller discovers once at
    start; the closed loop replaces its facts on every notification); ``changed`` tells
    the server that the operational state moved.
    """

    def __init__(
        self,
        network_id: str,
        discovery: Callable[[], Discovery],
        facts: Callable[[], Facts],
        changed: Callable[[], None] = lambda: None,
        *,
        min_interval: float = 0.05,
    ) -> None:
        self.network_id = network_id
        self.discovery = discovery
        self.facts = facts
        self.changed = changed
        self.min_interval = min_interval
        self.rebuilds = 0  # trees built
        self.pushes = 0  # times the server was told
        self._map: tuple[Discovery, NetworkMap] | None = None
        self._tree: etree._Element | None = None
        self._bytes = b""
        self._inputs: tuple[object, ...] = ()
        self._last = float("-inf")  # monotonic time of the last rebuild
        self._pending: asyncio.TimerHandle | None = None

    def network(self) -> NetworkMap:
        disc = self.discovery()
        if self._map is None or self._map[0] is not disc:
            self._map = (disc, network_map(disc))
        return self._map[1]

    def rebuild(self) -> bool:
        """Build the tree now; True when it differs from the last one. Nothing is built
        when what the map reads did not change (a QUI's fidelity moved, say)."""
        facts, nmap = self.facts(), self.network()
        inputs = (nmap, *_inputs(facts))
        if self._tree is not None and inputs == self._inputs:
            return False
        tree = topology_tree(self.network_id, nmap, facts)
        self.rebuilds += 1
        self._last = time.monotonic()
        self._inputs = inputs
        raw = etree.tostring(tree)
        if raw == self._bytes:
            return False
        self._tree, self._bytes = tree, raw
        return True

    def state(self) -> list[etree._Element]:
        if self._tree is None or (self._map is not None and self._map[0] is not self.discovery()):
            self.rebuild()
        assert self._tree is not None
        return [copy.deepcopy(self._tree)]

    def on_telemetry(self, addr: AgentAddress, _arrived: float) -> None:
        """A ``telemetry.Listener`` (on the event loop): rebuild soon, coalesced. SS
        telemetry (endpoint stores, one change per pair delivered) is not on the map."""
        if self._pending is not None or addr.stratum == "ss":
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last + self.min_interval - time.monotonic())
        self._pending = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._pending = None
        if self.rebuild():
            self.pushes += 1
            self.changed()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
