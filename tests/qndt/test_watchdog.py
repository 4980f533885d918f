"""No silent stall at run time (qndt/reach.py): an allocation that delivers no pair at its
target for long fails with a reason, and a memory-degraded fault re-plans the link
purification of the allocations it touches, or fails them when the target is gone."""

from __future__ import annotations

from typing import Any

import pytest

from qnms.qndt.reach import WATCHDOG_CHECKS, WATCHDOG_FACTOR, WATCHDOG_FLOOR_S, watchdog_bound
from qnms.qndt.topologies import chain

from .conftest import of_type

CUT_AT = 0.01


def _allocate(engine: Any, path: list[str], target: float, memories: int) -> None:
    reply = engine.handle(
        {"type": "allocate", "allocation": "x", "path": path, "memories": memories,
         "target-fidelity": target, "duration": 1.0}
    )  # fmt: skip
    assert reply["ok"], reply


def _states(engine: Any) -> list[dict[str, Any]]:
    return [m for _, m in of_type(engine, "allocation-state")]


def test_an_allocation_that_delivers_nothing_at_target_fails_with_a_reason(
    make_engine: Any,
) -> None:
    engine = make_engine(chain(3), seed=1, telemetry_period=None)
    _allocate(engine, ["alice", "r1", "bob"], 0.85, 1)
    engine.handle({"type": "fault", "fault": "channel-cut", "channel": "f-alice-r1", "at": CUT_AT})
    engine.run_until(0.8)
    alloc = engine.allocations["x"]
    bound = watchdog_bound(alloc)
    assert alloc.plan is not None  # 20 x the planned time per pair, at least the floor
    assert bound == max(WATCHDOG_FLOOR_S, WATCHDOG_FACTOR * alloc.plan.pair_time_s)
    final = _states(engine)[-1]
    assert final["state"] == "failed" == alloc.state
    assert "no pair at target fidelity 0.85" in final["reason"]
    best = max(alloc.fidelities)
    assert best > 0.85 and f"best fidelity delivered {best:.4f}" in final["reason"]
    # failed once the bound of active time had passed since the last pair at target
    last = alloc.deliveries[-1]
    assert last + bound - bound / WATCHDOG_CHECKS <= final["sim-time"] <= last + 1.3 * bound
    assert not any(engine.busy.values())  # its memories are free


def test_an_allocation_that_delivers_keeps_running(make_engine: Any) -> None:
    engine = make_engine(chain(3), seed=1, telemetry_period=None)
    _allocate(engine, ["alice", "r1", "bob"], 0.85, 1)
    engine.run_until(0.8)
    assert engine.allocations["x"].state == "active"
    assert [m["state"] for m in _states(engine)] == ["active"]


LINK = chain(2, km=10, size=4, raw=0.95)  # 0.95 links; target 0.94 needs no purification


def _degrade(engine: Any, raw: float) -> None:
    engine.handle(
        {"type": "fault", "fault": "memory-degraded", "node": "bob", "memory": "mem0",
         "raw-fidelity": raw, "at": 0.05}
    )  # fmt: skip


def test_a_degraded_memory_makes_the_link_purify(make_engine: Any) -> None:
    """bob's memory falls to 0.92: one round per pair (0.944) keeps the target, where
    before the fault's fresh 0.92 pairs went through (flagged below the target)."""
    engine = make_engine(LINK, seed=1, telemetry_period=None)
    _allocate(engine, ["alice", "bob"], 0.94, 2)
    alloc = engine.allocations["x"]
    assert alloc.plan.rounds == (0,) and alloc.link_thresholds["alice"]["bob"] == 0.0
    _degrade(engine, 0.92)
    engine.run_until(0.3)
    assert alloc.state == "active" and alloc.plan.rounds == (1,)
    assert alloc.link_thresholds["bob"]["alice"] > 0.92  # the rules hold this dictionary
    after = [m for _, m in of_type(engine, "pair-delivered") if m["sim-time"] > 0.052]
    assert len(after) >= 20 and all(m["fidelity"] > 0.935 for m in after)
    assert sum(m["fidelity"] for m in after) / len(after) >= 0.94
    purified = [m for _, m in of_type(engine, "purification") if m["success"]]
    assert purified and min(m["sim-time"] for m in purified) > 0.05


