"""The ``qkd-key`` service unit: key over trusted nodes, provisioned like a pair unit.

Seed 4.2: a QKD key crosses a network hop by hop. Each hop's two KMEs make their own
key from their own link (BBM92 on the pairs the twin delivers on that link:
qnms.service.qkd), and a key travels one-time-padded from KME to KME along the
``key-forwarding`` routes. So, unlike an entangled pair, a key path is a chain of
*trusted nodes* (nodes whose SS agent hosts a KME), no pair is swapped, and what the
physics allows is the secret key rate of each hop, the slowest hop bounding the path
(one-time-pad relay spends as much key on every hop). A swapped end-to-end pair over
the same nodes would have a QBER above the BBM92 threshold (no key at all); per hop the
QBER stays low.

Admission: the checks every unit has (``admit_request``), then the k shortest paths
through KME nodes, each hop's estimated pair rate and fidelity (the same first-order
model as ``paths.estimate_path``) turned into a secret key rate; the unit's
``qos/generation-rate``, read as key bits per second, must be met by the slowest hop.

Allocation, in one network-wide transaction (``transaction.Transaction``):

* per hop, a QUI on both QFS nodes with the head-end generation request (pairs until
  removed, no purification): the twin then delivers pairs on that link only;
* on both end SS agents: the unit's store (service-type qkd-key, identifier with the
  originator's endpoint first: the master; ``size`` in key bits) and an application
  session bound to the unit, with the application's token bucket;
* on every KME of the path but the last, the unit's own route towards the last KME.

The end KMEs reserve the unit's keys, with key IDs derived from the unit's identifier
(agents/kme/units.py), and report them in the store; the unit is active once its
``size`` is available at both ends (monitor.py). Releasing the unit removes all of
this, and the KMEs drop the keys nobody took.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import networkx as nx
from lxml import etree

from qnms.orchestrator.admission import (
    Admission,
    CapacityLedger,
    Handle,
    Refusal,
    TokenBucket,
    admit,
    admit_request,
)
from qnms.orchestrator.edits import (
    NC,
    QT,
    REMOVE,
    SS,
    AgentEdit,
    AllocationPlan,
    EndpointBinding,
    GenerationRequest,
    HopAllocation,
    agent_edits,
    config_text,
    hop_unit,
    qfs_edit,
    qui_id,
    sub_element,
)
from qnms.orchestrator.intent import Application, ServiceIntent
from qnms.orchestrator.paths import PathEstimate, PathRequirements, estimate_path
from qnms.orchestrator.planning import build_plan
from qnms.orchestrator.topology import Topology
from qnms.service.identifiers import ServiceUnitId
from qnms.service.qkd import qber_threshold, qber_werner, secret_bits_per_pair
from qnms.yang.errors import ErrorTag

KEY_SERVICE = "qkd-key"
DEFAULT_K = 4


def is_key_unit(intent: ServiceIntent) -> bool:
    return intent.service_type == KEY_SERVICE


@dataclass(frozen=True)
class HopKeyRate:
    """What one hop of a key path can make: pairs/s and fidelity estimated, key from them."""

    a: str
    b: str
    pair_rate: float
    fidelity: float

    @property
    def qber(self) -> float:
        return qber_werner(self.fidelity)

    @property
    def key_rate(self) -> float:
        """Secret key bits per second (BBM92: sifting, error correction, privacy
        amplification; 0 above the QBER threshold)."""
        return self.pair_rate * secret_bits_per_pair(self.fidelity)


def hop_rates(topo: Topology, nodes: Sequence[str]) -> list[HopKeyRate]:
    """Each hop's estimate, from the first-order link model of paths.py (no swap, no
    purification: a hop is one elementary link)."""
    req = PathRequirements(purification_allowed=False, max_rounds=0)
    out = []
    for a, b in itertools.pairwise(nodes):
        est = estimate_path(topo, (a, b), req)
        out.append(HopKeyRate(a, b, est.rate, est.fidelity))
    return out


def path_key_rate(hops: Sequence[HopKeyRate]) -> float:
    """Trusted-node relay spends as much key on every hop: the slowest hop bounds it."""
    return min((h.key_rate for h in hops), default=0.0)


def key_paths(topo: Topology, a: str, b: str, k: int = DEFAULT_K) -> list[tuple[str, ...]]:
    """The k shortest simple paths from ``a`` to ``b`` through KME nodes only."""
    graph = topo.graph().subgraph(topo.kmes)
    if a not in graph or b not in graph or a == b:
        return []
    try:
        simple = nx.shortest_simple_paths(graph, a, b, weight="length")
        return [tuple(p) for p in itertools.islice(simple, k)]
    except nx.NetworkXNoPath:
        return []


def admit_keys(
    intent: ServiceIntent,
    applications: Mapping[str, Application],
    topology: Topology,
    ledger: CapacityLedger,
    buckets: Mapping[str, TokenBucket],
    now: float | None = None,
) -> Admission:
    """Admit a qkd-key unit: the shared checks, then a trusted-node path whose slowest
    hop makes at least the requested key rate; fastest key path first. Changes nothing."""
    app, (a, b) = admit_request(intent, applications, topology, buckets, now)
    paths = key_paths(topology, a, b)
    if not paths:
        raise Refusal(
            "no-key-path",
            f"no path of trusted nodes (nodes hosting a KME) between {a} and {b}",
            intent.name,
        )
    free = ledger.free_by_node()
    want = intent.requirements.min_rate or 0.0
    scored = [(path_key_rate(hop_rates(topology, p)), p) for p in paths]
    scored.sort(key=lambda s: -s[0])
    ok = []
    for rate, nodes in scored:
        est = estimate_path(topology, nodes, PathRequirements(), free)
        low = min(h.fidelity for h in hop_rates(topology, nodes))
        if rate > 0 and rate >= want and all(free.get(n, 0) >= q for n, q in est.qubits.items()):
            # published as the unit's estimate: key bits/s and the worst hop's fidelity
            ok.append(replace(est, rate=rate, fidelity=low, swaps=0, violations=()))
    if ok:
        return Admission(intent, app, (a, b), tuple(ok))
    best_rate, best = scored[0]
    hops = hop_rates(topology, best)
    if best_rate <= 0:
        worst = max(hops, key=lambda h: h.qber)
        raise Refusal(
            "no-key",
            f"hop {worst.a}-{worst.b} of {'-'.join(best)} has an estimated QBER of "
            f"{worst.qber:.4f}, above the threshold {qber_threshold():.4f}: it makes no key",
            intent.name,
        )
    if best_rate < want:
        slow = min(hops, key=lambda h: h.key_rate)
        raise Refusal(
            "key-rate",
            f"requested key rate {want:g} bit/s cannot be met: the best trusted-node path "
            f"{'-'.join(best)} makes at most {best_rate:.1f} bit/s (its slowest hop "
            f"{slow.a}-{slow.b}: {slow.pair_rate:.0f} pairs/s at QBER {slow.qber:.4f})",
            intent.name,
            "qos/generation-rate",
            ErrorTag.INVALID_VALUE,
        )
    raise Refusal(
        "memory", f"not enough free memory qubits on {'-'.join(best)}", intent.name,
        "qos/memory-constraints/memories-per-node",
    )  # fmt: skip


def admit_unit(
    intent: ServiceIntent,
    applications: Mapping[str, Application],
    topology: Topology,
    ledger: CapacityLedger,
    buckets: Mapping[str, TokenBucket],
    now: float | None = None,
) -> Admission:
    """Admission of any unit: key units here, pair units in admission.py."""
    decide = admit_keys if is_key_unit(intent) else admit
    return decide(intent, applications, topology, ledger, buckets, now)


# -- the allocation ------------------------------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    return sub_element(parent, tag, text, SS)


def session_id(unit: str, application: str) -> str:
    """The application session of a unit on its SS agent (qt:name: 64 characters)."""
    return f"{unit}.{application}"[:64]


@dataclass(frozen=True)
class KmeConfig:
    """What one SS agent of a key path gets: a store and session (ends), a route."""

    node: str
    endpoint: EndpointBinding | None
    application: Application | None
    route: tuple[str, str] | None  # (destination KME, next-hop KME)


def kme_edit(plan: AllocationPlan, cfg: KmeConfig) -> AgentEdit:
    top = etree.Element(f"{{{SS}}}service-stratum", nsmap={None: SS, "qt": QT})
    undo = etree.Element(f"{{{SS}}}service-stratum", nsmap={None: SS, "nc": NC})
    ep, app = cfg.endpoint, cfg.application
    if ep is not None:
        unit = _sub(_sub(top, "service-units"), "service-unit")
        _sub(unit, "name", plan.unit)
        _sub(unit, "service-type", f"qt:{KEY_SERVICE}")
        _sub(unit, "local-endpoint", ep.urn)
        for urn in plan.identifier:
            _sub(unit, "identifier", urn)
        _sub(unit, "qui", ep.qui)
        life = _sub(unit, "lifecycle")
        _sub(life, "size", str(plan.size))
        _sub(life, "valid-until", str(plan.valid_until))
        gone = _sub(_sub(undo, "service-units"), "service-unit")
        gone.attrib.update(REMOVE)
        _sub(gone, "name", plan.unit)
    if ep is not None and app is not None:
        sid = session_id(plan.unit, app.name)
        session = _sub(_sub(top, "sessions"), "session")
        _sub(session, "id", sid)
        _sub(session, "endpoint", ep.urn)
        _sub(session, "service-unit", plan.unit)
        bucket = _sub(session, "token-bucket")
        _sub(bucket, "rate", f"{app.rate:g}")
        _sub(bucket, "burst", str(max(1, app.burst)))
        gone = _sub(_sub(undo, "sessions"), "session")
        gone.attrib.update(REMOVE)
        _sub(gone, "id", sid)
    if cfg.route is not None:
        # the unit's own route: another unit's towards the same KME stays when it goes
        route = _sub(_sub(top, "key-forwarding"), "route")
        _sub(route, "destination", cfg.route[0])
        _sub(route, "service-unit", plan.unit)
        _sub(route, "next-hop", cfg.route[1])
        gone = _sub(_sub(undo, "key-forwarding"), "route")
        gone.attrib.update(REMOVE)
        _sub(gone, "destination", cfg.route[0])
        _sub(gone, "service-unit", plan.unit)
    return AgentEdit(f"ss:{cfg.node}", config_text(top), config_text(undo))


def key_plan(
    topo: Topology,
    intent: ServiceIntent,
    applications: Mapping[str, Application],
    est: PathEstimate,
    handles: Sequence[Handle],
) -> tuple[AllocationPlan, list[AgentEdit]]:
    """The allocation of a key unit on trusted-node path ``est``: the plan recorded for
    the unit (identifier, nodes, QUIs) and every agent's edit."""
    nodes = est.nodes
    first = intent.originator if intent.originator in intent.endpoints else intent.endpoints[0]
    ends = (first, *[u for u in intent.endpoints if u != first])
    ident = ServiceUnitId.build(ends, {"size": intent.size, "valid-until": intent.valid_until})
    ttl = intent.time_to_live_s or max(intent.valid_until - time.time(), 1.0)
    free = {n: [h for h in handles if h.node == n] for n in nodes}
    edits: list[AgentEdit] = []
    quis: dict[str, str] = {}  # node -> a QUI it holds (the store names its end's)
    record_hops: list[HopAllocation] = []  # one per node, in path order: the unit's path
    held: list[tuple[str, str]] = []  # every (domain, QUI): two per hop, published
    gen_nodes = topo.generation_nodes
    for i, (u, v) in enumerate(itertools.pairwise(nodes)):
        hop_name = hop_unit(intent.name, i)
        pair = []
        for node, up, down in ((u, None, v), (v, u, None)):
            domain = topo.nodes[node].domain
            qid = qui_id(hop_name, domain)
            quis.setdefault(node, qid)
            taken = free[node][:1]
            free[node] = free[node][1:]
            nonce = secrets.token_hex(8)
            pair.append(HopAllocation(node, domain, qid, nonce, tuple(taken), up, down))
        link = AllocationPlan(
            unit=hop_name,
            service_type=KEY_SERVICE,
            identifier=tuple(ident.urns()),
            size=0,
            valid_until=intent.valid_until,
            time_to_live_s=ttl,
            coherence_window_ms=None,
            hops=tuple(pair),
            endpoints=(),
            generation=GenerationRequest(0, None, False, 0) if u in gen_nodes else None,
        )
        edits += [qfs_edit(link, hop) for hop in pair]
        record_hops += [h for h in pair if h.node not in {r.node for r in record_hops}]
        held += [(h.domain, h.qui) for h in pair]
    bindings = {
        topo.endpoint_node(urn) or "": EndpointBinding(topo.endpoint_node(urn) or "", urn, "")
        for urn in ends
    }
    # routes run from the master's KME (the originator's end) to the other end's
    order = nodes if topo.endpoint_node(first) == nodes[0] else nodes[::-1]
    last_kme = topo.kmes[order[-1]]
    plan = AllocationPlan(
        unit=intent.name,
        service_type=KEY_SERVICE,
        identifier=tuple(ident.urns()),
        size=intent.size,
        valid_until=intent.valid_until,
        time_to_live_s=ttl,
        coherence_window_ms=None,
        hops=tuple(record_hops),
        endpoints=tuple(
            EndpointBinding(b.node, b.urn, quis.get(b.node, "")) for b in bindings.values()
        ),
        extra_quis=tuple(held),
    )
    for i, node in enumerate(order):
        bound = bindings.get(node)
        ep = EndpointBinding(node, bound.urn, quis.get(node, "")) if bound else None
        route = (last_kme, topo.kmes[order[i + 1]]) if i + 1 < len(order) else None
        app = applications.get(bound.urn) if bound else None
        edits.append(kme_edit(plan, KmeConfig(node, ep, app, route)))
    return plan, merge_edits(edits)


