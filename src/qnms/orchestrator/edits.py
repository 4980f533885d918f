"""What the allocation of one service unit writes on each agent (seed 5.3.3, 5.4 step 3).

On each QFS node of the path: a domain-scoped QUI (id, scope, service unit, a fresh
nonce, lifecycle, the local handles of the memory qubits it holds) and a forwarding
entry (upstream and downstream neighbours; ``swap`` in the middle, ``terminate`` at the
ends). On the SS agent of each endpoint: the service unit's store entry (identifier
URNs, local endpoint, the QUI of its domain, lifecycle), where delivered units are
bound. Each edit comes with its exact undo, so a transaction can be rolled back and a
unit released.

``qui_element`` is the one place a QUI is shaped: the head-end generation request of
the agent-drives-twin contract (``path``, ``generation``) is added there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from lxml import etree

from qnms.orchestrator.admission import Handle

QFS = "urn:qnms:yang:qnms-quantum-fabric"
SS = "urn:qnms:yang:qnms-service-stratum"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
QT = "urn:qnms:yang:qnms-types"
REMOVE = {f"{{{NC}}}operation": "remove"}


@dataclass(frozen=True)
class HopAllocation:
    """What one node of the path holds for the unit."""

    node: str
    domain: str
    qui: str
    nonce: str
    handles: tuple[Handle, ...]
    upstream: str | None
    downstream: str | None

    @property
    def action(self) -> str:
        return "swap" if self.upstream and self.downstream else "terminate"


@dataclass(frozen=True)
class EndpointBinding:
    """An endpoint's SS agent and the URN it serves."""

    node: str
    urn: str
    qui: str


@dataclass(frozen=True)
class GenerationRequest:
    """What the head-end QFS agent asks the twin for (agents-drive-twin contract:
    qnms-quantum-fabric qui ``generation``); sent only to agents whose model has it."""

    pairs: int  # 0: until the QUI is removed
    target_fidelity: float | None
    purification: bool
    max_swaps: int
    hold: bool = False


@dataclass(frozen=True)
class AllocationPlan:
    """The whole allocation of one unit on one path."""

    unit: str
    service_type: str
    identifier: tuple[str, ...]
    size: int
    valid_until: int
    time_to_live_s: float | None
    coherence_window_ms: float | None
    hops: tuple[HopAllocation, ...]
    endpoints: tuple[EndpointBinding, ...]
    generation: GenerationRequest | None = None  # on the head-end QUI, with the path
    # nodes beyond the plan's last hop, owned by other domains (a stitched segment that
    # heads an inter-domain unit: the head-end asks generation along the whole path)
    continuation: tuple[str, ...] = ()
    # QUIs the unit holds beyond those of ``hops`` (one per node: its path), as
    # (domain, id): a key unit holds one per hop on both nodes of the hop (keys.py)
    extra_quis: tuple[tuple[str, str], ...] = ()

    def quis(self) -> list[tuple[str, str]]:
        """Every QUI the unit holds, as (domain, id), each once, by domain then id."""
        return sorted({(h.domain, h.qui) for h in self.hops} | set(self.extra_quis))


@dataclass(frozen=True)
class AgentEdit:
    """The configuration one agent gets, and the edit that removes it again."""

    agent: str  # AgentAddress.key
    apply_xml: str
    remove_xml: str


def qui_id(unit: str, domain: str) -> str:
    """A QUI id unique in its domain, readable when short (qnms-types qui-id: 64 chars)."""
    qid = f"{unit}.{domain}"
    if len(qid) <= 64:
        return qid
    return f"su-{hashlib.sha256(unit.encode()).hexdigest()[:24]}.{domain}"[:64]


def sub_element(
    parent: etree._Element, tag: str, text: str | None = None, ns: str = QFS
) -> etree._Element:
    """A child ``tag`` of ``parent`` in namespace ``ns`` (qnms-quantum-fabric unless
    given), with ``text`` if any: the one way the allocation edits are built."""
    el = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        el.text = text
    return el


