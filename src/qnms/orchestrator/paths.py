"""Candidate paths and their quantum QoS estimates (seed 5.4 step 2, QoS of seed 5.3.4).

Pure functions over a ``Topology``: the k shortest simple paths between two nodes,
and for each an estimate of end-to-end fidelity, rate, success probability, latency
and swapping depth, checked against the objectives of the request. The physics is
the twin's own (qnms/network/physics.py, one home for both, issue 14), so the estimate
and what the twin delivers agree (tests/qndt/test_planner_agreement.py):

* an elementary link delivers a Werner pair with the raw fidelity of the worse memory, at
  the rate of SeQUeNCe's Barrett-Kok cycle (``physics.hop_cycle``: success per channel
  use x channel uses per second, false heralds and classical round trips included);
* a target above what the swapped raw pairs give is met as the twin meets it: the fewest
  rounds of BBPSSW on each link's own pairs (at most two, nested), with the memories
  they need per hop side (``pathmodel.plan_rounds``; a round costs two pairs of the
  level below, the BBPSSW exchange, and the earlier input's storage);
* the links of a path generate in parallel and are swapped in the twin's (SeQUeNCe's)
  order, a tree of swaps each waiting for both its segments, a failed swap restarting
  only those (``pathmodel.swap_partners``), then the ends hear the last swap's results;
  times the purification units per link (each memory pair runs its own cycles);
* an entanglement swap of Werner pairs gives F' = F1 F2 + (1 - F1)(1 - F2)/3, times the
  node's swapping degradation (SeQUeNCe's ``swapping_degradation``);
* stored pairs depolarise, F(t) = 1/4 + (F - 1/4) exp(-t/T): link pairs while the slower
  links catch up, the end pair while the swap results travel (T the shortest memory
  coherence time on the path).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import networkx as nx

from qnms.network.pathmodel import Hop, plan_rounds
from qnms.network.physics import FIBRE_MS_PER_KM, hop_cycle, pair_coherence
from qnms.orchestrator.topology import EdgeInfo, Topology

DEFAULT_MAX_ROUNDS = 3
DEFAULT_K = 4
DEFAULT_ATTEMPT_RATE = 1000.0  # attempts per second when a memory reports no frequency


def link_cycle(topo: Topology, edge: EdgeInfo, upstream: str) -> tuple[float, float, float]:
    """(success probability, mean seconds, successful cycle seconds) of one pairing cycle
    of one memory pair of ``edge`` (the twin's link physics, ``physics.hop_cycle``; its
    rate is the ratio of the first two).

    The ends negotiate over the classical-assist channel, or at fibre speed when none is
    reported (as the twin builds the link); the upstream end of the path requests, the
    end with the larger name is primary.
    """
    mem_a = _memory(topo, edge.a, edge.memory_a)
    mem_b = _memory(topo, edge.b, edge.memory_b)
    frequency = min(
        mem_a.frequency or DEFAULT_ATTEMPT_RATE, mem_b.frequency or DEFAULT_ATTEMPT_RATE
    )
    downstream = edge.b if upstream == edge.a else edge.a
    return hop_cycle(
        (mem_a.efficiency, mem_b.efficiency),
        (topo.nodes[edge.a].detector_efficiency, topo.nodes[edge.b].detector_efficiency),
        edge.length_km, edge.attenuation_db_per_km, _classical_ms(edge), frequency,
        upstream > downstream,
    )  # fmt: skip


def _hops(topo: Topology, nodes: tuple[str, ...], edges: list[EdgeInfo]) -> list[Hop]:
    """The path model's view of each link of ``nodes`` (network/pathmodel.py)."""
    hops = []
    for i, (edge, coherence) in enumerate(zip(edges, _link_coherences(topo, edges), strict=True)):
        p, mean, success_s = link_cycle(topo, edge, nodes[i])
        a, b = topo.nodes[nodes[i]], topo.nodes[nodes[i + 1]]
        fidelity = min(a.raw_fidelity, b.raw_fidelity)
        hops.append(Hop((p, mean), fidelity, coherence, _classical_ms(edge) / 1000, success_s))
    return hops


