"""Fidelity targets: refused at once when unreachable, reached, or failed with a reason.

Issue 14 ("no silent stall"). An allocation with a target fidelity and purification
allowed is planned with the planner's own path model (network/pathmodel.py), fed with
what the network model says of the path:

* ``plan_allocation`` chooses, per link, the fewest rounds of elementary purification
  (0, 1 or 2 nested BBPSSW rounds, as the memories per hop allow) whose delivered
  fidelity, storage decay included, reaches the target; if none does, the allocation is
  refused before anything is allocated (``unreachable-target``) naming the best
  achievable fidelity. The rounds become per-link thresholds for the twin's rules
  (linkpurify.py): a pair of a link is purified until it is above the fidelity of the
  level below its last round;
* ``arm`` starts a watchdog when the allocation becomes active: if it has been active for
  ``WATCHDOG_FACTOR`` times the planned time per delivered pair (at least
  ``WATCHDOG_FLOOR_S``) without delivering a pair that meets its target, it fails
  (state ``failed``) with a reason naming the best fidelity it delivered, instead of
  staying active; time spent interrupted, or with every end memory holding a delivered
  pair not yet used, does not count;
* ``memory_degraded``: a memory-degraded fault changes the pairs of the links of that
  node; the allocations crossing it are planned again with the degraded memory, their
  thresholds updated in place (the rules hold the same dictionaries), or failed with the
  new best achievable fidelity when the target is now out of reach.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import TYPE_CHECKING

from qnms.network.pathmodel import LINK_MAX_ROUNDS, Hop, PathOutcome, plan_rounds
from qnms.network.physics import FIBRE_MS_PER_KM, bbpssw_fidelity, hop_cycle, pair_coherence

from .allocation import Allocation, AllocationError

if TYPE_CHECKING:
    from qnms.network.model import MemoryBank, NetworkModel

    from .view import EngineView

FRESH_MARGIN = 1e-9  # a threshold this far above a level's fidelity: purify that level
WATCHDOG_FACTOR = 20.0  # planned times per delivered pair without a pair at target
WATCHDOG_FLOOR_S = 0.25  # simulated seconds: a transient fault (a cut of ~0.1 s) is no stall
WATCHDOG_CHECKS = 4  # checks per bound (the bound is counted in active time only)
SECOND_PS = 10**12


def _banks(model: NetworkModel, a: str, b: str) -> tuple[MemoryBank, MemoryBank]:
    la, lb = model.nodes[a].link_to(b), model.nodes[b].link_to(a)
    assert la is not None and lb is not None  # allocation.check_path ran first
    return model.nodes[a].memories[la.local_memory], model.nodes[b].memories[lb.local_memory]


def _classical_ms(model: NetworkModel, a: str, b: str) -> float:
    """One-way classical delay of a hop: its classical-assist channel, else the fibre."""
    direct = [cc.latency_ms for cc in model.classical.values() if {cc.node_a, cc.node_b} == {a, b}]
    if direct:
        return min(direct)
    channel = model.channel_between(a, b)
    return channel.length_km * FIBRE_MS_PER_KM if channel else 0.0


def hops_of(model: NetworkModel, path: list[str]) -> list[Hop]:
    """The path model's view of each hop of ``path``, from the network model."""
    hops = []
    for a, b in itertools.pairwise(path):
        bank_a, bank_b = _banks(model, a, b)
        channel = model.channel_between(a, b)
        assert channel is not None
        ms = _classical_ms(model, a, b)
        p, mean, success_s = hop_cycle(
            (bank_a.efficiency, bank_b.efficiency),
            (model.nodes[a].detector_efficiency, model.nodes[b].detector_efficiency),
            channel.length_km,
            channel.attenuation_db_per_km,
            ms,
            min(bank_a.frequency_hz, bank_b.frequency_hz),
            a > b,  # the upstream end requests; the larger name is primary
        )
        fidelity = min(bank_a.raw_fidelity, bank_b.raw_fidelity)
        coherence = pair_coherence(bank_a.coherence_time_s, bank_b.coherence_time_s)
        hops.append(Hop((p, mean), fidelity, coherence, ms / 1000, success_s))
    return hops


def plan(
    model: NetworkModel, path: list[str], memories: int, target: float, purify: bool = True
) -> PathOutcome:
    """The rounds per link that reach ``target`` on ``path``; refuse if none do.

    ``purify`` False: no rounds, no refusal (what the path gives, for the watchdog)."""
    hops = hops_of(model, path)
    inner = [model.nodes[n] for n in path[1:-1]]
    banks = [bank for a, b in itertools.pairwise(path) for bank in _banks(model, a, b)]
    coherences = [bank.coherence_time_s for bank in banks if bank.coherence_time_s > 0]
    out = plan_rounds(
        hops,
        [n.swapping_degradation for n in inner],
        [n.swapping_success_probability for n in inner],
        memories,
        target,
        sum(h.classical_s for h in hops),
        min(coherences, default=-1.0),
        max_rounds=LINK_MAX_ROUNDS if purify else 0,
    )
    if purify and out.fidelity < target:
        raise AllocationError(
            "unreachable-target",
            f"target fidelity {target} is unreachable on {'-'.join(path)} with {memories} "
            f"memories per hop: best achievable {out.fidelity:.4f} (even with purification)",
        )
    return out


