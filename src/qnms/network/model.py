"""Read the network's YANG instance data (RFC 7951 JSON) into plain dataclasses.

The QNDT must take every physical parameter from the same instance data the agents
serve (``qnms-network``: CS channels, QFS nodes, memories, links), so the models stay
the single source of truth. This module is the only place that knows the JSON layout;
the engine and the builder see typed values (decimal64 strings become floats).
It deliberately uses plain ``json`` so the engine does not depend on the binding layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Default network shipped with qnms (written by the network package).
DEFAULT_NETWORK_PATH = (
    Path(__file__).resolve().parent.parent / "network" / "data" / "default-network.json"
)

#: One-way latency of light in fibre, used when no classical channel is configured.
FIBRE_MS_PER_KM = 0.005


class NetworkModelError(ValueError):
    """The instance data is inconsistent (dangling reference, missing mandatory leaf)."""


@dataclass(frozen=True)
class Channel:
    """A CS quantum channel (fibre or free-space) between two nodes."""

    name: str
    node_a: str
    node_b: str
    length_km: float
    attenuation_db_per_km: float
    enabled: bool = True

    @property
    def transmittance(self) -> float:
        """Probability that a photon crosses the whole channel (eta of the PLOB bound)."""
        return 10 ** (-self.attenuation_db_per_km * self.length_km / 10)


@dataclass(frozen=True)
class ClassicalChannel:
    """A CS classical-assist channel with its nominal one-way latency."""

    name: str
    node_a: str
    node_b: str
    latency_ms: float


@dataclass(frozen=True)
class MemoryBank:
    """A QFS memory bank: ``size`` identical qubits."""

    name: str
    size: int
    coherence_time_s: float
    efficiency: float
    raw_fidelity: float
    frequency_hz: float


@dataclass(frozen=True)
class QuantumLink:
    """A QFS quantum link as seen from one end."""

    name: str
    remote_node: str
    local_memory: str
    channel: str
    enabled: bool = True


@dataclass
class Node:
    """A QFS node with its capabilities, banks and links."""

    name: str
    role: str
    domain: str
    swapping_success_probability: float = 1.0
    swapping_degradation: float = 1.0
    purification: tuple[str, ...] = ()
    memories: dict[str, MemoryBank] = field(default_factory=dict)
    links: dict[str, QuantumLink] = field(default_factory=dict)

    def link_to(self, remote: str) -> QuantumLink | None:
        """The first enabled link towards ``remote`` (document order), if any."""
        for link in self.links.values():
            if link.remote_node == remote and link.enabled:
                return link
        return None


@dataclass
class NetworkModel:
    """The whole network: nodes, quantum and classical channels."""

    name: str
    nodes: dict[str, Node]
    channels: dict[str, Channel]
    classical: dict[str, ClassicalChannel]

    def channel_between(self, a: str, b: str) -> Channel | None:
        """The channel used by the link from ``a`` to ``b`` (via a's link data)."""
        node = self.nodes.get(a)
        link = node.link_to(b) if node else None
        return self.channels.get(link.channel) if link else None

    def hops(self) -> list[tuple[str, str, Channel]]:
        """Every node pair joined by a quantum link, once, in a stable order."""
        seen: set[tuple[str, str]] = set()
        out: list[tuple[str, str, Channel]] = []
        for a, node in self.nodes.items():
            for link in node.links.values():
                b = link.remote_node
                key = (a, b) if a < b else (b, a)
                if key in seen or not link.enabled:
                    continue
                ch = self.channels.get(link.channel)
                if ch is None or b not in self.nodes:
                    continue
                seen.add(key)
                out.append((key[0], key[1], ch))
        return out


def _f(value: Any, default: float | None = None, what: str = "") -> float:
    if value is None:
        if default is None:
            raise NetworkModelError(f"missing mandatory value {what}")
        return default
    return float(value)


def _strip_prefix(identity: str) -> str:
    return identity.split(":", 1)[1] if ":" in identity else identity


def parse_network(data: dict[str, Any]) -> NetworkModel:
    """Turn ``{"qnms-network:network": ...}`` into a :class:`NetworkModel`.

    Raises NetworkModelError on dangling references the simulator could not build.
    """
    net = data.get("qnms-network:network", data.get("network"))
    if not isinstance(net, dict):
        raise NetworkModelError("no qnms-network:network container")
    channels: dict[str, Channel] = {}
    classical: dict[str, ClassicalChannel] = {}
    for dom in net.get("domain", []):
        conn = dom.get("connectivity", {})
        for ch in conn.get("channels", {}).get("channel", []):
            channels[ch["name"]] = Channel(
                name=ch["name"],
                node_a=ch["node-a"],
                node_b=ch["node-b"],
                length_km=_f(ch.get("length-km"), what=f"channel {ch['name']} length-km"),
                attenuation_db_per_km=_f(ch.get("attenuation-db-per-km"), 0.2),
                enabled=bool(ch.get("enabled", True)),
            )
        for cc in conn.get("classical-channels", {}).get("classical-channel", []):
            classical[cc["name"]] = ClassicalChannel(
                name=cc["name"],
                node_a=cc["node-a"],
                node_b=cc["node-b"],
                latency_ms=_f(cc.get("latency"), what=f"classical channel {cc['name']} latency"),
            )
    nodes: dict[str, Node] = {}
    for entry in net.get("node", []):
        qfs = entry.get("quantum-fabric", {})
        nd = qfs.get("node", {})
        caps = nd.get("capabilities", {})
        node = Node(
            name=entry["name"],
            role=_strip_prefix(nd.get("role", "qnms-types:repeater")),
            domain=nd.get("domain", ""),
            swapping_success_probability=_f(caps.get("swapping-success-probability"), 1.0),
            swapping_degradation=_f(caps.get("swapping-degradation"), 1.0),
            purification=tuple(_strip_prefix(p) for p in caps.get("purification", [])),
        )
        for mem in qfs.get("memories", {}).get("memory", []):
            node.memories[mem["name"]] = MemoryBank(
                name=mem["name"],
                size=int(mem["size"]),
                coherence_time_s=_f(mem.get("coherence-time"), what=f"{node.name} coherence-time"),
                efficiency=_f(mem.get("efficiency"), 1.0),
                raw_fidelity=_f(mem.get("raw-fidelity"), what=f"{node.name} raw-fidelity"),
                frequency_hz=_f(mem.get("frequency"), 2000.0),
            )
        for link in qfs.get("quantum-links", {}).get("quantum-link", []):
            ql = QuantumLink(
                name=link["name"],
                remote_node=link["remote-node"],
                local_memory=link["local-memory"],
                channel=link["channel"],
                enabled=bool(link.get("enabled", True)),
            )
            if ql.local_memory not in node.memories:
                raise NetworkModelError(f"{node.name} link {ql.name}: no memory {ql.local_memory}")
            if ql.channel not in channels:
                raise NetworkModelError(f"{node.name} link {ql.name}: no channel {ql.channel}")
            node.links[ql.name] = ql
        if not node.memories:
            raise NetworkModelError(f"node {node.name} has no memory bank")
        nodes[node.name] = node
    if not nodes:
        raise NetworkModelError("network has no node")
    return NetworkModel(
        name=str(net.get("name", "")), nodes=nodes, channels=channels, classical=classical
    )


def load_network(path: str | Path | None = None) -> NetworkModel:
    """Read a network JSON file (the built-in default when ``path`` is None)."""
    with open(path or DEFAULT_NETWORK_PATH, encoding="utf-8") as fh:
        return parse_network(json.load(fh))


def classical_latencies(model: NetworkModel) -> dict[tuple[str, str], float]:
    """All-pairs one-way classical latency in ms (shortest path over classical channels).

    SeQUeNCe routers exchange messages with non-adjacent path nodes (swap results, rule
    requests), so every router pair needs a channel; its delay is the routed latency.
    Hops with a quantum link but no classical channel get the fibre propagation delay.
    """
    import networkx as nx  # shipped with SeQUeNCe

    graph = nx.Graph()
    graph.add_nodes_from(model.nodes)
    for cc in model.classical.values():
        if cc.node_a in model.nodes and cc.node_b in model.nodes:
            old = graph.get_edge_data(cc.node_a, cc.node_b, {}).get("weight", float("inf"))
            graph.add_edge(cc.node_a, cc.node_b, weight=min(old, cc.latency_ms))
    for a, b, ch in model.hops():
        if not graph.has_edge(a, b):
            graph.add_edge(a, b, weight=ch.length_km * FIBRE_MS_PER_KM)
    out: dict[tuple[str, str], float] = {}
    for src, lengths in nx.all_pairs_dijkstra_path_length(graph):
        for dst, ms in lengths.items():
            out[(src, dst)] = float(ms)
    return out