def _link_coherences(topo: Topology, edges: list[EdgeInfo]) -> list[float]:
    """Coherence time of each link's pairs (the twin's harmonic mean of the two memories)."""
    return [
        pair_coherence(
            _memory(topo, e.a, e.memory_a).coherence_time,
            _memory(topo, e.b, e.memory_b).coherence_time,
        )
        for e in edges
    ]


def _classical_ms(edge: EdgeInfo) -> float:
    return edge.classical_latency_ms or edge.length_km * FIBRE_MS_PER_KM


# -- requests and estimates --------------------------------------------------------------


class Violation(StrEnum):
    """Why a candidate path cannot serve a request, in the order they are checked."""

    DEPTH = "swapping-depth-cap"
    DOMAIN = "domain-not-allowed"
    TECHNOLOGY = "technology-not-allowed"
    COHERENCE = "coherence-time-too-short"
    CLASSICAL = "classical-assist-latency"
    RELIABILITY = "classical-assist-reliability"
    MEMORY = "insufficient-memory"
    FIDELITY = "target-fidelity-unreachable"
    SUCCESS = "success-probability-unreachable"
    RATE = "generation-rate-unreachable"
    LATENCY = "establishment-latency-unreachable"


ORDER = list(Violation)


@dataclass(frozen=True)
class PathRequirements:
    """The objectives and constraints of one request that bear on path choice."""

    target_fidelity: float | None = None
    min_rate: float | None = None
    min_success: float | None = None
    max_establishment_ms: float | None = None
    max_classical_ms: float | None = None
    min_reliability: float | None = None
    swapping_depth_cap: int | None = None
    memories_per_node: int = 1
    min_coherence_s: float | None = None
    purification_allowed: bool = True
    max_rounds: int = DEFAULT_MAX_ROUNDS
    allowed_technologies: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    k: int = DEFAULT_K


