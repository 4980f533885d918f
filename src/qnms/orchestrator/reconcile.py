"""Check-sync: what the store says each agent holds, against what the agent holds.

After a crash (kill -9 during establishment) or an agent's restart, the store and the
agents can disagree: an allocation recorded but missing on an agent, or a QUI or
service-unit store on an agent that no recorded unit owns (an orphan). This reads
every agent's running configuration over NETCONF and lists the differences without
changing anything (``qnms orchestrator --check-sync``); repairing them (re-applying
or releasing) is left to the operator or to a later closed loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from qnms.orchestrator.lifecycle import UnitRecord
from qnms.orchestrator.southbound import Southbound, SouthboundError

QFS = "urn:qnms:yang:qnms-quantum-fabric"
SS = "urn:qnms:yang:qnms-service-stratum"


@dataclass(frozen=True, order=True)
class SyncDifference:
    """One disagreement: ``missing`` (recorded, not on the agent), ``orphan`` (on the
    agent, owned by no recorded unit) or ``unreachable``."""

    agent: str
    kind: str  # qui | store | agent
    id: str
    problem: str
    unit: str = ""


def _held(config: etree._Element) -> dict[tuple[str, str], str]:
    """{(kind, id): owning unit} of what an agent's running config holds."""
    out: dict[tuple[str, str], str] = {}
    for qui in config.iterfind(f".//{{{QFS}}}qui-table/{{{QFS}}}qui"):
        unit = qui.findtext(f"{{{QFS}}}service-unit") or ""
        out[("qui", qui.findtext(f"{{{QFS}}}id") or "")] = unit
    for su in config.iterfind(f".//{{{SS}}}service-units/{{{SS}}}service-unit"):
        name = su.findtext(f"{{{SS}}}name") or ""
        out[("store", name)] = name
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
        for (kind, ident), unit in held.items():
            if (kind, ident) not in expected.get(agent, {}) and unit not in known:
                diffs.append(SyncDifference(agent, kind, ident, "orphan", unit))
    return sorted(diffs)
