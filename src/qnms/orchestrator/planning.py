"""From a chosen path to an allocation plan (seed 5.3.2 identifiers, 5.3.3 QUIs).

The plan names everything the transaction will write: the unit's identifier (N
endpoint URNs with fresh nonces, then the lifecycle URN, built by
``qnms.service.identifiers``), one QUI per domain the path crosses (the same id on
every node of that domain, with a fresh nonce per node so each allocation is told
apart), the memory qubits each node holds, and each node's neighbours for swapping.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from qnms.orchestrator.admission import Handle
from qnms.orchestrator.edits import (
    AllocationPlan,
    EndpointBinding,
    GenerationRequest,
    HopAllocation,
    qui_id,
)
from qnms.orchestrator.intent import ServiceIntent
from qnms.orchestrator.paths import PathEstimate
from qnms.orchestrator.topology import Topology
from qnms.service.identifiers import ServiceUnitId


def memory_picker(topo: Topology, est: PathEstimate) -> Callable[[str], str]:
    """The memory bank each node uses on this path (the one its quantum link names)."""
    nodes = est.nodes

    def pick(node: str) -> str:
        i = nodes.index(node)
        nb = nodes[i + 1] if i + 1 < len(nodes) else nodes[i - 1]
        return topo.edge(node, nb).memory_of(node)

    return pick


def build_plan(
    topo: Topology, intent: ServiceIntent, est: PathEstimate, handles: Sequence[Handle]
) -> AllocationPlan:
    """The allocation of ``intent`` on path ``est`` with the reserved ``handles``."""
    params: dict[str, Any] = {"size": intent.size, "valid-until": intent.valid_until}
    if intent.lifecycle_fidelity is not None:
        params["fidelity"] = f"{intent.lifecycle_fidelity:g}"
    ident = ServiceUnitId.build(intent.endpoints, params)
    ttl = intent.time_to_live_s or max(intent.valid_until - time.time(), 1.0)
    nodes = est.nodes
    hops = tuple(
        HopAllocation(
            node=n,
            domain=topo.nodes[n].domain,
            qui=qui_id(intent.name, topo.nodes[n].domain),
            nonce=secrets.token_hex(8),
            handles=tuple(h for h in handles if h.node == n),
            upstream=nodes[i - 1] if i > 0 else None,
            downstream=nodes[i + 1] if i + 1 < len(nodes) else None,
        )
        for i, n in enumerate(nodes)
    )
    endpoints = tuple(
        EndpointBinding(
            node=topo.endpoint_node(urn) or "",
            urn=urn,
            qui=qui_id(intent.name, topo.nodes[topo.endpoint_node(urn) or ""].domain),
        )
        for urn in intent.endpoints
    )
    return AllocationPlan(
        unit=intent.name,
        service_type=intent.service_type,
        identifier=tuple(ident.urns()),
        size=intent.size,
        valid_until=intent.valid_until,
        time_to_live_s=ttl,
        coherence_window_ms=intent.coherence_window_ms,
        hops=hops,
        endpoints=endpoints,
        generation=(
            GenerationRequest(
                pairs=intent.size,
                target_fidelity=intent.requirements.target_fidelity,
                purification=est.purification_rounds > 0,
                max_swaps=est.swaps,
            )
            if nodes[0] in topo.generation_nodes
            else None
        ),
    )
