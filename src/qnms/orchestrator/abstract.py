"""A domain's abstract view for a parent orchestrator (ACTN, RFC 8453; seed 5.2).

A domain orchestrator owns only its domain's agents; a parent (the MDSC role) sees the
domain through this view only: the endpoints it serves, its border nodes (nodes with a
quantum link whose far end is not one of the domain's nodes) and, for every endpoint or
border node and every border node, the estimate of the best segment between them as the
domain would provision it now (free memory counted). Internal nodes, their local
handles and the domain's QUIs are never in it: the parent picks a border crossing from
estimates alone, as a PCE sees an abstract topology.

The inter-domain link is seen by each domain only from its own side (discovery keeps
links that both ends report, so it is not in the domain's topology): its far end, the
fibre length when the domain's connectivity agent knows the channel, and the raw
fidelity of this side's memory, so that the parent can estimate the link itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from qnms.orchestrator.discovery import CS, QFS, Discovery
from qnms.orchestrator.paths import PathEstimate, PathRequirements, candidate_paths
from qnms.orchestrator.topology import Topology

ABS = "urn:qnms:yang:qnms-domain-abstract"
MODULE = "qnms-domain-abstract"


@dataclass(frozen=True)
class BorderPeer:
    """One inter-domain quantum link, as the domain of ``border`` sees it."""

    border: str
    peer: str
    length_km: float | None
    raw_fidelity: float
    up: bool


def _q(tag: str, ns: str = QFS) -> str:
    return f"{{{ns}}}{tag}"


def border_peers(discovery: Discovery) -> list[BorderPeer]:
    """The links from the domain's QFS nodes to nodes it does not own."""
    topo = discovery.topology
    lengths: dict[str, float] = {}
    for facts in discovery.agents.values():
        if facts.address.stratum == "cs" and facts.data is not None:
            for ch in facts.data.iter(_q("channel", CS)):
                length = ch.findtext(_q("length-km", CS))
                if length:
                    lengths[ch.findtext(_q("name", CS)) or ""] = float(length)
    out = []
    for facts in discovery.agents.values():
        if facts.address.stratum != "qfs" or facts.data is None:
            continue
        node = facts.data.findtext(f"{_q('node')}/{_q('id')}") or facts.address.name
        if node not in topo.nodes:
            continue
        for link in facts.data.iter(_q("quantum-link")):
            remote = link.findtext(_q("remote-node")) or ""
            if not remote or remote in topo.nodes:
                continue
            up = link.findtext(_q("enabled"), "true") == "true"
            up = up and link.findtext(_q("oper-state"), "up") != "down"
            out.append(
                BorderPeer(
                    node,
                    remote,
                    lengths.get(link.findtext(_q("channel")) or ""),
                    topo.nodes[node].raw_fidelity,
                    up,
                )
            )
    return sorted(out, key=lambda p: (p.border, p.peer))


def best_segment(
    topo: Topology,
    source: str,
    border: str,
    req: PathRequirements,
    free: dict[str, int] | None,
) -> PathEstimate | None:
    """The best feasible path between a node and a border node (None: none)."""
    feasible = [e for e in candidate_paths(topo, source, border, req, free) if e.feasible]
    return feasible[0] if feasible else None


def _e(parent: etree._Element, tag: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ABS}}}{tag}")
    if text is not None:
        el.text = str(text)
    return el


def estimate_leaves(parent: etree._Element, fidelity: float, rate: float, latency_ms: float):
    """The ``estimate`` grouping of qnms-domain-abstract."""
    _e(parent, "fidelity", f"{min(max(fidelity, 0.0), 1.0):.6f}")
    _e(parent, "rate", f"{rate:.3f}")
    _e(parent, "latency", f"{latency_ms:.3f}")


def abstract_view(domain: str, discovery: Discovery, free: dict[str, int] | None) -> etree._Element:
    """The ``domain-abstract`` container (config false) of qnms-domain-abstract."""
    topo = discovery.topology
    top = etree.Element(f"{{{ABS}}}domain-abstract", nsmap={None: ABS})
    _e(top, "name", domain)
    for urn in sorted(topo.endpoints):
        _e(_e(top, "endpoint"), "urn", urn)
    peers = border_peers(discovery)
    borders = sorted({p.border for p in peers})
    for border in borders:
        b = _e(top, "border-node")
        _e(b, "name", border)
        for p in (p for p in peers if p.border == border):
            pe = _e(b, "peer")
            _e(pe, "node", p.peer)
            if p.length_km is not None:
                _e(pe, "length", f"{p.length_km:.3f}")
            _e(pe, "raw-fidelity", f"{p.raw_fidelity:.6f}")
            _e(pe, "up", str(p.up).lower())
    req = PathRequirements()
    ends = [(urn, info.node) for urn, info in sorted(topo.endpoints.items())]
    ends += [(b, b) for b in borders]
    for label, node in ends:
        for border in borders:
            if label == border:
                continue
            est = best_segment(topo, node, border, req, free)
            if est is None:
                continue
            s = _e(top, "segment-estimate")
            _e(s, "from", label)
            _e(s, "to", border)
            estimate_leaves(s, est.fidelity, est.rate, est.latency_ms)
    return top
