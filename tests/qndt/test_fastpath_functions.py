"""The faster SeQUeNCe paths (qndt/fastpaths.py, fastcascade.py, fastket.py, fastheap.py)
give SeQUeNCe's results: each function on its own.

Each replacement is compared with SeQUeNCe's own code (states bit for bit, measurement
outcomes, random draws, expiry events, errors); whole twin runs are in
``test_fastpaths.py``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import networkx as nx
import numpy as np
import pytest
from sequence.components.bsm import BSM, _set_state_with_fidelity
from sequence.components.circuit import Circuit
from sequence.components.memory import Memory, MemoryArray
from sequence.entanglement_management.swapping.swapping_circuit import (
    EntanglementSwappingA_Circuit,
)
from sequence.kernel.quantum_manager.ket_vector import QuantumManagerKet
from sequence.kernel.quantum_state.ket_vector import KetState
from sequence.kernel.timeline import Timeline
from sequence.network_management.reservation import Reservation
from sequence.resource_management.memory_manager import MemoryManager
from sequence.utils import log

from qnms.qndt import fastcascade, fastket, fastpaths
from qnms.qndt.fastket import set_bell_state


@pytest.fixture
def original() -> Iterator[None]:
    """SeQUeNCe's own code for the test; the faster paths back afterwards."""
    fastpaths.uninstall()
    yield
    fastpaths.install()


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


def _bell_run(first: int, second: int, samp: float) -> tuple[dict[int, int], list[bytes]]:
    """Swap two Bell pairs (the twin's states), correct, discard: the results and every
    state's amplitudes, byte for byte."""
    qm = QuantumManagerKet()
    for _ in range(4):
        qm.new()
    qm.set([0, 1], BSM_STATES[first])
    qm.set([2, 3], BSM_STATES[second])
    res = qm.run_circuit(EntanglementSwappingA_Circuit.circuit, [1, 2], samp)
    qm.run_circuit(_FLIP, [3])
    qm.discard(0, 1 - samp)
    return res, [qm.states[key].state.tobytes() for key in range(4)]


BSM_STATES = [BSM._phi_plus, BSM._phi_minus, BSM._psi_plus, BSM._psi_minus]
_FLIP = Circuit(1)
_FLIP.x(0)
_FLIP.z(0)


def test_repeated_circuits_reuse_results_bit_for_bit() -> None:
    """The memo of fastket (a run repeats the same few states): a repeat gives SeQUeNCe's
    states byte for byte, from the memo, in arrays of its own."""
    cases = [(a, b, (s + 0.5) / 7) for a in range(4) for b in range(4) for s in range(7)]
    fastket._EVOLVED.clear()
    fastket._PREPARED.clear()
    first = [_bell_run(*case) for case in cases]
    memo = len(fastket._EVOLVED), len(fastket._PREPARED)
    again = [_bell_run(*case) for case in cases]
    assert (len(fastket._EVOLVED), len(fastket._PREPARED)) == memo  # all from the memo
    fastpaths.uninstall()
    try:
        theirs = [_bell_run(*case) for case in cases]
    finally:
        fastpaths.install()
    assert first == again == theirs
    qm = QuantumManagerKet()
    for _ in range(4):
        qm.new()
    qm.set([0, 1], BSM._phi_plus)
    qm.set([2, 3], BSM._psi_minus)
    qm.run_circuit(EntanglementSwappingA_Circuit.circuit, [1, 2], 2.5 / 7)
    for key in range(4):
        qm.states[key].state[:] = 0  # a state handed out is the holder's own
    assert _bell_run(0, 3, 2.5 / 7) == theirs[cases.index((0, 3, 2.5 / 7))]


def test_ket_state_checks_are_sequences() -> None:
    assert np.array_equal(KetState([0, 1], [3]).state, [0, 1])
    with pytest.raises(ValueError, match="1D"):
        KetState([[1, 0]], [0])
    for bad in ([1.5, 0], [0.5, 0.5], [1, 0, 0], [1, 0, 0, 0]):
        with pytest.raises(AssertionError):
            KetState(bad, [0])


