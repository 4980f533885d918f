"""The typed network model: nodes, memory banks, quantum links, channels, latencies.

The QNDT takes every physical parameter from the same instance data the agents serve
(``qnms-network``: CS channels, QFS nodes, memories, links), and the orchestrator's
path computation reasons over the same values, so both read this one model, built from
a network that ``qnms.network.inventory`` loaded and validated once. Decimal64 strings
become floats and identities lose their prefix here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from qnms.network.inventory import (
    DEFAULT_NETWORK,
    Network,
    load_network,
    short_identity,
    validate_network,
)
from qnms.network.physics import FIBRE_MS_PER_KM


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
    detector_efficiency: float = 1.0  # of the detector it gives its links' BSM stations
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


def _f(value: Any, default: float) -> float:
    """A decimal64 leaf (an RFC 7951 string) or its YANG default, as a float."""
    return default if value is None else float(value)


def network_model(network: Network) -> NetworkModel:
    """The typed model of a validated network (``qnms.network.inventory.Network``).

    The network was checked once when it was loaded (types, mandatory nodes, references
    between elements), so this only converts: decimal64 strings become floats,
    identities lose their module prefix, absent optional leaves take the model's
    defaults.
    """
    channels = {
        ch["name"]: Channel(
            name=ch["name"],
            node_a=ch["node-a"],
            node_b=ch["node-b"],
            length_km=float(ch["length-km"]),
            attenuation_db_per_km=_f(ch.get("attenuation-db-per-km"), 0.2),
            enabled=bool(ch.get("enabled", True)),
        )
        for ch in network.channels()
    }
    classical = {
        cc["name"]: ClassicalChannel(
            name=cc["name"],
            node_a=cc["node-a"],
            node_b=cc["node-b"],
            latency_ms=float(cc["latency"]),
        )
        for cc in network.classical_channels()
    }
    nodes: dict[str, Node] = {}
    for entry in network.nodes:
        qfs = entry["quantum-fabric"]
        caps = qfs["node"].get("capabilities", {})
        node = Node(
            name=entry["name"],
            role=network.role(entry),
            domain=qfs["node"]["domain"],
            swapping_success_probability=_f(caps.get("swapping-success-probability"), 1.0),
            swapping_degradation=_f(caps.get("swapping-degradation"), 1.0),
            detector_efficiency=_f(caps.get("detector-efficiency"), 1.0),
            purification=tuple(short_identity(p) for p in caps.get("purification", [])),
        )
        for mem in qfs.get("memories", {}).get("memory", []):
            node.memories[mem["name"]] = MemoryBank(
                name=mem["name"],
                size=int(mem["size"]),
                coherence_time_s=float(mem["coherence-time"]),
                efficiency=_f(mem.get("efficiency"), 1.0),
                raw_fidelity=float(mem["raw-fidelity"]),
                frequency_hz=_f(mem.get("frequency"), 2000.0),
            )
        for link in qfs.get("quantum-links", {}).get("quantum-link", []):
            node.links[link["name"]] = QuantumLink(
                name=link["name"],
                remote_node=link["remote-node"],
                local_memory=link["local-memory"],
                channel=link["channel"],
                enabled=bool(link.get("enabled", True)),
            )
        nodes[node.name] = node
    return NetworkModel(name=network.name, nodes=nodes, channels=channels, classical=classical)


def as_model(network: NetworkModel | Network | dict[str, Any] | str | Path | None) -> NetworkModel:
    """The model of a network given in any form a caller has: a model already, a loaded
    network, RFC 7951 data (validated here, once) or a file (the default when None)."""
    if isinstance(network, NetworkModel):
        return network
    if isinstance(network, dict):
        network = validate_network(network)
    elif not isinstance(network, Network):
        network = load_network(network or DEFAULT_NETWORK)
    return network_model(network)


def classical_latencies(model: NetworkModel) -> dict[tuple[str, str], float]:
    """All-pairs one-way classical latency in ms (shortest path over classical channels).

    SeQUeNCe routers exchange messages with non-adjacent path nodes (swap results, rule
    requests), so every router pair needs a channel; its delay is the routed latency.
    Hops with a quantum link but no classical channel get the fibre propagation delay.
    """
    graph: nx.Graph[str] = nx.Graph()
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
