"""The faster SeQUeNCe paths (qndt/fastpaths.py, fastcascade.py, fastket.py, fastheap.py)
give SeQUeNCe's results.

Each replacement is compared with SeQUeNCe's own code: whole twin runs (every result
message and every executed event in order, both generation models, swaps and
purification), and each function on its own
(states bit for bit, measurement outcomes, random draws, expiry events, errors).
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.kernel.quantum_manager.ket_vector import QuantumManagerKet
from sequence.kernel.quantum_state.ket_vector import KetState
from sequence.kernel.timeline import Timeline
from sequence.network_management.reservation import Reservation
from sequence.resource_management.memory_manager import MemoryManager
from sequence.utils import log

from qnms.qndt import build, fastcascade, fastheap, fastket, fastpaths
from qnms.qndt.batch import shortest_path
from qnms.qndt.fastket import set_bell_state
from qnms.qndt.topologies import chain, mesh

PATH = ["madqci-alice", "madqci-r1", "madqci-bob"]


@pytest.fixture
def original() -> Iterator[None]:
    """SeQUeNCe's own code for the test; the faster paths back afterwards."""
    fastpaths.uninstall()
    yield
    fastpaths.install()


@contextmanager
def _traced(engine: Any) -> Iterator[list[tuple[int, str, str]]]:
    """Every event the engine executes meanwhile: (time, owner, method), in order."""
    trace: list[tuple[int, str, str]] = []
    run = Process.run

    def traced(proc: Process) -> Any:
        owner = getattr(proc.owner, "name", type(proc.owner).__name__)
        trace.append((engine.tl.now(), owner, proc.activation))
        return run(proc)

    Process.run = traced  # type: ignore[method-assign]
    try:
        yield trace
    finally:
        Process.run = run  # type: ignore[method-assign]


def _run(make_engine: Any, tier: str, target: float, until: float) -> list[Any]:
    """Every result message, and every executed event: (time, owner, method), in order."""
    engine = make_engine(None, seed=5, tier=tier, telemetry_period=0.01)
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
    with _traced(engine) as trace:
        engine.run_until(until)
    assert engine.allocations["a"].delivered > 0
    assert len(trace) == engine.tl.run_counter
    return [*engine.results, trace]


def _as_sequence[T](monkeypatch: Any, run: Callable[[], T]) -> T:
    """``run()`` with SeQUeNCe's own code: the fast paths out, and engines built meanwhile
    not putting them back; restored afterwards."""
    fastpaths.uninstall()
    monkeypatch.setattr(build.fastpaths, "install", lambda: None)
    try:
        return run()
    finally:
        monkeypatch.undo()
        fastpaths.install()


@pytest.mark.parametrize(
    ("tier", "target", "until"),
    [("link", 0.8, 0.1), ("link", 0.9, 0.1), ("full", 0.8, 0.01)],  # 0.9: link purification
)
def test_twin_runs_are_identical(
    make_engine: Any, monkeypatch: Any, tier: str, target: float, until: float
) -> None:
    fast = _run(make_engine, tier, target, until)
    assert fastpaths.installed()
    slow, installed = _as_sequence(
        monkeypatch, lambda: (_run(make_engine, tier, target, until), fastpaths.installed())
    )
    assert not installed
    assert fast == slow


def _expiry_run(make_engine: Any, tier: str, until: float) -> list[Any]:
    """A 4-node chain whose memories expire after 2 ms, pairs held at the ends: stale
    expiry entries pop, held pairs and waiting link pairs expire, expiries move in swaps."""
    engine = make_engine(chain(4, coherence=0.002), seed=7, tier=tier, telemetry_period=0.002)
    for aid, hold in (("a", True), ("b", False)):
        reply = engine.handle(
            {"type": "allocate", "allocation": aid, "path": ["alice", "r1", "r2", "bob"],
             "memories": 2, "duration": 1.0, "hold": hold}
        )  # fmt: skip
        assert reply["ok"], reply
    with _traced(engine) as trace:
        engine.run_until(until)
    kinds = [m["type"] for _, m in engine.results]
    assert "pair-expired" in kinds and "memory-expired" in kinds, set(kinds)
    return [*engine.results, trace]