def test_expiry_moves_without_scanning_and_runs_once() -> None:
    fastpaths.install()  # idempotent: the keyed heap for this timeline
    tl = Timeline()
    mem = Memory("m", tl, 0.9, 2000, 1, 1e-6, 500)  # expires 1 us after its state is set
    tl.init()
    mem._schedule_expiration()  # due at coherence time x cutoff ratio, in the future
    expired: list[int] = []
    mem.expire = lambda: expired.append(tl.now())  # type: ignore[method-assign]
    first = mem.expiration_event
    assert first is not None and first.time > 0
    mem.update_expire_time(7_000_000)
    # the memory's one expiry moved in place: a new heap entry, the old one stale
    assert mem.expiration_event is first and mem.get_expire_time() == 7_000_000
    assert [e.is_invalid() for e in sorted(tl.events, key=lambda e: e.time)] == [True, False]
    mem.update_expire_time(3_000_000)
    assert len(tl.events) == 3 and sum(not e.is_invalid() for e in tl.events) == 1
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


def _reset_outcome() -> tuple[Any, ...]:
    """Two memories in a Bell state, one reset: both states, the draw, the expiry."""
    tl = Timeline()
    a = Memory("a", tl, 0.9, 2000, 1, 1e-3, 500)
    b = Memory("b", tl, 0.9, 2000, 1, 1e-3, 500)
    tl.init()
    rng = np.random.default_rng(11)
    for memory in (a, b):
        memory.owner = SimpleNamespace(get_generator=lambda: rng)
    qm = tl.quantum_manager
    qm.set([a.qstate_key, b.qstate_key], [0, 2**-0.5, 2**-0.5, 0])  # |01> + |10>: a draw
    a._schedule_expiration()
    expiry = a.expiration_event
    assert expiry is not None
    a.fidelity = 0.9
    a.reset()
    sa, sb = qm.get(a.qstate_key), qm.get(b.qstate_key)
    assert sa is not sb and type(sa) is KetState and sa.truncation == 1
    return (
        sa.state.tolist(), sa.state.dtype, sa.keys, sb.state.tolist(), sb.keys,
        a.get_generator().random(), a.fidelity, a.entangled_memory, a.expiration_event,
        expiry.is_invalid(),
    )  # fmt: skip


def test_memory_reset_is_sequences(original: None) -> None:
    """The |0> made directly is SeQUeNCe's: same amplitudes and dtype, keys, random draw
    (the collapse of the partner), expiry removed; the ground array is not shared."""
    slow = _reset_outcome()
    fastpaths.install()
    fast = _reset_outcome()
    assert fast == slow
    assert fast[0] == [1, 0] and fast[3] in ([1, 0], [0, 1])
    tl = Timeline()
    m = Memory("m", tl, 0.9, 2000, 1, -1, 500)
    tl.init()
    m.reset()
    tl.quantum_manager.get(m.qstate_key).state[0] = 0  # a later in-place change ...
    m.reset()
    assert tl.quantum_manager.get(m.qstate_key).state.tolist() == [1, 0]  # ... is not shared


def test_memory_infos_and_state_updates() -> None:
    """One identity lookup gives the info SeQUeNCe's list.index gives; a memory of another
    array and an unknown state raise SeQUeNCe's errors; states change as SeQUeNCe's do."""
    tl = Timeline()
    array = MemoryArray("arr", tl, num_memories=4)
    other = MemoryArray("other", tl, num_memories=1)
    manager = MemoryManager(array)
    for i, memory in enumerate(array.memories):
        assert manager.get_info_by_memory(memory) is manager.memory_map[i]
        assert fastcascade.info_of(manager, memory).index == i
    with pytest.raises(ValueError):
        manager.get_info_by_memory(other.memories[0])
    memory = array.memories[2]
    memory.entangled_memory = {"node_id": "n", "memo_id": "n.m"}
    memory.fidelity = 0.93
    manager.update(memory, "ENTANGLED")
    info = manager.memory_map[2]
    assert (info.state, info.remote_memo, info.fidelity) == ("ENTANGLED", "n.m", 0.93)
    manager.update(memory, "OCCUPIED")
    with pytest.raises(AssertionError):
        manager.update(memory, "OCCUPIED")  # SeQUeNCe's to_occupied refuses it twice
    with pytest.raises(Exception, match="Unknown state 'BROKEN'"):
        manager.update(memory, "BROKEN")
    manager.update(memory, "RAW")
    assert (info.state, info.remote_memo, info.fidelity) == ("RAW", None, 0)