def qui_element(plan: AllocationPlan, hop: HopAllocation) -> etree._Element:
    """The QUI entry of one node (qnms-quantum-fabric qui-table/qui)."""
    qui = etree.Element(f"{{{QFS}}}qui")
    sub_element(qui, "id", hop.qui)
    sub_element(qui, "scope", hop.domain)
    sub_element(qui, "service-unit", plan.unit)
    sub_element(qui, "nonce", hop.nonce)
    if plan.time_to_live_s is not None or plan.coherence_window_ms is not None:
        life = sub_element(qui, "lifecycle")
        if plan.time_to_live_s is not None:
            sub_element(life, "time-to-live", f"{plan.time_to_live_s:.6f}")
        if plan.coherence_window_ms is not None:
            sub_element(life, "coherence-window", f"{plan.coherence_window_ms:.3f}")
    for h in hop.handles:
        handle = sub_element(qui, "local-handle")
        sub_element(handle, "memory", h.memory)
        sub_element(handle, "index", str(h.index))
    gen = plan.generation
    if gen is not None and hop is plan.hops[0]:  # head-end: path[0] is this node
        for node in [*(h.node for h in plan.hops), *plan.continuation]:  # may span domains
            sub_element(qui, "path", node)
        g = sub_element(qui, "generation")
        sub_element(g, "pairs", str(gen.pairs))
        if gen.target_fidelity is not None:
            sub_element(g, "target-fidelity", f"{gen.target_fidelity:.6f}")
        sub_element(g, "purification", str(gen.purification).lower())
        sub_element(g, "max-swaps", str(min(gen.max_swaps, 255)))
        sub_element(g, "hold", str(gen.hold).lower())
    return qui


def config_text(top: etree._Element) -> str:
    """``top`` wrapped in an edit-config ``<config>``, as the text an ``AgentEdit``
    carries (its apply and undo edits alike)."""
    config = etree.Element(f"{{{NC}}}config", nsmap={None: NC})
    config.append(top)
    return etree.tostring(config, pretty_print=True).decode()


def qfs_edit(plan: AllocationPlan, hop: HopAllocation) -> AgentEdit:
    top = etree.Element(f"{{{QFS}}}quantum-fabric", nsmap={None: QFS})
    sub_element(top, "qui-table").append(qui_element(plan, hop))
    entry = sub_element(sub_element(top, "forwarding-table"), "entry")
    sub_element(entry, "qui", hop.qui)
    if hop.upstream:
        sub_element(entry, "upstream", hop.upstream)
    if hop.downstream:
        sub_element(entry, "downstream", hop.downstream)
    sub_element(entry, "action", hop.action)
    return AgentEdit(f"qfs:{hop.node}", config_text(top), _qfs_undo(hop.qui))


def _qfs_undo(qui: str) -> str:
    undo = etree.Element(f"{{{QFS}}}quantum-fabric", nsmap={None: QFS, "nc": NC})
    gone = sub_element(sub_element(undo, "forwarding-table"), "entry")
    gone.attrib.update(REMOVE)
    sub_element(gone, "qui", qui)
    gone = sub_element(sub_element(undo, "qui-table"), "qui")
    gone.attrib.update(REMOVE)
    sub_element(gone, "id", qui)
    return config_text(undo)


def ss_edit(plan: AllocationPlan, ep: EndpointBinding) -> AgentEdit:
    top = etree.Element(f"{{{SS}}}service-stratum", nsmap={None: SS, "qt": QT})
    unit = sub_element(sub_element(top, "service-units", ns=SS), "service-unit", ns=SS)
    sub_element(unit, "name", plan.unit, SS)
    sub_element(unit, "service-type", f"qt:{plan.service_type}", SS)
    sub_element(unit, "local-endpoint", ep.urn, SS)
    for urn in plan.identifier:
        sub_element(unit, "identifier", urn, SS)
    sub_element(unit, "qui", ep.qui, SS)
    life = sub_element(unit, "lifecycle", ns=SS)
    sub_element(life, "size", str(plan.size), SS)
    sub_element(life, "valid-until", str(plan.valid_until), SS)
    return AgentEdit(f"ss:{ep.node}", config_text(top), _ss_undo(plan.unit))


