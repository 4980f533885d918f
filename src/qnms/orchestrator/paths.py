"""Candidate paths and their quantum QoS estimates (seed 5.4 step 2, QoS of seed 5.3.4).

Pure functions over a ``Topology``: the k shortest simple paths between two nodes,
and for each an estimate of end-to-end fidelity, rate, success probability, latency
and swapping depth, checked against the objectives of the request. The physics is
deliberately the textbook first-order model, the same the twin uses for its
bookkeeping, so the estimate and what the twin delivers can be compared:

* an elementary link delivers a Werner pair with the raw fidelity of the worse memory;
* an entanglement swap of Werner pairs gives F' = F1 F2 + (1 - F1)(1 - F2)/3, then the
  node's swapping degradation multiplies it (SeQUeNCe's ``swapping_degradation``);
* while the classical-assist messages travel, the stored pair depolarises:
  F(t) = 1/4 + (F - 1/4) exp(-t/T), T the shortest memory coherence time on the path;
* BBPSSW recurrence purification of two Werner pairs of fidelity F succeeds with
  p = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2 and gives (F^2 + ((1-F)/3)^2) / p; each round
  doubles the pair cost;
* a meet-in-the-middle link succeeds per attempt with p = 1/2 eta_a eta_b, each photon
  crossing half the fibre (eta = efficiency 10^(-alpha L / 20)).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import networkx as nx

from qnms.orchestrator.topology import EdgeInfo, Topology

DEFAULT_MAX_ROUNDS = 3
DEFAULT_K = 4
DEFAULT_ATTEMPT_RATE = 1000.0  # attempts per second when a memory reports no frequency


# -- the formulas -------------------------------------------------------------------------


def werner_swap(f1: float, f2: float) -> float:
    """Fidelity after swapping two Werner pairs of fidelities f1 and f2."""
    return f1 * f2 + (1 - f1) * (1 - f2) / 3


def decohere(fidelity: float, wait_s: float, coherence_s: float) -> float:
    """Depolarising decay of a stored pair: F(t) = 1/4 + (F - 1/4) exp(-t/T)."""
    if coherence_s <= 0:
        return 0.25
    return 0.25 + (fidelity - 0.25) * math.exp(-wait_s / coherence_s)


def bbpssw_success(f: float) -> float:
    """Success probability of one BBPSSW round on two Werner pairs of fidelity f."""
    e = (1 - f) / 3
    return f * f + 2 * f * (1 - f) / 3 + 5 * e * e


def bbpssw_fidelity(f: float) -> float:
    """Fidelity of the kept pair after a successful BBPSSW round."""
    e = (1 - f) / 3
    return (f * f + e * e) / bbpssw_success(f)


def link_attempt_success(edge: EdgeInfo, efficiency_a: float, efficiency_b: float) -> float:
    """Per-attempt heralding probability of a meet-in-the-middle link."""
    half = 10 ** (-edge.loss_db / 20)
    return 0.5 * efficiency_a * half * efficiency_b * half


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


def _purify(f: float, req: PathRequirements, wait_s: float, coherence_s: float):
    """Rounds of BBPSSW needed to reach the target: (fidelity, rounds, success)."""
    rounds, success = 0, 1.0
    target = req.target_fidelity
    if target is None or not req.purification_allowed:
        return f, rounds, success
    while f < target and rounds < req.max_rounds and f > 0.5:
        p = bbpssw_success(f)
        better = decohere(bbpssw_fidelity(f), wait_s, coherence_s)
        if better <= f:
            break
        f, rounds, success = better, rounds + 1, success * p
    return f, rounds, success


def estimate_path(
    topo: Topology,
    nodes: tuple[str, ...] | list[str],
    req: PathRequirements,
    free_qubits: Mapping[str, int] | None = None,
) -> PathEstimate:
    """Estimate the QoS of one path and list the constraints of ``req`` it violates."""
    nodes = tuple(nodes)
    edges = _edges(topo, nodes)
    infos = [topo.nodes[n] for n in nodes]
    swaps = max(len(nodes) - 2, 0)
    link_f = [min(infos[i].raw_fidelity, infos[i + 1].raw_fidelity) for i in range(len(edges))]
    fidelity = link_f[0] if link_f else 1.0
    for i, lf in enumerate(link_f[1:], start=1):
        node = infos[i]
        fidelity = werner_swap(fidelity, lf) * node.swap_degradation
    classical_ms = sum(e.classical_latency_ms for e in edges)
    reliability = math.prod(e.classical_reliability for e in edges)
    coherence = min(n.coherence_time for n in infos)
    wait_s = classical_ms / 1000
    unpurified = decohere(fidelity, wait_s, coherence)
    final, rounds, purify_success = _purify(unpurified, req, wait_s, coherence)
    pair_cost = 2**rounds
    swap_success = math.prod(n.swap_success for n in infos[1:-1])
    success = swap_success * purify_success
    link_rates = []
    for e in edges:
        mem_a = _memory(topo, e.a, e.memory_a)
        mem_b = _memory(topo, e.b, e.memory_b)
        attempts = min(
            mem_a.frequency or DEFAULT_ATTEMPT_RATE, mem_b.frequency or DEFAULT_ATTEMPT_RATE
        )
        link_rates.append(attempts * link_attempt_success(e, mem_a.efficiency, mem_b.efficiency))
    slowest = min(link_rates) if link_rates else math.inf
    rate = slowest * success / pair_cost if slowest > 0 else 0.0
    gen_ms = 1000 / slowest if slowest > 0 else math.inf
    latency = gen_ms * pair_cost / max(success, 1e-12) + classical_ms * (1 + rounds)
    per_pair = req.memories_per_node * (2 if rounds else 1)
    qubits = {
        n: (per_pair if i in (0, len(nodes) - 1) else 2 * req.memories_per_node)
        for i, n in enumerate(nodes)
    }
    est = PathEstimate(
        nodes=nodes,
        swaps=swaps,
        fidelity=final,
        unpurified_fidelity=unpurified,
        purification_rounds=rounds,
        pair_cost=pair_cost,
        rate=rate,
        success_probability=success,
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
