"""Detector efficiency: a node capability (QFS YANG) that reaches both tiers and the planner.

Each node contributes one detector to the heralding station in the middle of each of its
links; a photon reaches either detector with probability 1/2, so a link detects with the
mean of its two ends' ``detector-efficiency``. Lowering it on one node must lower what the
twin measures on its links and what the planner estimates, by the same factor.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.planner import topology_of

from qnms.network.inventory import network_schema, validate_network
from qnms.network.model import as_model
from qnms.orchestrator.discovery import QFS, AgentFacts, build_topology
from qnms.orchestrator.paths import PathRequirements, estimate_path
from qnms.orchestrator.southbound import AgentAddress
from qnms.qndt import linktier
from qnms.qndt.topologies import chain
from qnms.yang.codec import json_to_xml

LOW = 0.4  # bob's detector: the link detects with (1 + 0.4) / 2 = 0.7
BASE = chain(2, km=10, size=1)


def with_detector(data: dict[str, Any], node: str, efficiency: str) -> dict[str, Any]:
    """A copy of network ``data`` where ``node`` has the given ``detector-efficiency``."""
    data = copy.deepcopy(data)
    for entry in data["qnms-network:network"]["node"]:
        if entry["name"] == node:
            entry["quantum-fabric"]["node"]["capabilities"]["detector-efficiency"] = efficiency
    return data


LOWER = with_detector(BASE, "bob", str(LOW))


def test_the_leaf_defaults_to_ideal_detectors_and_is_read_per_node() -> None:
    assert {n.detector_efficiency for n in as_model(BASE).nodes.values()} == {1.0}
    assert {n.detector_efficiency for n in as_model(None).nodes.values()} == {1.0}
    model = as_model(LOWER)
    assert (model.nodes["alice"].detector_efficiency, model.nodes["bob"].detector_efficiency) == (
        1.0,
        LOW,
    )


def test_discovery_reads_the_leaf_from_a_qfs_agents_data() -> None:
    """The planner learns the value from the QFS agent's data (the node's subtree of the
    network file, as the agent serves it), not from the file."""
    served = json_to_xml(validate_network(LOWER).qfs_data("bob"), network_schema())
    facts = AgentFacts(AgentAddress("qfs", "bob", "127.0.0.1", 830), [], [], served.find(
        f"{{{QFS}}}quantum-fabric"))  # fmt: skip
    assert build_topology([facts]).nodes["bob"].detector_efficiency == LOW


@pytest.mark.parametrize("tier", ["full", "link"])
def test_each_link_station_has_one_detector_of_each_end(make_engine: Any, tier: str) -> None:
    """The full tier's SeQUeNCe detectors carry the nodes' values; the link tier reads
    the same detectors back, so both tiers detect with the mean."""
    engine = make_engine(LOWER, seed=1, telemetry_period=None, tier=tier)
    bsm_node = engine.built.bsms[("alice", "bob")]
    bsm = next(iter(bsm_node.components.values()))
    assert [d.efficiency for d in bsm.detectors] == [1.0, LOW]
    assert linktier.detector_efficiency(bsm_node) == pytest.approx((1 + LOW) / 2)


def _measured_rate(make_engine: Any, network: dict[str, Any], tier: str, seconds: float) -> float:
    engine = make_engine(network, seed=3, telemetry_period=None, tier=tier)
    reply = engine.handle(
        {"type": "allocate", "allocation": "d", "path": ["alice", "bob"], "memories": 1,
         "duration": seconds + 1.0}
    )  # fmt: skip
    assert reply["ok"], reply
    engine.run_until(seconds)
    delivered = engine.allocations["d"].delivered
    assert delivered >= 150, (tier, delivered)  # hundreds of pairs, not a handful
    return delivered / seconds


def _planner_rate(network: dict[str, Any]) -> float:
    est = estimate_path(topology_of(as_model(network)), ["alice", "bob"], PathRequirements())
    return est.rate


def _check_same_factor(measured: float, measured_low: float) -> None:
    planned, planned_low = _planner_rate(BASE), _planner_rate(LOWER)
    # the planner's factor is the link physics' own: fewer clicks, fewer heralded cycles
    assert planned_low < 0.6 * planned
    assert measured_low < 0.7 * measured  # far outside the sampling noise (~5%)
    assert measured_low / measured == pytest.approx(planned_low / planned, rel=0.10)
    assert measured_low == pytest.approx(planned_low, rel=0.10)


def test_lower_detector_efficiency_lowers_link_rate_and_planner_estimate_alike(
    make_engine: Any,
) -> None:
    """Link tier, ~1000 and ~500 pairs: the measured rate falls by the planner's factor."""
    seconds = 3.0
    measured = _measured_rate(make_engine, BASE, "link", seconds)
    measured_low = _measured_rate(make_engine, LOWER, "link", seconds)
    _check_same_factor(measured, measured_low)


@pytest.mark.slow
def test_full_tier_detectors_lower_the_rate_by_the_same_factor(make_engine: Any) -> None:
    """Every photon simulated: SeQUeNCe's own detectors drop the clicks (~1100 and ~550
    pairs, ~15 s of CPU)."""
    seconds = 3.0
    measured = _measured_rate(make_engine, BASE, "full", seconds)
    measured_low = _measured_rate(make_engine, LOWER, "full", seconds)
    _check_same_factor(measured, measured_low)
