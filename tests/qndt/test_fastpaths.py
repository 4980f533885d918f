"""The faster SeQUeNCe paths (qndt/fastpaths.py, fastket.py, fastheap.py) give SeQUeNCe's results.

Each replacement is compared with SeQUeNCe's own code: whole twin runs (every result
message and every executed event in order, both generation models, swaps and
purification), and each function on its own
(states bit for bit, measurement outcomes, random draws, expiry events, errors).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import networkx as nx
import numpy as np
import pytest
from sequence.components.bsm import BSM, _set_state_with_fidelity
from sequence.components.circuit import Circuit
from sequence.components.memory import Memory
from sequence.entanglement_management.swapping.swapping_circuit import (
    EntanglementSwappingA_Circuit,
)
from sequence.kernel.process import Process
from sequence.kernel.quantum_manager.ket_vector import QuantumManagerKet
from sequence.kernel.quantum_state.ket_vector import KetState
from sequence.kernel.timeline import Timeline
from sequence.network_management.reservation import Reservation
from sequence.utils import log

from qnms.qndt import build, fastpaths
from qnms.qndt.batch import shortest_path
from qnms.qndt.fastket import set_bell_state
from qnms.qndt.topologies import mesh

PATH = ["madqci-alice", "madqci-r1", "madqci-bob"]


@pytest.fixture
def original() -> Iterator[None]:
    """SeQUeNCe's own code for the test; the faster paths back afterwards."""
    fastpaths.uninstall()
    yield
    fastpaths.install()


def _run(make_engine: Any, tier: str, target: float, until: float, monkeypatch: Any) -> list[Any]:
    """Every result message, and every executed event: (time, owner, method), in order."""
    engine = make_engine(None, seed=5, tier=tier, telemetry_period=0.01)
    trace: list[tuple[int, str, str]] = []
    run = Process.run

    def traced(proc: Process) -> Any:
        owner = getattr(proc.owner, "name", type(proc.owner).__name__)
        trace.append((engine.tl.now(), owner, proc.activation))
        return run(proc)

    monkeypatch.setattr(Process, "run", traced)
    reply = engine.handle(
        {
            "type": "allocate",
            "allocation": "a",
            "path": PATH,
            "memories": 2,
            "target-fidelity": target,
            "duration": 1.0,
        }
    )
    assert reply["ok"], reply
    engine.run_until(until)
    monkeypatch.setattr(Process, "run", run)
    assert engine.allocations["a"].delivered > 0
    assert len(trace) == engine.tl.run_counter
    return [*engine.results, trace]


@pytest.mark.parametrize(
    ("tier", "target", "until"),
    [("link", 0.8, 0.1), ("link", 0.9, 0.1), ("full", 0.8, 0.01)],  # 0.9: link purification
)
def test_twin_runs_are_identical(
    make_engine: Any, monkeypatch: Any, tier: str, target: float, until: float
) -> None:
    fast = _run(make_engine, tier, target, until, monkeypatch)
    assert fastpaths.installed()
    fastpaths.uninstall()
    monkeypatch.setattr(build.fastpaths, "install", lambda: None)
    try:
        slow = _run(make_engine, tier, target, until, monkeypatch)
        assert not fastpaths.installed()
    finally:
        monkeypatch.undo()
        fastpaths.install()
    assert fast == slow


def _mesh_run(make_engine: Any, monkeypatch: Any) -> list[Any]:
    """Overlapping allocations on a mesh (up to 24 rules on a node), one started late, one
    released and its memories taken by a new one: rules loaded and expired mid-run."""
    engine = make_engine(
        mesh(16, degree=3, seed=2, size=24), seed=3, tier="link", telemetry_period=0.01
    )
    trace: list[tuple[int, str, str]] = []
    run = Process.run

    def traced(proc: Process) -> Any:
        trace.append((engine.tl.now(), getattr(proc.owner, "name", "?"), proc.activation))
        return run(proc)

    monkeypatch.setattr(Process, "run", traced)
    ends = [("n00", "n09", 0.0), ("n03", "n12", 0.02), ("n05", "n14", 0.0), ("n01", "n11", 0.0)]
    for i, (src, dst, start) in enumerate(ends):
        reply = engine.handle(
            {
                "type": "allocate",
                "allocation": f"a{i}",
                "path": shortest_path(engine.model, src, dst),
                "memories": 2,
                "target-fidelity": 0.7,
                "start": start,
                "duration": 1.0,
            }
        )
        assert reply["ok"], str(reply)
    engine.run_until(0.03)
    assert engine.handle({"type": "release", "allocation": "a0"})["ok"]
    reply = engine.handle(  # a0's freed memories, asked by rules loaded after theirs expired
        {"type": "allocate", "allocation": "a4", "path": ["n09", "n08", "n07", "n00"],
         "memories": 2, "target-fidelity": 0.7, "duration": 1.0}
    )  # fmt: skip
    assert reply["ok"], str(reply)
    engine.run_until(0.06)
    monkeypatch.setattr(Process, "run", run)
    assert all(a.delivered > 0 for a in engine.allocations.values())
    return [*engine.results, trace]


def test_mesh_runs_are_identical(make_engine: Any, monkeypatch: Any) -> None:
    fast = _mesh_run(make_engine, monkeypatch)
    fastpaths.uninstall()
    monkeypatch.setattr(build.fastpaths, "install", lambda: None)
    try:
        slow = _mesh_run(make_engine, monkeypatch)
    finally:
        monkeypatch.undo()
        fastpaths.install()
    assert fast == slow


