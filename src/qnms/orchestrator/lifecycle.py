"""Service-unit lifecycle: states, the record of one unit, and how it is shown.

States are qnms-types ``service-unit-state`` (seed 5.3, ARCHITECTURE "The service
model"); every transition is a ``service-unit-state-change`` notification of
qnms-service. The record holds what the orchestrator decided for a unit (identifier
URNs with endpoint nonces, path, QUIs per domain, the estimate) and the allocation
edits per agent, so that it can be persisted, released and shown through the
datastore's state provider (config false leaves of the unit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from lxml import etree

from qnms.orchestrator.admission import Handle
from qnms.orchestrator.edits import AgentEdit
from qnms.orchestrator.intent import SVC, ServiceIntent

log = logging.getLogger(__name__)


class UnitState(StrEnum):
    REQUESTED = "requested"
    ADMITTED = "admitted"
    ESTABLISHING = "establishing"
    ACTIVE = "active"
    DEGRADED = "degraded"
    RE_BINDING = "re-binding"
    EXPIRED = "expired"
    RELEASED = "released"
    FAILED = "failed"


HOLDS_RESOURCES = {UnitState.ESTABLISHING, UnitState.ACTIVE, UnitState.DEGRADED}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Hop:
    index: int
    node: str
    domain: str


@dataclass(frozen=True)
class QuiRef:
    domain: str
    id: str


@dataclass(frozen=True)
class Estimate:
    """The chosen path's estimate, published in qos/measured."""

    fidelity: float
    rate: float
    success_probability: float
    latency_ms: float
    classical_latency_ms: float
    swaps: int
    loss_db: float
    purification_rounds: int


@dataclass
class UnitRecord:
    """Everything the orchestrator knows of one service unit besides its intent."""

    name: str
    state: UnitState = UnitState.REQUESTED
    failure_reason: str | None = None
    identifier: list[str] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)
    quis: list[QuiRef] = field(default_factory=list)
    estimate: Estimate | None = None
    handles: list[Handle] = field(default_factory=list)
    edits: list[AgentEdit] = field(default_factory=list)
    timestamps: dict[str, str] = field(default_factory=dict)
    delivered: int = 0
    achieved_fidelity: float | None = None
    provision_ms: float | None = None
    # closed loop (qnms.orchestrator.restoration): counters and the last action
    rebinding_count: int = 0
    refresh_count: int = 0
    reroute_count: int = 0
    last_action: str | None = None
    last_restoration_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UnitRecord:
        return cls(
            name=d["name"],
            state=UnitState(d["state"]),
            failure_reason=d.get("failure_reason"),
            identifier=list(d.get("identifier", [])),
            hops=[Hop(**h) for h in d.get("hops", [])],
            quis=[QuiRef(**q) for q in d.get("quis", [])],
            estimate=Estimate(**d["estimate"]) if d.get("estimate") else None,
            handles=[Handle(**h) for h in d.get("handles", [])],
            edits=[AgentEdit(**e) for e in d.get("edits", [])],
            timestamps=dict(d.get("timestamps", {})),
            delivered=int(d.get("delivered", 0)),
            achieved_fidelity=d.get("achieved_fidelity"),
            provision_ms=d.get("provision_ms"),
            rebinding_count=int(d.get("rebinding_count", 0)),
            refresh_count=int(d.get("refresh_count", 0)),
            reroute_count=int(d.get("reroute_count", 0)),
            last_action=d.get("last_action"),
            last_restoration_ms=d.get("last_restoration_ms"),
        )


