"""A segment's data on the domain's northbound (qnms-domain-abstract ``segments``).

The parent's request read into a typed value at the edge (``read_segments``), the
rpc-error that refuses one (pointing at the field at fault), and the config-false
leaves a segment publishes: its state, this domain's QUI id, the recorded route, the
estimate and what was delivered at the domain's endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from qnms.orchestrator.abstract import ABS, estimate_leaves
from qnms.orchestrator.lifecycle import UnitRecord
from qnms.yang.errors import ErrorTag, RpcError

_N = {"a": ABS}


@dataclass(frozen=True)
class SegmentIntent:
    """One segment as the parent asked for it."""

    name: str
    service_type: str
    local_end: str
    border: str
    peer: str
    identifier: tuple[str, ...]
    size: int
    valid_until: int
    target_fidelity: float | None
    continuation: tuple[str, ...] = ()
    fingerprint: str = field(default="", compare=False)

    @property
    def heads(self) -> bool:
        return bool(self.continuation)


def _text(el: etree._Element, tag: str) -> str:
    return (el.findtext(f"a:{tag}", "", _N) or "").strip()


def read_segments(data: etree._Element) -> dict[str, SegmentIntent]:
    """{name: intent} of the segments in a ``<data>`` tree."""
    out = {}
    for s in data.findall("a:segments/a:segment", _N):
        target = _text(s, "target-fidelity")
        seg = SegmentIntent(
            name=_text(s, "name"),
            service_type=_text(s, "service-type").rpartition(":")[2],
            local_end=_text(s, "local-end"),
            border=_text(s, "border"),
            peer=_text(s, "peer"),
            identifier=tuple((u.text or "").strip() for u in s.findall("a:identifier", _N)),
            size=int(_text(s, "size") or 1),
            valid_until=int(_text(s, "valid-until") or 0),
            target_fidelity=float(target) if target else None,
            continuation=tuple((n.text or "").strip() for n in s.findall("a:continuation", _N)),
            fingerprint=etree.tostring(s, method="c14n").decode(),
        )
        out[seg.name] = seg
    return out


def refusal(name: str, leaf: str, app_tag: str, message: str, tag=ErrorTag.INVALID_VALUE):
    """The rpc-error refusing a segment edit, pointing at the field at fault."""
    path = f"/qda:segments/qda:segment[qda:name='{name}']" + (f"/qda:{leaf}" if leaf else "")
    return RpcError(tag, message, path=path, path_ns={"qda": ABS}, app_tag=app_tag)


def _e(parent: etree._Element, tag: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ABS}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def segment_state(rec: UnitRecord) -> etree._Element:
    """The config-false leaves of one segment entry (key included)."""
    s = etree.Element(f"{{{ABS}}}segment")
    _e(s, "name", rec.name)
    _e(s, "state", rec.state.value)
    if rec.failure_reason:
        _e(s, "failure-reason", rec.failure_reason)
    for q in rec.quis:
        _e(s, "qui", q.id)
    for hop in rec.hops:
        h = _e(s, "route-hop")
        _e(h, "index", hop.index)
        _e(h, "node", hop.node)
    if rec.estimate is not None:
        est = rec.estimate
        estimate_leaves(_e(s, "estimate"), est.fidelity, est.rate, est.latency_ms)
    _e(s, "delivered-units", rec.delivered)
    if rec.achieved_fidelity is not None:
        _e(s, "achieved-fidelity", f"{rec.achieved_fidelity:.6f}")
    return s
