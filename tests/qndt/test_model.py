"""The network model is read from the YANG instance data as the engine needs it."""

from __future__ import annotations

import pytest

from qnms.network.inventory import NetworkError
from qnms.network.model import as_model, classical_latencies
from qnms.qndt.build import sequence_config
from qnms.qndt.topologies import chain, mesh


def test_default_network_is_read_with_decimals_as_floats() -> None:
    model = as_model(None)
    assert len(model.nodes) >= 4
    for node in model.nodes.values():
        for bank in node.memories.values():
            assert isinstance(bank.raw_fidelity, float) and 0 < bank.raw_fidelity <= 1
            assert isinstance(bank.coherence_time_s, float)
    assert all(isinstance(c.length_km, float) for c in model.channels.values())
    assert model.hops()


def test_parameters_reach_the_sequence_configuration() -> None:
    data = chain(3, km=12.0, raw=0.91, coherence=0.7, efficiency=0.8, frequency=5000)
    model = as_model(data)
    config = sequence_config(model, seed=3)
    tpl = config["templates"]["tpl.r1"]
    assert tpl["MemoryArray"] == {
        "fidelity": 0.91,
        "efficiency": 0.8,
        "coherence_time": 0.7,
        "frequency": 5000.0,
    }
    q = config["qconnections"][0]
    assert q["distance"] == 12000.0 and q["attenuation"] == pytest.approx(0.0002)
    lat = {(c["node1"], c["node2"]): c["delay"] for c in config["cconnections"]}
    # 12 km at 5 us/km per hop; alice-bob is routed over two hops
    assert lat[("alice", "r1")] == round(0.06e9)
    assert lat[("alice", "bob")] == round(0.12e9)


@pytest.mark.slow
def test_classical_latency_is_routed() -> None:
    model = as_model(mesh(10, seed=2))
    lat = classical_latencies(model)
    assert all(v < float("inf") for v in lat.values())
    assert len(lat) == 100


def test_dangling_references_are_rejected() -> None:
    data = chain(2)
    node = data["qnms-network:network"]["node"][0]
    node["quantum-fabric"]["quantum-links"]["quantum-link"][0]["local-memory"] = "nope"
    with pytest.raises(NetworkError):
        as_model(data)
    with pytest.raises(NetworkError):
        as_model({"something": {}})