def test_bell_state_draw_is_sequences(original: None) -> None:
    for seed in range(40):
        fidelity = 0.5 + seed / 80
        mine, theirs = QuantumManagerKet(), QuantumManagerKet()
        rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
        for qm in (mine, theirs):
            qm.new(), qm.new()
        set_bell_state([0, 1], fidelity, rng_a, mine)
        _set_state_with_fidelity([0, 1], BSM._phi_plus, fidelity, rng_b, theirs)
        assert np.array_equal(mine.states[0].state, theirs.states[0].state)
        assert mine.states[0] is mine.states[1] and mine.states[0].keys == [0, 1]
        assert rng_a.random() == rng_b.random()  # the same number of draws


def _swap_states(seed: int) -> QuantumManagerKet:
    rng = np.random.default_rng(seed)
    qm = QuantumManagerKet()
    for _ in range(4):
        qm.new()
    for keys in ([0, 1], [2, 3]):
        amps = rng.normal(size=4) + 1j * rng.normal(size=4)
        qm.set(keys, amps / np.linalg.norm(amps))
    return qm


def test_circuits_and_measurements_are_bit_identical() -> None:
    swap = EntanglementSwappingA_Circuit.circuit
    flip = Circuit(1)
    flip.x(0)
    flip.z(0)
    for seed in range(30):
        samp = (seed + 0.5) / 30
        fast, slow = _swap_states(seed), _swap_states(seed)
        res_fast = fast.run_circuit(swap, [1, 2], samp)
        fastpaths.uninstall()
        try:
            res_slow = slow.run_circuit(swap, [1, 2], samp)
            slow.run_circuit(flip, [0])
            slow.discard(0, samp)
        finally:
            fastpaths.install()
        fast.run_circuit(flip, [0])
        fast.discard(0, samp)
        assert res_fast == res_slow
        for key in range(4):
            assert fast.states[key].keys == slow.states[key].keys
            assert np.array_equal(fast.states[key].state, slow.states[key].state)


def test_ket_state_checks_are_sequences() -> None:
    assert np.array_equal(KetState([0, 1], [3]).state, [0, 1])
    with pytest.raises(ValueError, match="1D"):
        KetState([[1, 0]], [0])
    for bad in ([1.5, 0], [0.5, 0.5], [1, 0, 0], [1, 0, 0, 0]):
        with pytest.raises(AssertionError):
            KetState(bad, [0])


def test_expiry_moves_without_scanning_and_runs_once() -> None:
    tl = Timeline()
    mem = Memory("m", tl, 0.9, 2000, 1, 1e-6, 500)  # expires 1 us after its state is set
    tl.init()
    mem._schedule_expiration()  # due at coherence time x cutoff ratio, in the future
    expired: list[int] = []
    mem.expire = lambda: expired.append(tl.now())  # type: ignore[method-assign]
    first = mem.expiration_event
    assert first is not None and first.time > 0
    mem.update_expire_time(7_000_000)
    assert first.is_invalid() and mem.get_expire_time() == 7_000_000
    mem.update_expire_time(3_000_000)
    tl.stop_time = 10**15
    tl.run()
    assert expired == [3_000_000]


def test_log_strings_only_when_logging(original: None) -> None:
    res = Reservation("a", "b", 0, 10, 1, 0.9)
    full = str(res)
    fastpaths.install()
    assert str(res) == "<Reservation>"
    level = log.logger.level
    log.logger.setLevel(logging.INFO)
    try:
        assert str(res) == full
    finally:
        log.logger.setLevel(level)


def _tables(engine: Any) -> dict[str, dict[str, str]]:
    return {
        name: dict(router.network_manager.get_routing_protocol().forwarding_table)
        for name, router in engine.built.routers.items()
    }


def test_forwarding_tables_are_sequences(make_engine: Any, monkeypatch: Any) -> None:
    """One Dijkstra per source gives RouterNetTopo the same next hops as one per pair."""
    network = mesh(30, degree=3, seed=4)
    fast = _tables(make_engine(network, seed=1))
    fastpaths.uninstall()
    monkeypatch.setattr(build.fastpaths, "install", lambda: None)
    try:
        slow = _tables(make_engine(network, seed=1))
    finally:
        monkeypatch.undo()
        fastpaths.install()
    assert fast == slow
    assert all(len(table) == 29 for table in fast.values())


def test_dijkstra_path_matches_networkx_with_ties() -> None:
    """Equal-length alternatives (integer weights) resolve as networkx's own search does."""
    rng = random.Random(3)
    graph = nx.Graph()
    graph.add_nodes_from(range(40))  # 39 stays unconnected
    for _ in range(90):
        a, b = rng.sample(range(39), 2)
        graph.add_edge(a, b, weight=rng.choice([1, 2, 3]))
    for src in range(40):
        for dst in range(40):
            if src == dst:
                continue
            try:
                expected = nx.dijkstra_path(graph, src, dst)
            except nx.NetworkXNoPath:
                with pytest.raises(nx.NetworkXNoPath):
                    fastpaths.dijkstra_path(graph, src, dst)
                continue
            assert fastpaths.dijkstra_path(graph, src, dst) == expected
