"""The faster SeQUeNCe paths (qndt/fastpaths.py, fastcascade.py, fastket.py, fastheap.py)
give SeQUeNCe's results: whole twin runs.

Each replacement is compared with SeQUeNCe's own code in whole twin runs (every result
message and every executed event in order, both generation models, swaps and
purification, expiries, forwarding tables, log messages); each function on its own is
in ``test_fastpath_functions.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sequence.components.memory import Memory
from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.utils import log

from qnms.qndt import build, fastheap, fastpaths
from qnms.qndt.batch import shortest_path
from qnms.qndt.topologies import chain, mesh

PATH = ["madqci-alice", "madqci-r1", "madqci-bob"]


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