@dataclass(frozen=True)
class PathEstimate:
    """One candidate path with its estimated QoS and what, if anything, it violates."""

    nodes: tuple[str, ...]
    swaps: int
    fidelity: float  # delivered, after decoherence and purification
    unpurified_fidelity: float
    purification_rounds: int
    pair_cost: int
    rate: float  # delivered pairs per second
    success_probability: float
    latency_ms: float  # establishment of one delivered pair
    classical_latency_ms: float  # end-to-end one-way classical assist
    loss_db: float
    qubits: dict[str, int] = field(default_factory=dict)  # memory qubits needed per node
    violations: tuple[Violation, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def first_violation(self) -> Violation | None:
        return min(self.violations, key=ORDER.index) if self.violations else None


def _edges(topo: Topology, nodes: tuple[str, ...]) -> list[EdgeInfo]:
    return [topo.edge(a, b) for a, b in itertools.pairwise(nodes)]


def estimate_path(
    topo: Topology,
    nodes: tuple[str, ...] | list[str],
    req: PathRequirements,
    free_qubits: Mapping[str, int] | None = None,
) -> PathEstimate:
    """Estimate the QoS of one path and list the constraints of ``req`` it violates.

    Fidelity and rate are the shared path model's (network/pathmodel.py): the fewest
    rounds of elementary purification per link that reach the target, as the twin runs
    them, the memories they need reserved on every hop side.
    """
    nodes = tuple(nodes)
    edges = _edges(topo, nodes)
    infos = [topo.nodes[n] for n in nodes]
    swaps = max(len(nodes) - 2, 0)
    classical_ms = sum(e.classical_latency_ms for e in edges)
    reliability = math.prod(e.classical_reliability for e in edges)
    coherence = min(n.coherence_time for n in infos)
    hops = _hops(topo, nodes, edges)
    purify = req.target_fidelity is not None and req.purification_allowed
    out = plan_rounds(
        hops,
        [n.swap_degradation for n in infos[1:-1]],
        [n.swap_success for n in infos[1:-1]],
        req.memories_per_node,
        req.target_fidelity if purify else None,
        classical_ms / 1000,
        coherence,
        max_rounds=req.max_rounds if purify else 0,
        add_memories=True,
    )
    rounds = max(out.rounds, default=0)
    latency = 1000 * out.generation_s / max(out.success, 1e-12) + classical_ms
    qubits = {n: out.memories * (1 if i in (0, len(nodes) - 1) else 2) for i, n in enumerate(nodes)}
    est = PathEstimate(
        nodes=nodes,
        swaps=swaps,
        fidelity=out.fidelity,
        unpurified_fidelity=out.unpurified_fidelity,
        purification_rounds=rounds,
        pair_cost=2**rounds,
        rate=out.rate,
        success_probability=out.success * math.prod(lv.success for lv in out.links),
        latency_ms=latency,
        classical_latency_ms=classical_ms,
        loss_db=sum(e.loss_db for e in edges),
        qubits=qubits,
    )
    return _with_violations(topo, est, edges, req, reliability, coherence, free_qubits)


def _memory(topo: Topology, node: str, name: str):
    for mem in topo.nodes[node].memories:
        if mem.name == name:
            return mem
    return topo.nodes[node].memories[0]


def _with_violations(topo, est, edges, req, reliability, coherence, free_qubits) -> PathEstimate:
    v: list[Violation] = []
    if req.swapping_depth_cap is not None and est.swaps > req.swapping_depth_cap:
        v.append(Violation.DEPTH)
    if req.allowed_domains and any(
        topo.nodes[n].domain not in req.allowed_domains for n in est.nodes
    ):
        v.append(Violation.DOMAIN)
    if req.allowed_technologies and any(
        e.technology not in req.allowed_technologies for e in edges
    ):
        v.append(Violation.TECHNOLOGY)
    if req.min_coherence_s is not None and coherence < req.min_coherence_s:
        v.append(Violation.COHERENCE)
    if req.max_classical_ms is not None and est.classical_latency_ms > req.max_classical_ms:
        v.append(Violation.CLASSICAL)
    if req.min_reliability is not None and reliability < req.min_reliability:
        v.append(Violation.RELIABILITY)
    if free_qubits is not None and any(
        free_qubits.get(n, 0) < need for n, need in est.qubits.items()
    ):
        v.append(Violation.MEMORY)
    if req.target_fidelity is not None and est.fidelity < req.target_fidelity:
        v.append(Violation.FIDELITY)
    if req.min_success is not None and est.success_probability < req.min_success:
        v.append(Violation.SUCCESS)
    if req.min_rate is not None and est.rate < req.min_rate:
        v.append(Violation.RATE)
    if req.max_establishment_ms is not None and est.latency_ms > req.max_establishment_ms:
        v.append(Violation.LATENCY)
    return PathEstimate(**{**est.__dict__, "violations": tuple(v)})


def candidate_paths(
    topo: Topology,
    source: str,
    target: str,
    req: PathRequirements,
    free_qubits: Mapping[str, int] | None = None,
) -> list[PathEstimate]:
    """The k shortest simple paths (by fibre length), estimated; feasible ones first,
    best estimated fidelity first among them, otherwise in length order."""
    graph = topo.graph()
    if source not in graph or target not in graph or source == target:
        return []
    try:
        simple = nx.shortest_simple_paths(graph, source, target, weight="length")
        paths = list(itertools.islice(simple, req.k))
    except nx.NetworkXNoPath:
        return []
    estimates = [estimate_path(topo, p, req, free_qubits) for p in paths]
    order = {e.nodes: i for i, e in enumerate(estimates)}
    return sorted(
        estimates,
        key=lambda e: (not e.feasible, -round(e.fidelity, 9) if e.feasible else 0, order[e.nodes]),
    )


def closest_miss(estimates: list[PathEstimate]) -> PathEstimate | None:
    """The infeasible path that got furthest through the checks (it explains a refusal
    best: a depth cap below every path, or the best fidelity any path achieves)."""
    if not estimates:
        return None
    return max(
        estimates,
        key=lambda e: (ORDER.index(e.first_violation) if e.first_violation else len(ORDER),
                       e.fidelity),
    )  # fmt: skip
