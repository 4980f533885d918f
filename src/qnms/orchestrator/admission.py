"""Admission control (seed 5.4 step 1): may this unit be served, and on which paths?

Checks, in order: the endpoints are registered applications' endpoints and reachable
through an SS agent; the originator's application may request this service type; its
token bucket has a token; the network has a path meeting the QoS objectives (seed
5.3.4) with the memory qubits still free. The capacity ledger counts memory qubits per
node and memory bank, already held by allocations found on the agents or promised to
admitted units, so an admitted unit keeps its guarantees: no over-subscription.

A refusal is a typed value (``Refusal``) carrying what the northbound needs to answer
the edit with a precise rpc-error: error-tag, error-app-tag naming the reason, and the
error-path of the field at fault (RFC 6241 4.3).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from qnms.orchestrator.intent import PATH_NS, Application, ServiceIntent, unit_path
from qnms.orchestrator.paths import PathEstimate, Violation, candidate_paths, closest_miss
from qnms.orchestrator.topology import Topology
from qnms.yang.errors import ErrorTag, RpcError


@dataclass(frozen=True)
class Refusal(Exception):
    """Why a unit is not admitted, shaped as the rpc-error that reports it."""

    app_tag: str
    message: str
    unit: str
    field: str = ""  # path below the unit, e.g. "qos/target-fidelity"
    tag: ErrorTag = ErrorTag.OPERATION_FAILED

    def __str__(self) -> str:
        return self.message

    def to_rpc_error(self) -> RpcError:
        return RpcError(
            self.tag,
            self.message,
            path=unit_path(self.unit, self.field),
            path_ns=dict(PATH_NS),
            app_tag=self.app_tag,
        )


@dataclass
class TokenBucket:
    """Admissions per second an application may make (rate) with bursts up to ``burst``."""

    rate: float
    burst: int
    level: float
    stamp: float

    def available(self, now: float) -> float:
        return min(self.burst, self.level + (now - self.stamp) * self.rate)

    def take(self, now: float) -> None:
        self.level, self.stamp = self.available(now) - 1, now


@dataclass(frozen=True)
class Handle:
    """One memory qubit on one node."""

    node: str
    memory: str
    index: int


@dataclass
class CapacityLedger:
    """Memory qubits per (node, memory bank): size, and who holds which index."""

    sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    foreign: dict[tuple[str, str], set[int]] = field(default_factory=dict)  # found on agents
    held: dict[str, list[Handle]] = field(default_factory=dict)  # by service unit

    @classmethod
    def from_topology(cls, topo: Topology) -> CapacityLedger:
        sizes = {(n.name, m.name): m.size for n in topo.nodes.values() for m in n.memories}
        return cls(sizes, {k: set(v) for k, v in topo.held.items()})

    def _taken(self, key: tuple[str, str]) -> set[int]:
        taken = set(self.foreign.get(key, ()))
        for handles in self.held.values():
            taken.update(h.index for h in handles if (h.node, h.memory) == key)
        return taken

    def free(self, node: str) -> int:
        return sum(size - len(self._taken(k)) for k, size in self.sizes.items() if k[0] == node)

    def free_by_node(self) -> dict[str, int]:
        return {node: self.free(node) for node, _ in self.sizes}

    def reserve(
        self, unit: str, needs: Mapping[str, int], memory_of: Callable[[str], str]
    ) -> list[Handle]:
        """Take ``needs[node]`` qubits on each node (from the bank its link uses)."""
        got: list[Handle] = []
        for node, count in needs.items():
            memory = memory_of(node)
            key = (node, memory)
            taken = self._taken(key)
            free = [i for i in range(self.sizes.get(key, 0)) if i not in taken]
            if len(free) < count:
                raise ValueError(f"{node}/{memory}: {len(free)} qubits free, {count} needed")
            got += [Handle(node, memory, i) for i in free[:count]]
        self.held.setdefault(unit, []).extend(got)
        return got

    def release(self, unit: str) -> None:
        self.held.pop(unit, None)

    def restore(self, unit: str, handles: list[Handle]) -> None:
        """Re-hold what a unit had before a restart (read from the store)."""
        self.held[unit] = list(handles)
        for h in handles:
            self.foreign.get((h.node, h.memory), set()).discard(h.index)


@dataclass(frozen=True)
class Admission:
    """An admitted unit: its application and the feasible paths, best first."""

    intent: ServiceIntent
    application: Application
    nodes: tuple[str, str]
    paths: tuple[PathEstimate, ...]


def admit(
    intent: ServiceIntent,
    applications: Mapping[str, Application],
    topology: Topology,
    ledger: CapacityLedger,
    buckets: Mapping[str, TokenBucket],
    now: float | None = None,
) -> Admission:
    """Decide; raise ``Refusal`` with the first reason found. Changes nothing."""
    app, (a, b) = admit_request(intent, applications, topology, buckets, now)
    estimates = candidate_paths(topology, a, b, intent.requirements, ledger.free_by_node())
    feasible = tuple(e for e in estimates if e.feasible)
    if not feasible:
        raise _no_path(intent, a, b, estimates)
    return Admission(intent, app, (a, b), feasible)


def admit_request(
    intent: ServiceIntent,
    applications: Mapping[str, Application],
    topology: Topology,
    buckets: Mapping[str, TokenBucket],
    now: float | None = None,
) -> tuple[Application, tuple[str, str]]:
    """The checks every service type shares (endpoints, application, service type,
    validity, the application's token bucket): the originator's application and the
    two endpoint nodes, or ``Refusal``. Changes nothing."""
    now = time.time() if now is None else now
    name = intent.name
    for urn in intent.endpoints:
        if urn not in applications:
            raise Refusal(
                "unknown-endpoint",
                f"endpoint {urn!r} is not the endpoint of any registered application",
                name,
                f"endpoint[urn='{urn}']/urn",
                ErrorTag.INVALID_VALUE,
            )
        if topology.endpoint_node(urn) is None:
            raise Refusal(
                "endpoint-unreachable",
                f"no service-stratum agent serves endpoint {urn!r}",
                name,
                f"endpoint[urn='{urn}']/urn",
            )
    if len(intent.endpoints) != 2:
        raise Refusal(
            "multipartite-not-supported",
            f"{len(intent.endpoints)} endpoints: only bipartite service units are provisioned",
            name,
            "endpoint",
            ErrorTag.INVALID_VALUE,
        )
    app = applications[intent.originator]
    check_request(intent, app, now)
    bucket = buckets.get(app.name)
    if bucket is not None and bucket.available(now) < 1:
        raise Refusal(
            "token-bucket-exhausted",
            f"application {app.name!r} exceeded its rate of {app.rate:g} service units/s",
            name,
        )
    a, b = (topology.endpoint_node(u) or "" for u in intent.endpoints)
    return app, (a, b)


def check_request(intent: ServiceIntent, app: Application, now: float) -> None:
    """What the originator's application and the lifecycle allow, whatever the network:
    raise ``Refusal`` (service type, lifetime). Also the parent orchestrator's."""
    if intent.service_type not in app.allowed_service_types:
        allowed = ", ".join(sorted(app.allowed_service_types)) or "none"
        raise Refusal(
            "service-type-not-allowed",
            f"application {app.name!r} may not request {intent.service_type} (allowed: {allowed})",
            intent.name,
            "service-type",
            ErrorTag.INVALID_VALUE,
        )
    if intent.valid_until <= now:
        raise Refusal(
            "already-expired",
            f"valid-until {intent.valid_until} is in the past",
            intent.name,
            "lifecycle/valid-until",
            ErrorTag.INVALID_VALUE,
        )


_FIELDS = {
    Violation.DEPTH: ("qos/swapping-depth-cap", ErrorTag.INVALID_VALUE),
    Violation.DOMAIN: ("qos/constraints/allowed-domain", ErrorTag.INVALID_VALUE),
    Violation.TECHNOLOGY: ("qos/constraints/allowed-technology", ErrorTag.INVALID_VALUE),
    Violation.COHERENCE: ("qos/memory-constraints/min-coherence-time", ErrorTag.INVALID_VALUE),
    Violation.CLASSICAL: ("qos/classical-assist/max-latency", ErrorTag.INVALID_VALUE),
    Violation.RELIABILITY: ("qos/classical-assist/min-reliability", ErrorTag.INVALID_VALUE),
    Violation.MEMORY: ("qos/memory-constraints/memories-per-node", ErrorTag.OPERATION_FAILED),
    Violation.FIDELITY: ("qos/target-fidelity", ErrorTag.INVALID_VALUE),
    Violation.SUCCESS: ("qos/success-probability", ErrorTag.INVALID_VALUE),
    Violation.RATE: ("qos/generation-rate", ErrorTag.INVALID_VALUE),
    Violation.LATENCY: ("qos/establishment-latency", ErrorTag.INVALID_VALUE),
}


def _no_path(intent: ServiceIntent, a: str, b: str, estimates: list[PathEstimate]) -> Refusal:
    best = closest_miss(estimates)
    if best is None or best.first_violation is None:
        return Refusal("no-path", f"no quantum path between {a} and {b}", intent.name)
    why = best.first_violation
    field_, tag = _FIELDS[why]
    req = intent.requirements
    detail = {
        Violation.DEPTH: f"the shortest path {'-'.join(best.nodes)} needs "
        f"{min(e.swaps for e in estimates)} swap(s), above the cap of {req.swapping_depth_cap}",
        Violation.FIDELITY: f"target fidelity {req.target_fidelity} cannot be reached: "
        f"best achievable {best.fidelity:.6f} on {'-'.join(best.nodes)} "
        f"({best.purification_rounds} purification round(s))",
        Violation.MEMORY: f"not enough free memory qubits on {'-'.join(best.nodes)}",
    }.get(why, f"no path meets {why.value}; closest is {'-'.join(best.nodes)}")
    return Refusal(why.value, detail, intent.name, field_, tag)
