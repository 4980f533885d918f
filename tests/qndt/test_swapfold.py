"""Swaps without the pairing round trip (qndt/swapfold.py): same instants, same losses.

The link tier does not send a swap's REQUEST / RESPONSE messages and delivers the swap's
outcomes by its own events; what the outcome carries and when it arrives must not
change: it reaches each end one classical delay after the swap, and an end that is down
when it would arrive loses it (SeQUeNCe drops messages to a router that is down), so the
pair is never delivered. Both models must agree on that.
"""

from __future__ import annotations

from typing import Any

import pytest

from qnms.qndt.topologies import chain

from .conftest import of_type, spy_sent

PATH = ["alice", "r1", "bob"]


def _engine(make_engine: Any, tier: str, down_at: float | None = None) -> Any:
    engine = make_engine(chain(3, km=10, size=2), seed=4, telemetry_period=None, tier=tier)
    reply = engine.handle(
        {"type": "allocate", "allocation": "s", "path": PATH, "memories": 1, "duration": 1.0}
    )
    assert reply["ok"], reply
    if down_at is not None:
        fault = {"type": "fault", "fault": "node-down", "node": "bob", "at": down_at}
        assert engine.handle(fault)["ok"]
    return engine


def _first(engine: Any, kind: str) -> float:
    t = 0.0
    while not of_type(engine, kind) and t < 0.5:
        t += 0.005
        engine.run_until(t)
    found = of_type(engine, kind)
    assert found, kind
    return float(found[0][1]["sim-time"])


@pytest.mark.parametrize("tier", ["link", "full"])
def test_outcome_arrives_one_delay_after_the_swap_and_is_lost_to_a_node_down(
    make_engine: Any, tier: str
) -> None:
    engine = _engine(make_engine, tier)
    swapped = _first(engine, "swap")
    delivered = _first(engine, "pair-delivered")
    delay = engine.built.routers["r1"].cchannels["bob"].delay * 1e-12
    assert delivered - swapped == pytest.approx(delay, abs=2e-12)  # equal fibres: both ends

    # bob's router drops messages while the outcome is in flight (SeQUeNCe's own "down",
    # without the fault's clean-up): the outcome never reaches bob, no pair
    lost = _engine(make_engine, tier)
    bob_router = lost.built.routers["bob"]
    lost.at(round((swapped + delay / 2) * 1e12), lambda: bob_router.set_down(True))
    lost.run_until(delivered + delay)
    assert of_type(lost, "swap")[0][1]["sim-time"] == pytest.approx(swapped)
    assert not of_type(lost, "pair-delivered")
    bob = bob_router.resource_manager.memory_manager
    assert all(info.remote_node != "alice" for info in bob)  # bob never learnt the swap
    alice = lost.built.routers["alice"].resource_manager.memory_manager
    assert any(info.remote_node == "bob" for info in alice)  # alice did

    # the node-down fault at the same instant: the pair is lost, none delivered
    faulted = _engine(make_engine, tier, down_at=swapped + delay / 2)
    faulted.run_until(delivered + delay)
    assert not of_type(faulted, "pair-delivered")
    assert of_type(faulted, "pairs-lost")

    # down just after the arrival: the pair was delivered
    kept = _engine(make_engine, tier, down_at=delivered + 1e-9)
    kept.run_until(delivered + delay)
    assert len(of_type(kept, "pair-delivered")) == 1


def test_swaps_send_no_pairing_messages_under_the_link_tier(make_engine: Any) -> None:
    """The swap's REQUESTs and RESPONSEs are not sent; its outcomes still are."""
    engine = make_engine(None, seed=3, telemetry_period=None, tier="link")
    kinds: dict[str, int] = {}

    def seen(msg: Any) -> None:
        func = getattr(msg, "req_condition_func", None)
        paired = str(getattr(msg, "paired_protocol", ""))
        kind = f"{msg.msg_type.name}:{getattr(func, '__name__', paired.split('.')[0])}"
        kinds[kind] = kinds.get(kind, 0) + 1

    spy_sent(engine, seen)
    path = ["madqci-alice", "madqci-r2", "quditto-r1", "quditto-r2", "quditto-dave"]
    assert engine.handle(
        {"type": "allocate", "allocation": "p", "path": path, "memories": 2, "duration": 1.0}
    )["ok"]
    engine.run_until(0.1)
    alloc = engine.allocations["p"]
    assert alloc.delivered >= 3
    swaps = sum(attempted for attempted, _ in alloc.swaps.values())
    assert swaps >= 3 * alloc.delivered  # three swaps per pair on four hops
    assert kinds.get("REQUEST:es_match_func", 0) == 0
    assert not any(k.startswith("RESPONSE:ESB") for k in kinds)
    assert kinds["SWAP_RES:"] == 2 * swaps  # one outcome to each end of every swap
