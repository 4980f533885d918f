"""Path estimates against the formulas they claim (seed 5.3.4; STACK-NOTES references)."""

from __future__ import annotations

import math

import pytest

from qnms.network.physics import (
    bbpssw_fidelity,
    bbpssw_success,
    detection_probability,
    model_link_cycle,
    parallel_links_time,
    success_cycle_s,
    werner_swap,
)
from qnms.network.physics import werner_decay as decohere
from qnms.orchestrator.paths import (
    PathRequirements,
    Violation,
    candidate_paths,
    estimate_path,
)
from qnms.orchestrator.topology import EdgeInfo, MemoryInfo, NodeInfo, Topology


def chain(n: int, fidelity: float = 0.95, coherence: float = 1.0, km: float = 10) -> Topology:
    """A chain n0 - n1 - ... with identical nodes and 0.1 ms classical hops."""
    topo = Topology()
    for i in range(n):
        mem = MemoryInfo("mem0", 10, coherence, fidelity, 0.9, 2000)
        topo.nodes[f"n{i}"] = NodeInfo(f"n{i}", "d", "repeater", (mem,), 0.9, 1.0)
    for i in range(n - 1):
        a, b = f"n{i}", f"n{i + 1}"
        topo.edges[frozenset((a, b))] = EdgeInfo(
            a, b, f"l{i}", "mem0", "mem0", length_km=km, classical_latency_ms=0.1
        )
    return topo


def test_werner_swap_and_purification_follow_the_textbook_formulas() -> None:
    assert werner_swap(0.9, 0.8) == pytest.approx(0.72 + 0.1 * 0.2 / 3)
    assert werner_swap(1.0, 0.7) == pytest.approx(0.7)
    f = 0.9
    assert bbpssw_success(f) == pytest.approx(f**2 + 2 * f * (1 - f) / 3 + 5 * ((1 - f) / 3) ** 2)
    assert bbpssw_fidelity(f) == pytest.approx((f**2 + ((1 - f) / 3) ** 2) / bbpssw_success(f))
    assert bbpssw_fidelity(f) > f


def test_decoherence_tends_to_the_fully_mixed_state() -> None:
    assert decohere(0.9, 0.0, 1.0) == pytest.approx(0.9)
    assert decohere(0.9, 1.0, 1.0) == pytest.approx(0.25 + 0.65 * math.exp(-1))
    assert decohere(0.9, 1e6, 1.0) == pytest.approx(0.25)


def test_a_three_node_estimate_is_one_swap_storage_then_the_wait_for_classical_messages() -> None:
    topo = chain(3, fidelity=0.95, coherence=1.0)
    est = estimate_path(topo, ["n0", "n1", "n2"], PathRequirements())
    eta = detection_probability(0.9, 10, 0.2)
    p, tau = model_link_cycle(eta, eta, 0.1, 10, 2000, initiator_primary=False)
    # a link's first pair: one successful cycle (both rounds) after failed ones
    success = success_cycle_s(0.1, 10, 2000, initiator_primary=False)
    failed = (tau - p * success) / (1 - p)
    both = parallel_links_time([(p, failed)] * 2, firsts=[success] * 2)  # both links hold one
    assert both < parallel_links_time([(p, tau)] * 2)  # than with cycles of the mean length
    assert tau / p < both < 2 * tau / p
    stored = 2 * (both - tau / p)  # each link's pair waits, on average, for the other
    expected = decohere(decohere(werner_swap(0.95, 0.95), stored, 1.0), 0.0002, 1.0)
    assert est.swaps == 1
    assert est.fidelity == pytest.approx(expected)
    assert est.rate == pytest.approx(0.9 / (both + 0.0002))
    assert est.success_probability == pytest.approx(0.9)
    assert est.qubits == {"n0": 1, "n1": 2, "n2": 1}
    assert est.loss_db == pytest.approx(4.0)
    assert 0 < est.rate < 2000


def test_purification_rounds_are_added_until_the_target_is_met_and_cost_pairs() -> None:
    topo = chain(3)
    plain = estimate_path(topo, ["n0", "n1", "n2"], PathRequirements())
    req = PathRequirements(target_fidelity=plain.fidelity + 0.02)
    est = estimate_path(topo, ["n0", "n1", "n2"], req)
    assert est.purification_rounds >= 1
    assert est.pair_cost == 2**est.purification_rounds
    assert est.fidelity >= req.target_fidelity
    assert est.rate < plain.rate
    no_purify = PathRequirements(target_fidelity=req.target_fidelity, purification_allowed=False)
    assert estimate_path(topo, ["n0", "n1", "n2"], no_purify).violations == (Violation.FIDELITY,)


def test_constraints_are_reported_as_violations() -> None:
    topo = chain(4)
    req = PathRequirements(swapping_depth_cap=1, max_classical_ms=0.25, allowed_domains={"x"})
    est = estimate_path(topo, ["n0", "n1", "n2", "n3"], req, free_qubits={"n1": 1})
    assert est.first_violation == Violation.DEPTH
    assert set(est.violations) >= {
        Violation.DEPTH,
        Violation.CLASSICAL,
        Violation.DOMAIN,
        Violation.MEMORY,
    }


def test_candidate_paths_put_feasible_paths_first() -> None:
    topo = chain(3)
    topo.edges[frozenset(("n0", "n2"))] = EdgeInfo(
        "n0", "n2", "direct", "mem0", "mem0", length_km=50
    )
    paths = candidate_paths(topo, "n0", "n2", PathRequirements(swapping_depth_cap=0))
    assert [p.nodes for p in paths] == [("n0", "n2"), ("n0", "n1", "n2")]
    assert paths[0].feasible and not paths[1].feasible
