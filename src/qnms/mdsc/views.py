"""A domain orchestrator's northbound as the parent reads and writes it (NETCONF only).

The abstract view and the segments of qnms-domain-abstract, parsed into typed values at
the edge; segment create/delete edits shaped as ``AgentEdit`` (apply and its undo), so
the orchestrator's fan-out and idempotent release serve the parent unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from qnms.orchestrator.abstract import ABS
from qnms.orchestrator.edits import AgentEdit
from qnms.orchestrator.lifecycle import Estimate

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
QT = "urn:qnms:yang:qnms-types"
_N = {"a": ABS}


class SegmentFailed(Exception):
    """A domain refused or failed a segment (or a delegated unit), or did not answer."""


@dataclass(frozen=True)
class Peer:
    node: str
    raw_fidelity: float
    up: bool


@dataclass(frozen=True)
class SegmentEstimate:
    fidelity: float
    rate: float
    latency_ms: float


@dataclass
class DomainView:
    """What one domain shows: endpoints, border nodes with their peers, estimates."""

    name: str
    endpoints: set[str] = field(default_factory=set)
    borders: dict[str, dict[str, Peer]] = field(default_factory=dict)
    estimates: dict[tuple[str, str], SegmentEstimate] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentStatus:
    """A segment's state as its domain reports it."""

    state: str
    reason: str = ""
    qui: str = ""
    route: tuple[str, ...] = ()  # local end first, border last
    delivered: int = 0
    fidelity: float | None = None
    identifier: tuple[str, ...] = ()  # a delegated unit's, as its domain built it
    estimate: Estimate | None = None  # a delegated unit's, as its domain publishes it


def _f(el: etree._Element, path: str, default: str = "0") -> float:
    return float(el.findtext(path, default, _N) or default)


VIEW_FILTER = f'<domain-abstract xmlns="{ABS}"/>'


def parse_view(data: etree._Element) -> DomainView:
    top = data.find("a:domain-abstract", _N)
    if top is None:
        raise ValueError("no domain-abstract in the reply")
    view = DomainView(top.findtext("a:name", "", _N))
    view.endpoints = {(u.text or "") for u in top.findall("a:endpoint/a:urn", _N)}
    for b in top.findall("a:border-node", _N):
        view.borders[b.findtext("a:name", "", _N)] = {
            p.findtext("a:node", "", _N): Peer(
                p.findtext("a:node", "", _N),
                _f(p, "a:raw-fidelity"),
                p.findtext("a:up", "true", _N) == "true",
            )
            for p in b.findall("a:peer", _N)
        }
    for s in top.findall("a:segment-estimate", _N):
        key = (s.findtext("a:from", "", _N), s.findtext("a:to", "", _N))
        view.estimates[key] = SegmentEstimate(
            _f(s, "a:fidelity"), _f(s, "a:rate"), _f(s, "a:latency")
        )
    return view


def segment_filter(name: str) -> str:
    return f'<segments xmlns="{ABS}"><segment><name>{name}</name></segment></segments>'


def parse_segment(data: etree._Element) -> SegmentStatus | None:
    s = data.find("a:segments/a:segment", _N)
    if s is None:
        return None
    hops = sorted(s.findall("a:route-hop", _N), key=lambda h: int(h.findtext("a:index", "0", _N)))
    fid = s.findtext("a:achieved-fidelity", None, _N)
    return SegmentStatus(
        state=s.findtext("a:state", "", _N),
        reason=s.findtext("a:failure-reason", "", _N),
        qui=s.findtext("a:qui", "", _N),
        route=tuple(h.findtext("a:node", "", _N) for h in hops),
        delivered=int(s.findtext("a:delivered-units", "0", _N)),
        fidelity=float(fid) if fid else None,
    )


