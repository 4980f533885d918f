"""The planner's view of a network model, without agents.

Discovery (orchestrator/discovery.py) builds the planner's ``Topology`` from what the
agents report; physics checks that compare the planner with the twin build it here
straight from the network model, field for field as discovery reads the agents' YANG
data, so no NETCONF agents are started for them.
"""

from __future__ import annotations

from qnms.network.model import NetworkModel
from qnms.orchestrator.topology import EdgeInfo, MemoryInfo, NodeInfo, Topology


def topology_of(model: NetworkModel) -> Topology:
    """The planner's view of ``model``, as discovery builds it from the agents."""
    topo = Topology()
    for node in model.nodes.values():
        mems = tuple(
            MemoryInfo(m.name, m.size, m.coherence_time_s, m.raw_fidelity, m.efficiency,
                       m.frequency_hz)
            for m in node.memories.values()
        )  # fmt: skip
        topo.nodes[node.name] = NodeInfo(
            node.name, node.domain, node.role, mems, node.swapping_success_probability,
            node.swapping_degradation, node.purification, node.detector_efficiency,
        )  # fmt: skip
    assist = {frozenset((c.node_a, c.node_b)): c for c in model.classical.values()}
    for a, b, ch in model.hops():
        a, b = sorted((a, b))
        la, lb = model.nodes[a].link_to(b), model.nodes[b].link_to(a)
        assert la is not None and lb is not None
        cc = assist.get(frozenset((a, b)))
        topo.edges[frozenset((a, b))] = EdgeInfo(
            a, b, la.name, la.local_memory, lb.local_memory,
            length_km=ch.length_km, attenuation_db_per_km=ch.attenuation_db_per_km,
            classical_latency_ms=cc.latency_ms if cc else 0.0,
            classical_channel=cc.name if cc else None, channel=ch.name,
        )  # fmt: skip
    return topo