def _new_event_per_state(memory: Memory, time: int, counted: bool = True) -> Event:
    """The code before ``fastheap.expire_at``: a new Event and Process per state."""
    assert counted  # a move of a plain event takes fastpaths.update_expire_time's own path
    event = Event(time, Process(memory, "expire", []))
    memory.timeline.schedule(event)
    memory.expiration_event = event  # type: ignore[assignment]
    return event


@pytest.mark.parametrize(("tier", "until"), [("link", 0.03), ("full", 0.01)])
def test_runs_with_expiries_are_identical(
    make_engine: Any, monkeypatch: Any, tier: str, until: float
) -> None:
    """One expiry event per memory, rescheduled in place (fastheap.expire_at): the same
    run, event for event, as a new event per memory state, with stale entries popping,
    memories expiring and expiries tied at one instant (both ends of a swapped pair).

    Compared with the shims' new event per state, not with SeQUeNCe's own heap: the
    O(log n) expiry move (fastpaths.update_expire_time) leaves the moved event's old entry
    where SeQUeNCe sifts the event itself, so two live expiries due at one instant can pop
    in the other order than under SeQUeNCe (this run's 24th result, on main's code too).
    """
    fast = _expiry_run(make_engine, tier, until)
    monkeypatch.setattr(fastheap, "expire_at", _new_event_per_state)
    slow = _expiry_run(make_engine, tier, until)
    monkeypatch.undo()
    assert fast == slow


def _mesh_run(make_engine: Any) -> list[Any]:
    """Overlapping allocations on a mesh (up to 24 rules on a node), one started late, one
    released and its memories taken by a new one: rules loaded and expired mid-run."""
    engine = make_engine(
        mesh(16, degree=3, seed=2, size=24), seed=3, tier="link", telemetry_period=0.01
    )
    with _traced(engine) as trace:
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
    assert all(a.delivered > 0 for a in engine.allocations.values())
    return [*engine.results, trace]


def test_mesh_runs_are_identical(make_engine: Any, monkeypatch: Any) -> None:
    fast = _mesh_run(make_engine)
    slow = _as_sequence(monkeypatch, lambda: _mesh_run(make_engine))
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


def _tables(engine: Any) -> dict[str, dict[str, str]]:
    return {
        name: dict(router.network_manager.get_routing_protocol().forwarding_table)
        for name, router in engine.built.routers.items()
    }


def test_forwarding_tables_are_sequences(make_engine: Any, monkeypatch: Any) -> None:
    """One Dijkstra per source gives RouterNetTopo the same next hops as one per pair."""
    network = mesh(30, degree=3, seed=4)
    fast = _tables(make_engine(network, seed=1))
    slow = _as_sequence(monkeypatch, lambda: _tables(make_engine(network, seed=1)))
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


def _logged(make_engine: Any) -> list[str]:
    """Every message SeQUeNCe logs at DEBUG in a short run (object addresses masked)."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(re.sub(r"0x[0-9a-f]+", "0x", record.getMessage()))

    handler, level = Keep(), log.logger.level
    log.logger.addHandler(handler)
    log.logger.setLevel(logging.DEBUG)
    try:
        engine = make_engine(None, seed=5, tier="link", telemetry_period=0.01)
        request = {"type": "allocate", "allocation": "a", "path": PATH, "memories": 2,
                   "target-fidelity": 0.8, "duration": 1.0}  # fmt: skip
        assert engine.handle(request)["ok"]
        engine.run_until(0.005)
    finally:
        log.logger.removeHandler(handler)
        log.logger.setLevel(level)
    return messages


def test_cascade_logs_as_sequence_when_logging(make_engine: Any, monkeypatch: Any) -> None:
    """With SeQUeNCe's logger on, the lazily built messages are all there, as SeQUeNCe's."""
    fast = _logged(make_engine)
    slow = _as_sequence(monkeypatch, lambda: _logged(make_engine))
    assert fast == slow
    for text in ("update to ENTANGLED", "rule generates protocol", "Rule Manager send request"):
        assert any(text in m for m in fast), text