@dataclass(frozen=True)
class SegmentRequest:
    """What the parent asks one domain for."""

    domain: str
    unit: str
    service_type: str
    local_end: str
    border: str
    peer: str
    identifier: tuple[str, ...]
    size: int
    valid_until: int
    target_fidelity: float | None
    continuation: tuple[str, ...] = ()

    def edit(self) -> AgentEdit:
        """The segment's create edit and its idempotent undo."""
        cfg = etree.Element(f"{{{NC}}}config", nsmap={None: NC})
        seg = _sub(_sub(cfg, "segments"), "segment")
        _sub(seg, "name", self.unit)
        stype = etree.SubElement(seg, f"{{{ABS}}}service-type", nsmap={"qt": QT})
        stype.text = f"qt:{self.service_type}"
        _sub(seg, "local-end", self.local_end)
        _sub(seg, "border", self.border)
        _sub(seg, "peer", self.peer)
        for urn in self.identifier:
            _sub(seg, "identifier", urn)
        _sub(seg, "size", str(self.size))
        _sub(seg, "valid-until", str(self.valid_until))
        if self.target_fidelity is not None:
            _sub(seg, "target-fidelity", f"{self.target_fidelity:.6f}")
        for node in self.continuation:
            _sub(seg, "continuation", node)
        return AgentEdit(f"domain:{self.domain}", etree.tostring(cfg).decode(), undo(self.unit))


def undo(unit: str) -> str:
    return (
        f'<config xmlns="{NC}"><segments xmlns="{ABS}"><segment xmlns:nc="{NC}" '
        f'nc:operation="remove"><name>{unit}</name></segment></segments></config>'
    )


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ABS}}}{tag}")
    if text is not None:
        el.text = text
    return el


# -- a unit delegated whole to one domain (both endpoints there) -------------------------

SVC = "urn:qnms:yang:qnms-service"
_S = {"s": SVC}


def unit_filter(name: str) -> str:
    unit = f"<service-unit><name>{name}</name></service-unit>"
    return f'<service-units xmlns="{SVC}">{unit}</service-units>'


def parse_unit(data: etree._Element) -> SegmentStatus | None:
    """A domain's own service unit (qnms-service state), read like a segment."""
    u = data.find("s:service-units/s:service-unit", _S)
    if u is None or u.find("s:state", _S) is None:
        return None
    measured = "s:qos/s:measured/s:"
    fid = u.findtext(measured + "achieved-fidelity", None, _S)
    est = u.findtext(measured + "estimated-fidelity", None, _S)

    def num(leaf: str) -> float:
        return float(u.findtext(measured + leaf, "0", _S) or 0)

    return SegmentStatus(
        state=u.findtext("s:state", "", _S),
        reason=u.findtext("s:failure-reason", "", _S),
        qui=u.findtext("s:qui/s:id", "", _S),
        delivered=int(u.findtext("s:delivery/s:delivered-units", "0", _S)),
        fidelity=float(fid) if fid else None,
        identifier=tuple((x.text or "") for x in u.findall("s:identifier/s:urn", _S)),
        estimate=Estimate(
            fidelity=float(est),
            rate=num("generation-rate"),
            success_probability=num("success-probability"),
            latency_ms=0.0,  # not published in qos/measured
            classical_latency_ms=num("quantum-communication-latency"),
            swaps=int(num("swapping-depth")),
            loss_db=num("loss"),
            purification_rounds=0,  # not published in qos/measured
        )
        if est
        else None,
    )


def delegate_edit(domain: str, unit: str, intent_xml: str) -> AgentEdit:
    """Create the unit itself on the domain's qnms-service (its canonical intent XML),
    with the idempotent removal as undo."""
    apply = (
        f'<config xmlns="{NC}"><service-units xmlns="{SVC}">{intent_xml}</service-units></config>'
    )
    remove = (
        f'<config xmlns="{NC}"><service-units xmlns="{SVC}"><service-unit xmlns:nc="{NC}" '
        f'nc:operation="remove"><name>{unit}</name></service-unit></service-units></config>'
    )
    return AgentEdit(f"domain:{domain}", apply, remove)