def merge_edits(edits: Sequence[AgentEdit]) -> list[AgentEdit]:
    """One edit per agent (what a transaction and the store expect): a node on two hops
    gets both hops' QUIs and forwarding entries in one edit, and one undo for both."""
    merged: dict[str, AgentEdit] = {}
    for e in edits:
        prev = merged.get(e.agent)
        merged[e.agent] = e if prev is None else AgentEdit(
            e.agent, _merge(prev.apply_xml, e.apply_xml), _merge(prev.remove_xml, e.remove_xml)
        )  # fmt: skip
    return list(merged.values())


def _merge(first: str, second: str) -> str:
    """``second``'s list entries added into ``first``'s containers (same shape: a
    ``<config>`` with one top container of lists, as edits.py writes them)."""
    a, b = etree.fromstring(first.encode()), etree.fromstring(second.encode())
    top_a, top_b = a[0], b[0]
    for container in list(top_b):
        same = top_a.find(etree.QName(container).text)
        if same is None:
            top_a.append(container)
        else:
            same.extend(list(container))
    return etree.tostring(a, pretty_print=True).decode()


def plan_edits(
    topo: Topology,
    intent: ServiceIntent,
    applications: Mapping[str, Application],
    est: PathEstimate,
    handles: Sequence[Handle],
    identifier: tuple[str, ...] | None = None,
) -> tuple[AllocationPlan, list[AgentEdit]]:
    """The plan and agent edits of any unit: key units here, pair units in planning.py.
    ``identifier``: a pair unit re-bound or re-routed keeps the one it had (key units
    get a fresh one, since their key IDs derive from it)."""
    if is_key_unit(intent):
        return key_plan(topo, intent, applications, est, handles)
    plan = build_plan(topo, intent, est, handles)
    if identifier:
        plan = replace(plan, identifier=identifier)
    return plan, agent_edits(plan)
