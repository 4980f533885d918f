"""Explicit-path allocations: realise exactly the path the control plane chose.

SeQUeNCe's own ``reserve_net_resource`` runs RSVP along forwarding tables built by
shortest path, so it may pick another route, and per-destination forwarding entries
would clash for two allocations towards the same node over different paths. The QNDT
instead drives the resource managers itself: for every node of the chosen path it
generates SeQUeNCe's standard reservation rules (generation on each hop, swapping on
the intermediate nodes only, purification up to the target where allowed) with the
path, memories and window of the allocation, and loads/expires them at the window's
edges. Memory qubits are taken from the bank that each hop's quantum link names.

Why not SeQUeNCe 1.3.1's forwarding tables: RSVP messages are forwarded with
``ForwardingProtocol.push`` using ``forwarding_table[responder]`` at every hop, so
``update_forwarding_rule(dst, next_hop)`` on each path node would steer one request,
but the table is keyed by destination only (two live allocations towards the same node
over different paths would overwrite each other's entries while their RSVP messages
are in flight), RSVP needs ``now < start`` at every hop and rejects silently. Loading
the rules directly has none of these problems and takes effect at an exact time.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.network_management.reservation import Reservation

from .linkpurify import retarget

if TYPE_CHECKING:
    from sequence.resource_management.rule_manager import Rule

    from qnms.network.model import NetworkModel
    from qnms.network.pathmodel import PathOutcome

    from .build import Built


class AllocationError(ValueError):
    """The allocation cannot be realised; ``code`` goes into the error reply."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass
class Allocation:
    """One end-to-end allocation (the QNDT side of a set of QUIs along a path)."""

    id: str
    ident: int
    path: list[str]
    memories: int
    pairs: int
    target: float
    start_ps: int
    end_ps: int
    purification: bool
    max_swaps: int | None
    hold: bool
    state: str = "scheduled"
    # node -> neighbour -> fidelity a link pair must reach before a swap (linkpurify.py)
    link_thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    plan: PathOutcome | None = None  # rounds per link, expected rate (reach.py)
    reason: str | None = None  # why it failed (reach.py)
    good: int = 0  # delivered pairs that met the target
    watched: bool = False  # its watchdog runs (reach.arm)
    indices: dict[str, list[int]] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    reservation: Reservation | None = None
    delivered: int = 0
    halves: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    held: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    next_pair: int = 0
    # Per-pair samples, kept only with ``keep_samples`` (batch runs and tests read them);
    # a long-running service keeps just the aggregates below, or the lists would grow by
    # three floats per pair (~1,400 pairs/s on the default network) for as long as it runs.
    keep_samples: bool = True
    deliveries: list[float] = field(default_factory=list)  # sim s of each delivery
    latencies: list[float] = field(default_factory=list)  # per pair (messages.py)
    fidelities: list[float] = field(default_factory=list)
    first_delivery: float | None = None  # sim s
    last_delivery: float | None = None
    fidelity_sum: float = 0.0
    fidelity_min: float = math.inf
    fidelity_best: float = -math.inf
    latency_sum: float = 0.0
    swaps: dict[str, list[int]] = field(default_factory=dict)
    purifications: dict[str, list[int]] = field(default_factory=dict)
    lost: int = 0
    expired: int = 0

    def record_delivery(self, now_s: float, fidelity: float) -> float:
        """Book one delivered pair at ``now_s``; returns its per-pair latency (s)."""
        since = self.last_delivery if self.last_delivery is not None else self.start_ps * 1e-12
        latency = now_s - since
        self.delivered += 1
        if self.first_delivery is None:
            self.first_delivery = now_s
        self.last_delivery = now_s
        self.fidelity_min = min(self.fidelity_min, fidelity)
        self.fidelity_best = max(self.fidelity_best, fidelity)
        self.fidelity_sum += fidelity
        self.latency_sum += latency
        if self.keep_samples:
            self.fidelities.append(fidelity)
            self.deliveries.append(now_s)
            self.latencies.append(latency)
        self.good += int(fidelity >= self.target)
        return latency

    def count_swap(self, node: str, ok: bool) -> None:
        entry = self.swaps.setdefault(node, [0, 0])
        entry[0] += 1
        entry[1] += int(ok)

    def count_purification(self, node: str, remote: str, ok: bool) -> None:
        for n in (node, remote):
            entry = self.purifications.setdefault(n, [0, 0])
            entry[0] += 1
            entry[1] += int(ok)

    def summary(self) -> dict[str, Any]:
        """State of the allocation as reported in replies and results."""
        n = self.delivered
        first = self.first_delivery
        return {
            "allocation": self.id,
            "state": self.state,
            "reason": self.reason,
            "path": self.path,
            "delivered": self.delivered,
            "requested": self.pairs,
            "held": len(self.held),
            "lost": self.lost,
            "expired": self.expired,
            "mean-fidelity": self.fidelity_sum / n if n else None,
            "min-fidelity": self.fidelity_min if n else None,
            "mean-latency": self.latency_sum / n if n else None,
            "establishment-latency": first - self.start_ps * 1e-12 if first is not None else None,
            "last-delivery": self.last_delivery,
            "swaps": {n: {"attempted": a, "succeeded": s} for n, (a, s) in self.swaps.items()},
            "purifications": {
                n: {"attempted": a, "succeeded": s} for n, (a, s) in self.purifications.items()
            },
        }