def _e(parent: etree._Element, tag: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{SVC}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def state_change_notification(
    name: str, previous: UnitState | None, state: UnitState, reason: str | None
) -> etree._Element:
    """qnms-service ``service-unit-state-change``."""
    n = etree.Element(f"{{{SVC}}}service-unit-state-change", nsmap={None: SVC})
    _e(n, "name", name)
    if previous is not None:
        _e(n, "previous-state", previous.value)
    _e(n, "state", state.value)
    if reason:
        _e(n, "reason", reason)
    return n


class RecordStore(Protocol):
    """Where a unit's record is kept durably (``qnms.orchestrator.store.Store``)."""

    def save(self, rec: UnitRecord, fingerprint: str) -> None: ...


class UnitBook(Protocol):
    """What a state transition touches on the controller that owns the unit: the
    domain ``Controller`` and the parent ``ParentController`` (MDSC) are both one."""

    @property
    def intents(self) -> Mapping[str, ServiceIntent]: ...

    @property
    def store(self) -> RecordStore: ...

    @property
    def publish(self) -> Callable[[etree._Element], None]: ...

    @property
    def changed(self) -> Callable[[], None]: ...


def apply_transition(
    book: UnitBook, rec: UnitRecord, state: UnitState, reason: str | None, *, kind: str
) -> None:
    """Move ``rec`` to ``state``: the failure reason (kept for failed and degraded
    units only), the last-change and first-activation stamps, the record saved with
    its intent's fingerprint, then the ``service-unit-state-change`` notification
    (a publishing failure is logged: the transition stands) and the change hook."""
    previous = rec.state if rec.timestamps.get("last-change") else None
    rec.state = state
    rec.failure_reason = reason if state in (UnitState.FAILED, UnitState.DEGRADED) else None
    rec.timestamps["last-change"] = stamp = now_rfc3339()
    if state == UnitState.ACTIVE:
        rec.timestamps.setdefault("activated", stamp)
    intent = book.intents.get(rec.name)
    book.store.save(rec, intent.fingerprint if intent else "")
    log.info("%s %s: %s -> %s (%s)", kind, rec.name, previous, state, reason)
    try:
        book.publish(state_change_notification(rec.name, previous, state, reason))
    except Exception:
        log.exception("cannot publish state change of %s", rec.name)
    book.changed()


def unit_state_element(rec: UnitRecord) -> etree._Element:
    """The config-false content of one service-unit entry (key included)."""
    u = etree.Element(f"{{{SVC}}}service-unit")
    _e(u, "name", rec.name)
    if rec.estimate is not None:
        m = _e(_e(u, "qos"), "measured")
        est = rec.estimate
        if rec.achieved_fidelity is not None:
            _e(m, "achieved-fidelity", f"{rec.achieved_fidelity:.6f}")
        _e(m, "estimated-fidelity", f"{min(max(est.fidelity, 0.0), 1.0):.6f}")
        _e(m, "generation-rate", f"{est.rate:.3f}")
        _e(m, "success-probability", f"{min(est.success_probability, 1.0):.6f}")
        _e(m, "quantum-communication-latency", f"{est.classical_latency_ms:.3f}")
        _e(m, "swapping-depth", min(est.swaps, 255))
        _e(m, "loss", f"{est.loss_db:.4f}")
    counters = _e(_e(u, "restoration"), "counters")
    _e(counters, "refresh-count", rec.refresh_count)
    _e(counters, "reroute-count", rec.reroute_count)
    if rec.last_action:
        _e(counters, "last-action", rec.last_action)
    if rec.last_restoration_ms is not None:
        _e(counters, "last-restoration-time", round(rec.last_restoration_ms))
    if rec.identifier:
        ident = _e(u, "identifier")
        for urn in rec.identifier:
            _e(ident, "urn", urn)
    _e(u, "state", rec.state.value)
    if rec.failure_reason:
        _e(u, "failure-reason", rec.failure_reason)
    if rec.hops:
        path = _e(u, "path")
        for hop in rec.hops:
            h = _e(path, "hop")
            _e(h, "index", hop.index)
            _e(h, "node", hop.node)
            _e(h, "domain", hop.domain)
    for q in rec.quis:
        qe = _e(u, "qui")
        _e(qe, "domain", q.domain)
        _e(qe, "id", q.id)
    delivery = _e(u, "delivery")
    _e(delivery, "delivered-units", rec.delivered)
    if "last-delivery" in rec.timestamps:
        _e(delivery, "last-delivery", rec.timestamps["last-delivery"])
    if rec.timestamps:
        ts = _e(u, "timestamps")
        for key in ("requested", "admitted", "activated", "last-change"):
            if key in rec.timestamps:
                _e(ts, key, rec.timestamps[key])
    _e(u, "rebinding-count", rec.rebinding_count)
    return u