def thresholds(path: list[str], hops: list[Hop], out: PathOutcome) -> dict[str, dict[str, float]]:
    """Per node, per neighbour: the fidelity a link pair must reach before it is swapped.

    A link of ``r`` rounds purifies its pairs while they are below the fidelity of its
    level ``r - 1`` pairs (fresh ones for one round); 0 for a link that is not purified.
    """
    table: dict[str, dict[str, float]] = {}
    for (a, b), hop, rounds in zip(itertools.pairwise(path), hops, out.rounds, strict=True):
        limit = 0.0
        if rounds:
            level = hop.fidelity
            for _ in range(rounds - 1):
                level = bbpssw_fidelity(level, level)
            limit = level + FRESH_MARGIN
        table.setdefault(a, {})[b] = limit
        table.setdefault(b, {})[a] = limit
    return table


def plan_allocation(model: NetworkModel, alloc: Allocation) -> None:
    """Plan ``alloc`` (refused if unreachable) and set its link thresholds in place.

    Without purification the plan only sets the watchdog's bound: pairs below the target
    are delivered (flagged), and an allocation that never meets it fails in time."""
    if alloc.target <= 0:
        return
    out = plan(model, alloc.path, alloc.memories, alloc.target, alloc.purification)
    alloc.plan = out
    if not alloc.purification:
        return
    table = thresholds(alloc.path, hops_of(model, alloc.path), out)
    for node, limits in table.items():  # the rules hold these dictionaries: update them
        alloc.link_thresholds.setdefault(node, {}).update(limits)


# -- watchdog ----------------------------------------------------------------------------------


def watchdog_bound(alloc: Allocation) -> float:
    """Active simulated seconds without a pair at target after which ``alloc`` fails."""
    pair_s = alloc.plan.pair_time_s if alloc.plan is not None else 0.0
    return max(WATCHDOG_FLOOR_S, WATCHDOG_FACTOR * pair_s)


def fail(engine: EngineView, alloc: Allocation, reason: str) -> None:
    """End ``alloc`` as ``failed`` with ``reason`` (its held pairs are released)."""
    alloc.reason = reason
    engine.finish(alloc, "failed")


def arm(engine: EngineView, alloc: Allocation) -> None:
    """Watch an allocation with a target from its activation (see the module docstring)."""
    if alloc.target <= 0 or alloc.watched:
        return
    alloc.watched = True
    state = {"good": alloc.good, "starved": 0.0}

    def check() -> None:
        if alloc.state in ("completed", "expired", "released", "failed"):
            return
        bound = watchdog_bound(alloc)
        period = bound / WATCHDOG_CHECKS
        # not starving: a pair at target came, it is not running, or every end memory
        # holds a delivered pair the client has not used yet (nothing can be delivered)
        if (
            alloc.good > state["good"]
            or alloc.state != "active"
            or len(alloc.held) >= alloc.memories
        ):
            state["good"], state["starved"] = alloc.good, 0.0
        else:
            state["starved"] += period
        if state["starved"] >= bound - 1e-12:
            best = alloc.fidelity_best if alloc.delivered else None
            seen = f"best fidelity delivered {best:.4f}" if best is not None else "none delivered"
            pair_ms = 1000 * alloc.plan.pair_time_s if alloc.plan is not None else math.inf
            fail(
                engine,
                alloc,
                f"no pair at target fidelity {alloc.target} in {bound:.3f} s active (bound: "
                f"{WATCHDOG_FACTOR:g}x the planned {pair_ms:.2f} ms per pair, at least "
                f"{WATCHDOG_FLOOR_S:g} s): {seen}",
            )
            return
        engine.at(engine.tl.now() + round(period * SECOND_PS), check)

    engine.at(engine.tl.now() + round(watchdog_bound(alloc) / WATCHDOG_CHECKS * SECOND_PS), check)


# -- faults ------------------------------------------------------------------------------------


def memory_degraded(engine: EngineView, node: str, bank: MemoryBank) -> None:
    """Put the degraded ``bank`` of ``node`` into the engine's model; re-plan (or fail)
    the live allocations through ``node`` against it."""
    old = engine.model
    changed = dataclasses.replace(old.nodes[node], memories={**old.nodes[node].memories})
    changed.memories[bank.name] = bank
    engine.model = dataclasses.replace(old, nodes={**old.nodes, node: changed})
    for alloc in list(engine.allocations.values()):
        if node not in alloc.path or alloc.state not in ("scheduled", "active", "interrupted"):
            continue
        try:
            plan_allocation(engine.model, alloc)
        except AllocationError as err:
            fail(engine, alloc, f"after memory-degraded on {node}: {err}")