def test_a_degraded_memory_that_puts_the_target_out_of_reach_fails_it(make_engine: Any) -> None:
    engine = make_engine(LINK, seed=1, telemetry_period=None)
    _allocate(engine, ["alice", "bob"], 0.94, 2)
    _degrade(engine, 0.8)  # one round (all two memories allow): ~0.85
    engine.run_until(0.1)
    final = _states(engine)[-1]
    assert final["state"] == "failed" and final["sim-time"] == pytest.approx(0.05)
    assert "after memory-degraded on bob" in final["reason"]
    assert "best achievable 0.8" in final["reason"]
    assert not any(engine.busy.values())


def test_without_purification_a_target_never_met_fails_too(make_engine: Any) -> None:
    """Purification off: pairs below the target are delivered (flagged), and once they
    have been all there is for the bound, the allocation fails instead of running on."""
    engine = make_engine(chain(3), seed=1, telemetry_period=None)
    reply = engine.handle(
        {"type": "allocate", "allocation": "x", "path": ["alice", "r1", "bob"],
         "target-fidelity": 0.95, "purification": False, "duration": 1.0}
    )  # fmt: skip
    assert reply["ok"]
    engine.run_until(0.8)
    alloc = engine.allocations["x"]
    assert alloc.state == "failed" and alloc.delivered > 5 and alloc.good == 0
    assert alloc.plan is not None and alloc.plan.rounds == (0, 0)
    assert f"best fidelity delivered {max(alloc.fidelities):.4f}" in alloc.reason


def test_held_pairs_waiting_for_the_client_are_no_stall(make_engine: Any) -> None:
    """hold: the end memories keep delivered pairs until consumed; while all of them do,
    nothing can be delivered, and the watchdog does not count that time."""
    engine = make_engine(chain(3), seed=1, telemetry_period=None)
    reply = engine.handle(
        {"type": "allocate", "allocation": "x", "path": ["alice", "r1", "bob"],
         "target-fidelity": 0.85, "hold": True, "duration": 2.0}
    )  # fmt: skip
    assert reply["ok"]
    engine.run_until(1.0)
    alloc = engine.allocations["x"]
    assert alloc.state == "active" and alloc.delivered == 1 and len(alloc.held) == 1
    assert engine.handle({"type": "consume", "allocation": "x"})["ok"]
    engine.run_until(1.1)
    assert alloc.state == "active" and alloc.delivered >= 2


def test_a_service_engine_keeps_aggregates_not_samples_and_reports_the_same(
    make_engine: Any,
) -> None:
    """``qnms qndt serve`` runs for days: its allocations keep no per-pair lists (three
    floats per pair, without bound), yet replies and the watchdog's reason are the same."""
    finals = []
    for keep in (True, False):
        engine = make_engine(chain(3), seed=1, telemetry_period=None, keep_samples=keep)
        _allocate(engine, ["alice", "r1", "bob"], 0.85, 1)
        engine.handle(
            {"type": "fault", "fault": "channel-cut", "channel": "f-alice-r1", "at": CUT_AT}
        )
        engine.run_until(0.8)
        alloc = engine.allocations["x"]
        assert alloc.delivered >= 3
        assert bool(alloc.fidelities) is keep and bool(alloc.deliveries) is keep
        finals.append(_states(engine)[-1])
    sampled, aggregated = finals
    assert aggregated["reason"] == sampled["reason"]
    for key in ("mean-fidelity", "mean-latency"):
        assert aggregated[key] == pytest.approx(sampled[key], rel=1e-12)
    for key in ("delivered", "min-fidelity", "establishment-latency", "last-delivery", "state"):
        assert aggregated[key] == sampled[key]
