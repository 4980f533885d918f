"""Check-sync: what the store says each agent holds, against what the agent holds.

After a crash (kill -9 during establishment) or an agent's restart, the store and the
agents can disagree: an allocation recorded but missing on an agent, or a QUI,
service-unit store, session or key-forwarding route on an agent that no recorded unit
owns (an orphan). This reads
every agent's running configuration over NETCONF and lists the differences without
changing anything (``qnms orchestrator --check-sync``). ``repair`` is what the
orchestrator itself does at every start, once it has taken back the store: orphans
(owned by no unit the store knows) are removed from their agents, and what a unit
holding resources lacks on an agent is applied again from the recorded edit, so the
agents end up holding exactly what the store says. Units interrupted before they were
established are not repaired here: the controller resumes them (``release_leftovers``
removes whatever they hold, found by reading the agents, then it provisions again).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from lxml import etree

from qnms.orchestrator.edits import owning_unit, undo_held
from qnms.orchestrator.lifecycle import HOLDS_RESOURCES, UnitRecord
from qnms.orchestrator.southbound import Southbound, SouthboundError
from qnms.orchestrator.transaction import Transaction, remove_everywhere

log = logging.getLogger(__name__)

QFS = "urn:qnms:yang:qnms-quantum-fabric"
SS = "urn:qnms:yang:qnms-service-stratum"


@dataclass(frozen=True, order=True)
class SyncDifference:
    """One disagreement: ``missing`` (recorded, not on the agent), ``orphan`` (on the
    agent, owned by no recorded unit) or ``unreachable``."""

    agent: str
    kind: str  # qui | store | session | route | agent
    id: str
    problem: str
    unit: str = ""


def _held(config: etree._Element) -> dict[tuple[str, str], str]:
    """{(kind, id): owner} of what an agent's running config holds for service units:
    QUIs, stores, sessions and key-forwarding routes (id ``destination/service-unit``).
    The owner is the entry's service-unit as written (a key unit's hop QUIs name the
    hop: ``edits.owning_unit`` maps them to their unit)."""
    out: dict[tuple[str, str], str] = {}
    for qui in config.iterfind(f".//{{{QFS}}}qui-table/{{{QFS}}}qui"):
        unit = qui.findtext(f"{{{QFS}}}service-unit") or ""
        out[("qui", qui.findtext(f"{{{QFS}}}id") or "")] = unit
    for su in config.iterfind(f".//{{{SS}}}service-units/{{{SS}}}service-unit"):
        name = su.findtext(f"{{{SS}}}name") or ""
        out[("store", name)] = name
    for session in config.iterfind(f".//{{{SS}}}sessions/{{{SS}}}session"):
        bound = session.findtext(f"{{{SS}}}service-unit")
        if bound:  # a session bound to no unit is the operator's
            out[("session", session.findtext(f"{{{SS}}}id") or "")] = bound
    for route in config.iterfind(f".//{{{SS}}}key-forwarding/{{{SS}}}route"):
        unit = route.findtext(f"{{{SS}}}service-unit") or ""
        out[("route", f"{route.findtext(f'{{{SS}}}destination')}/{unit}")] = unit
    return out


def _expected(records: Iterable[UnitRecord]) -> dict[str, dict[tuple[str, str], str]]:
    out: dict[str, dict[tuple[str, str], str]] = {}
    for rec in records:
        for edit in rec.edits:
            held = _held(etree.fromstring(edit.apply_xml.encode()))
            out.setdefault(edit.agent, {}).update({k: rec.name for k in held})
    return out


async def check_sync(sb: Southbound, records: Iterable[UnitRecord]) -> list[SyncDifference]:
    """Every difference between the records and the agents' running configurations."""
    records = list(records)
    expected = _expected(records)
    known = {r.name for r in records}
    got = await sb.fan_out(
        sb.sessions, "check-sync", lambda _k, m: m.get_config(source="running").data_ele
    )
    diffs: list[SyncDifference] = []
    for agent, config in got.items():
        if isinstance(config, SouthboundError):
            diffs.append(SyncDifference(agent, "agent", agent, "unreachable"))
            continue
        held = _held(config)
        for (kind, ident), unit in expected.get(agent, {}).items():
            if (kind, ident) not in held:
                diffs.append(SyncDifference(agent, kind, ident, "missing", unit))
        for (kind, ident), owner in held.items():
            unit = owning_unit(owner, known)
            if (kind, ident) not in expected.get(agent, {}) and unit not in known:
                diffs.append(SyncDifference(agent, kind, ident, "orphan", unit))
    return sorted(diffs)


async def repair(
    sb: Southbound, records: Iterable[UnitRecord], confirm_timeout: int = 30
) -> list[SyncDifference]:
    """Bring the agents in line with ``records``; returns the differences found before
    (an ``unreachable`` agent is left for the upkeep's retries)."""
    records = list(records)
    diffs = await check_sync(sb, records)
    orphans: dict[str, list[tuple[str, str]]] = {}
    for d in diffs:
        if d.problem == "orphan":
            orphans.setdefault(d.agent, []).append((d.kind, d.id))
    problems = await remove_everywhere(sb, [undo_held(a, held) for a, held in orphans.items()])
    for agent, why in problems.items():
        log.warning("reconcile: orphan on %s not removed: %s", agent, why)
    missing = {(d.unit, d.agent) for d in diffs if d.problem == "missing"}
    for rec in records:
        if rec.state not in HOLDS_RESOURCES:
            continue
        edits = [e for e in rec.edits if (rec.name, e.agent) in missing]
        if edits:
            result = await Transaction(sb, edits, confirm_timeout=confirm_timeout).run()
            where = ", ".join(e.agent for e in edits)
            outcome = "ok" if result.ok else result.reason
            log.info("reconcile: %s re-applied on %s: %s", rec.name, where, outcome)
    return diffs


async def release_leftovers(sb: Southbound, unit: str, known: Collection[str]) -> dict[str, str]:
    """Remove from every agent whatever ``unit`` holds there, found by reading each
    agent's running configuration: its QUIs (a key unit's per-hop QUIs too), store,
    sessions and key-forwarding routes. What an allocation interrupted by a crash left
    is not in the store, and the path it was on need not be the one the unit gets next,
    so names alone cannot find it. ``known``: every unit the store has (to tell a key
    unit's hop from a unit so named). {agent: problem} for agents not cleaned."""
    got = await sb.fan_out(sb.sessions, "cleanup", lambda _k, m: m.get_config("running").data_ele)
    problems: dict[str, str] = {}
    edits = []
    for agent, config in got.items():
        if isinstance(config, SouthboundError):
            problems[agent] = config.message
            continue
        held = _held(config)
        mine = [item for item, owner in held.items() if owning_unit(owner, known) == unit]
        if mine:
            edits.append(undo_held(agent, mine))
    return problems | await remove_everywhere(sb, edits)