def check_path(
    model: NetworkModel, path: list[str], down_channels: set[str]
) -> list[tuple[str, str]]:
    """Validate the path; returns (bank at upstream end, bank at downstream end) per hop."""
    if len(path) < 2 or len(set(path)) != len(path):
        raise AllocationError("bad-path", "a path names at least two distinct nodes")
    banks: list[tuple[str, str]] = []
    for a, b in itertools.pairwise(path):
        if a not in model.nodes or b not in model.nodes:
            raise AllocationError("unknown-node", f"unknown node in hop {a}-{b}")
        la, lb = model.nodes[a].link_to(b), model.nodes[b].link_to(a)
        if la is None or lb is None:
            raise AllocationError("no-link", f"no enabled quantum link {a}-{b}")
        banks.append((la.local_memory, lb.local_memory))
    return banks


def pick_memories(
    model: NetworkModel,
    built: Built,
    alloc: Allocation,
    hop_banks: list[tuple[str, str]],
    busy: dict[str, set[int]],
) -> None:
    """Choose the qubits per node: upstream hop's first, then downstream hop's."""
    m = alloc.memories
    for i, node in enumerate(alloc.path):
        needs: list[str] = []
        if i > 0:
            needs.append(hop_banks[i - 1][1])
        if i < len(alloc.path) - 1:
            needs.append(hop_banks[i][0])
        taken = busy.get(node, set())
        chosen: list[int] = []
        for bank in needs:
            free = [
                k for k in built.banks[node].indices(bank) if k not in taken and k not in chosen
            ]
            if len(free) < m:
                raise AllocationError(
                    "insufficient-memory", f"{node}/{bank}: {len(free)} free qubits, {m} needed"
                )
            chosen.extend(free[:m])
        alloc.indices[node] = chosen
    for node, chosen in alloc.indices.items():
        busy.setdefault(node, set()).update(chosen)


def install_rules(built: Built, alloc: Allocation, start_ps: int) -> None:
    """Generate SeQUeNCe's rules for every path node and schedule load / expire."""
    tl = built.tl
    sequence_target = alloc.target if alloc.purification else 0.0
    res = Reservation(
        alloc.path[0],
        alloc.path[-1],
        start_ps,
        alloc.end_ps,
        alloc.memories,
        sequence_target,
        max(1, alloc.pairs),
        alloc.ident,
    )
    res.set_path(list(alloc.path))
    alloc.reservation = res
    alloc.rules = {}
    alloc.events = []
    for index, name in enumerate(alloc.path):
        router = built.routers[name]
        rm = router.resource_manager
        rules = rm.rule_generator.create_rules(router, alloc.path, res, alloc.indices[name], index)
        if alloc.link_thresholds:
            retarget(rules, alloc.link_thresholds[name])
        for rule in rules:
            rule.set_reservation(res)
            load = Event(start_ps, Process(rm, "load", [rule]), tl.schedule_counter)
            tl.schedule(load)
            alloc.events.append(load)
        alloc.rules[name] = rules


def remove_rules(
    built: Built, alloc: Allocation, keep: AbstractSet[tuple[str, int]] = frozenset()
) -> None:
    """Expire the allocation's rules now everywhere: frees its qubits, drops its pairs.

    Qubits in ``keep`` (node, array index), i.e. delivered pairs still held for the
    application, are taken out of the rules first so that expiring them leaves those
    pairs stored.
    """
    for event in alloc.events:
        built.tl.remove_event(event)
    alloc.events = []
    for name, rules in alloc.rules.items():
        rm = built.routers[name].resource_manager
        for rule in rules:
            indices = rule.condition_args.get("memory_indices")
            if indices is not None and keep:
                rule.condition_args["memory_indices"] = [
                    k for k in indices if (name, k) not in keep
                ]
            if rule in rm.rule_manager.rules:
                rm.expire(rule)
    alloc.rules = {}
