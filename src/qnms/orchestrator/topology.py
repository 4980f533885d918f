"""The network as the orchestrator sees it: typed facts read from the agents.

Discovery (seed 5.4 step 0) fills these from what the QFS and CS agents report, never
from the network file, because the devices are the truth about what exists now; path
computation (step 2) reads them. The graph is a networkx ``Graph`` whose edges carry
the ``EdgeInfo`` of each quantum link.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx


@dataclass(frozen=True)
class MemoryInfo:
    """One memory bank of a node (qnms-quantum-fabric memories/memory)."""

    name: str
    size: int
    coherence_time: float  # seconds
    raw_fidelity: float
    efficiency: float = 1.0
    frequency: float = 0.0  # attempts per second; 0 unknown


@dataclass(frozen=True)
class NodeInfo:
    """One QFS node: identity, capabilities and memories."""

    name: str
    domain: str
    role: str
    memories: tuple[MemoryInfo, ...]
    swap_success: float = 1.0
    swap_degradation: float = 1.0
    purification: tuple[str, ...] = ()
    detector_efficiency: float = 1.0  # of its detector at its links' heralding stations

    @property
    def qubits(self) -> int:
        return sum(m.size for m in self.memories)

    @property
    def raw_fidelity(self) -> float:
        return min((m.raw_fidelity for m in self.memories), default=0.0)

    @property
    def coherence_time(self) -> float:
        return min((m.coherence_time for m in self.memories), default=0.0)


@dataclass(frozen=True)
class EdgeInfo:
    """A quantum link between two nodes with its fibre and classical-assist channel."""

    a: str
    b: str
    link: str  # quantum-link name (same on both ends)
    memory_a: str
    memory_b: str
    technology: str = "fibre"
    enabled: bool = True
    length_km: float = 0.0
    attenuation_db_per_km: float = 0.2
    classical_latency_ms: float = 0.0
    classical_reliability: float = 1.0
    classical_channel: str | None = None
    channel: str | None = None  # the CS channel (fibre) the link runs over

    def memory_of(self, node: str) -> str:
        return self.memory_a if node == self.a else self.memory_b

    @property
    def loss_db(self) -> float:
        return self.length_km * self.attenuation_db_per_km


@dataclass(frozen=True)
class EndpointInfo:
    """An application endpoint served by an SS agent (qnms-service-stratum endpoints)."""

    urn: str
    node: str
    application: str | None = None


@dataclass
class Topology:
    """Nodes, links, endpoints and the memory qubits already held on each agent."""

    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    edges: dict[frozenset[str], EdgeInfo] = field(default_factory=dict)
    endpoints: dict[str, EndpointInfo] = field(default_factory=dict)  # by URN
    # (node, memory) -> indices held by QUIs found on the agent at discovery
    held: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    # QFS nodes whose model has the QUI generation request (they drive the twin)
    generation_nodes: set[str] = field(default_factory=set)
    # nodes whose SS agent hosts a KME -> its KME id (trusted nodes of a QKD key path)
    kmes: dict[str, str] = field(default_factory=dict)

    def graph(self) -> nx.Graph:
        g: nx.Graph = nx.Graph()
        g.add_nodes_from(self.nodes)
        for edge in self.edges.values():
            if edge.enabled and edge.a in self.nodes and edge.b in self.nodes:
                g.add_edge(edge.a, edge.b, length=edge.length_km, info=edge)
        return g

    def edge(self, a: str, b: str) -> EdgeInfo:
        return self.edges[frozenset((a, b))]

    def endpoint_node(self, urn: str) -> str | None:
        info = self.endpoints.get(urn)
        return info.node if info else None
