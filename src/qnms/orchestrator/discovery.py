"""Discovery (seed 5.4 step 0): read the network from its agents over NETCONF.

For each agent of the inventory: its hello (capabilities, e.g. confirmed-commit) and
RFC 8525 yang-library; from QFS agents the node, memories, quantum links and the QUIs
already configured (their local handles hold memory qubits); from CS agents the fibre
channels and classical-assist channels; from SS agents the application endpoints they
serve. The topology is built from these answers, not from the network file, so it is
what the devices say exists now. All agents are read in parallel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lxml import etree

from qnms.orchestrator.southbound import AgentAddress, Southbound, SouthboundError
from qnms.orchestrator.topology import EdgeInfo, EndpointInfo, MemoryInfo, NodeInfo, Topology

log = logging.getLogger(__name__)
QFS = "urn:qnms:yang:qnms-quantum-fabric"
CS = "urn:qnms:yang:qnms-connectivity"
SS = "urn:qnms:yang:qnms-service-stratum"
YANGLIB = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
TOP = {"qfs": (QFS, "quantum-fabric"), "cs": (CS, "connectivity"), "ss": (SS, "service-stratum")}


@dataclass
class AgentFacts:
    """What one agent told us: capabilities, modules and its data (config + state)."""

    address: AgentAddress
    capabilities: list[str]
    modules: list[str]
    data: etree._Element | None
    drives_twin: bool = False  # its QUIs take a generation request (qnms-quantum-fabric)


@dataclass
class Discovery:
    """The result: facts per agent, the topology, and the agents that did not answer."""

    agents: dict[str, AgentFacts] = field(default_factory=dict)
    topology: Topology = field(default_factory=Topology)
    unreachable: dict[str, str] = field(default_factory=dict)


def _t(el: etree._Element | None, path: str, ns: str, default: str = "") -> str:
    if el is None:
        return default
    steps = "/".join(f"n:{s}" for s in path.split("/"))
    text = el.findtext(steps, namespaces={"n": ns})
    return text.strip() if text is not None else default


def _all(el: etree._Element | None, path: str, ns: str) -> list[etree._Element]:
    if el is None:
        return []
    return el.findall("/".join(f"n:{s}" for s in path.split("/")), namespaces={"n": ns})


def _local(identity: str) -> str:
    return identity.rpartition(":")[2]


def _read(address: AgentAddress, m) -> AgentFacts:
    ns, top = TOP[address.stratum]
    caps = list(m.server_capabilities)
    lib = m.get(filter=("subtree", f'<yang-library xmlns="{YANGLIB}"/>')).data_ele
    modules = [
        t.strip()
        for t in lib.xpath("//y:module/y:name/text()", namespaces={"y": YANGLIB})
        if isinstance(t, str)
    ]
    data = m.get(filter=("subtree", f'<{top} xmlns="{ns}"/>')).data_ele
    found = data.find(f"{{{ns}}}{top}")
    drives = False
    if address.stratum == "qfs":  # does its QUI take the head-end generation request?
        text = m.get_schema("qnms-quantum-fabric").data or ""
        drives = "container generation" in text
    return AgentFacts(address, caps, modules, found, drives)


async def discover(southbound: Southbound) -> Discovery:
    """Read every agent in parallel and build the topology from the answers."""
    addresses = {k: s.address for k, s in southbound.sessions.items()}
    results = await southbound.fan_out(addresses, "discover", lambda k, m: _read(addresses[k], m))
    out = Discovery()
    for key, res in results.items():
        if isinstance(res, SouthboundError):
            out.unreachable[key] = res.message
        else:
            out.agents[key] = res
    out.topology = build_topology(out.agents.values())
    return out


def build_topology(agents) -> Topology:
    topo = Topology()
    links: dict[frozenset[str], dict[str, dict[str, str]]] = {}
    channels: dict[str, etree._Element] = {}
    classical: dict[frozenset[str], etree._Element] = {}
    for facts in agents:
        d, stratum = facts.data, facts.address.stratum
        if d is None:
            continue
        if stratum == "qfs":
            node = _node(d)
            topo.nodes[node.name] = node
            if facts.drives_twin:
                topo.generation_nodes.add(node.name)
            for q in _all(d, "qui-table/qui", QFS):
                for h in _all(q, "local-handle", QFS):
                    key = (node.name, _t(h, "memory", QFS))
                    topo.held.setdefault(key, set()).add(int(_t(h, "index", QFS, "0")))
            for lk in _all(d, "quantum-links/quantum-link", QFS):
                remote = _t(lk, "remote-node", QFS)
                links.setdefault(frozenset((node.name, remote)), {})[node.name] = {
                    "name": _t(lk, "name", QFS),
                    "memory": _t(lk, "local-memory", QFS),
                    "channel": _t(lk, "channel", QFS),
                    "technology": _local(_t(lk, "technology", QFS, "fibre")),
                    "enabled": _t(lk, "enabled", QFS, "true"),
                    "oper": _t(lk, "oper-state", QFS, "up"),
                }
        elif stratum == "cs":
            for ch in _all(d, "channels/channel", CS):
                channels[_t(ch, "name", CS)] = ch
            for cc in _all(d, "classical-channels/classical-channel", CS):
                classical[frozenset((_t(cc, "node-a", CS), _t(cc, "node-b", CS)))] = cc
        elif stratum == "ss":
            topo.kmes[facts.address.name] = _t(d, "kme-id", SS) or facts.address.name
            for ep in _all(d, "endpoints/endpoint", SS):
                urn = _t(ep, "urn", SS)
                topo.endpoints[urn] = EndpointInfo(
                    urn, facts.address.name, _t(ep, "application", SS) or None
                )
    for pair, ends in links.items():
        if len(ends) != 2:
            continue  # a link only one end reports is not usable
        (a, sa), (b, sb) = sorted(ends.items())
        chan = channels.get(sa["channel"])
        assist = classical.get(pair)
        up = all(s["enabled"] == "true" and s["oper"] != "down" for s in (sa, sb))
        up = up and (chan is None or _t(chan, "enabled", CS, "true") == "true")
        topo.edges[pair] = EdgeInfo(
            a=a,
            b=b,
            link=sa["name"],
            memory_a=sa["memory"],
            memory_b=sb["memory"],
            technology=sa["technology"],
            enabled=up,
            length_km=float(_t(chan, "length-km", CS, "0")),
            attenuation_db_per_km=float(_t(chan, "attenuation-db-per-km", CS, "0.2")),
            classical_latency_ms=float(_t(assist, "latency", CS, "0")),
            classical_reliability=float(_t(assist, "reliability", CS, "1")),
            classical_channel=_t(assist, "name", CS) or None,
            channel=sa["channel"] or None,
        )
    return topo


def _node(d: etree._Element) -> NodeInfo:
    memories = tuple(
        MemoryInfo(
            name=_t(mem, "name", QFS),
            size=int(_t(mem, "size", QFS, "0")),
            coherence_time=float(_t(mem, "coherence-time", QFS, "0")),
            raw_fidelity=float(_t(mem, "raw-fidelity", QFS, "0")),
            efficiency=float(_t(mem, "efficiency", QFS, "1")),
            frequency=float(_t(mem, "frequency", QFS, "0")),
        )
        for mem in _all(d, "memories/memory", QFS)
    )
    caps = "node/capabilities"
    return NodeInfo(
        name=_t(d, "node/id", QFS),
        domain=_t(d, "node/domain", QFS),
        role=_local(_t(d, "node/role", QFS)),
        memories=memories,
        swap_success=float(_t(d, f"{caps}/swapping-success-probability", QFS, "1")),
        swap_degradation=float(_t(d, f"{caps}/swapping-degradation", QFS, "1")),
        purification=tuple(_local(p.text or "") for p in _all(d, f"{caps}/purification", QFS)),
        detector_efficiency=float(_t(d, f"{caps}/detector-efficiency", QFS, "1")),
    )