def _ss_undo(unit: str) -> str:
    undo = etree.Element(f"{{{SS}}}service-stratum", nsmap={None: SS, "nc": NC})
    gone = sub_element(sub_element(undo, "service-units", ns=SS), "service-unit", ns=SS)
    gone.attrib.update(REMOVE)
    sub_element(gone, "name", unit, SS)
    return config_text(undo)


def agent_edits(plan: AllocationPlan) -> list[AgentEdit]:
    """Every agent's edit for the plan: QFS nodes in path order, then SS endpoints."""
    return [qfs_edit(plan, hop) for hop in plan.hops] + [ss_edit(plan, ep) for ep in plan.endpoints]


def hop_unit(unit: str, index: int) -> str:
    """The name a key unit's hop ``index`` carries on its QUIs (the twin's allocation for
    that link alone): ``{unit}.h{index}`` (orchestrator/keys.py)."""
    return f"{unit}.h{index}"


def owning_unit(owner: str, known: Collection[str]) -> str:
    """The service unit an agent's entry belongs to: ``owner`` itself (a QUI's, session's
    or route's service-unit, a store's name), or the key unit whose hop it names."""
    if owner in known:
        return owner
    hop = re.fullmatch(r"(.+)\.h\d+", owner)
    return hop[1] if hop and hop[1] in known else owner


def _entry(top: etree._Element, container: str, entry: str, ns: str) -> etree._Element:
    """A new list entry marked for removal, in ``top``'s ``container`` (made once)."""
    found = top.find(f"{{{ns}}}{container}")
    gone = sub_element(
        found if found is not None else sub_element(top, container, ns=ns), entry, ns=ns
    )
    gone.attrib.update(REMOVE)
    return gone


def undo_held(agent: str, held: Iterable[tuple[str, str]]) -> AgentEdit:
    """One edit removing from ``agent`` each (kind, id) an agent may hold for a unit:
    ``qui`` (with its forwarding entry), ``store`` (the service-unit), ``session``,
    ``route`` (id ``destination/service-unit``): how reconciliation releases orphans and
    what an interrupted allocation left, whoever's they are."""
    qfs = etree.Element(f"{{{QFS}}}quantum-fabric", nsmap={None: QFS, "nc": NC})
    ss = etree.Element(f"{{{SS}}}service-stratum", nsmap={None: SS, "nc": NC})
    for kind, ident in held:
        if kind == "qui":
            sub_element(_entry(qfs, "forwarding-table", "entry", QFS), "qui", ident)
            sub_element(_entry(qfs, "qui-table", "qui", QFS), "id", ident)
        elif kind == "store":
            sub_element(_entry(ss, "service-units", "service-unit", SS), "name", ident, SS)
        elif kind == "session":
            sub_element(_entry(ss, "sessions", "session", SS), "id", ident, SS)
        elif kind == "route":
            dest, _, unit = ident.partition("/")
            route = _entry(ss, "key-forwarding", "route", SS)
            sub_element(route, "destination", dest, SS)
            sub_element(route, "service-unit", unit, SS)
    config = etree.Element(f"{{{NC}}}config", nsmap={None: NC})
    config.extend([top for top in (qfs, ss) if len(top)])
    return AgentEdit(agent, "", etree.tostring(config, pretty_print=True).decode())


def store_agents(edits: Iterable[AgentEdit]) -> list[str]:
    """The SS agents whose edit writes the unit's store: its endpoints (a key unit also
    writes key-forwarding routes on the SS agents of its trusted nodes: orchestrator/
    keys.py)."""
    path = f".//{{{SS}}}service-units/{{{SS}}}service-unit"  # not a route's service-unit
    return [
        e.agent
        for e in edits
        if e.agent.startswith("ss:")
        and next(etree.fromstring(e.apply_xml.encode()).iterfind(path), None) is not None
    ]
