"""Delivery monitoring (seed 5.4 step 5): is an establishing unit now active?

The QFS agents drive the twin and the SS agents at the endpoints count what is
delivered to each service unit's store (qnms-service-stratum service-units/
service-unit/store). The orchestrator reads those stores over NETCONF, publishes the
delivered count and achieved fidelity in the unit's state, and moves the unit to
``active`` once ``size`` units have been delivered at both ends with the last achieved
fidelity at or above the target. Polling (one ``get`` per endpoint agent and period,
all in parallel) keeps this simple and robust to agent restarts; on-change
subscriptions to the stores (qnms.orchestrator.telemetry) complement it: both feed
``update_units``, so a push moves a unit on at once and polling is the safety net.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qnms.orchestrator.edits import store_agents
from qnms.orchestrator.keys import is_key_unit
from qnms.orchestrator.lifecycle import UnitRecord, UnitState, now_rfc3339

if TYPE_CHECKING:
    from qnms.orchestrator.controller import Controller

log = logging.getLogger(__name__)
SS = "urn:qnms:yang:qnms-service-stratum"
WATCHED = (UnitState.ESTABLISHING, UnitState.ACTIVE)


@dataclass(frozen=True)
class StoreReading:
    """One endpoint's store of one unit."""

    delivered: int
    fidelity: float | None


def read_stores(m) -> dict[str, StoreReading]:
    """Each service unit's entanglement store (delivered units, achieved fidelity) as
    the agent behind the manager ``m`` reports it: the monitor's and the segment
    follow-up's one reading of qnms-service-stratum."""
    flt = f'<service-stratum xmlns="{SS}"><service-units/></service-stratum>'
    data = m.get(filter=("subtree", flt)).data_ele
    out = {}
    for su in data.iterfind(f".//{{{SS}}}service-unit"):
        fid = su.findtext(f"{{{SS}}}store/{{{SS}}}achieved-fidelity")
        out[su.findtext(f"{{{SS}}}name") or ""] = StoreReading(
            int(su.findtext(f"{{{SS}}}store/{{{SS}}}delivered-units") or 0),
            float(fid) if fid else None,
        )
    return out


def _watched(ctl: Controller) -> dict[str, UnitRecord]:
    return {n: r for n, r in ctl.records.items() if r.state in WATCHED and n in ctl.intents}


async def poll_once(ctl: Controller) -> None:
    """Read the endpoint stores of every watched unit and update the units."""
    watched = _watched(ctl)
    agents = sorted({a for r in watched.values() for a in store_agents(r.edits)})
    if not agents:
        return
    allocated = {n: r.edits for n, r in watched.items()}
    readings = await ctl.sb.fan_out(agents, "monitor", lambda _k, m: read_stores(m))
    # a unit re-allocated while the stores were read would take the old store's counts
    same = {n for n, e in allocated.items() if n in ctl.records and ctl.records[n].edits is e}
    update_units(ctl, readings, same)


def update_units(
    ctl: Controller, readings: Mapping[str, object], only: set[str] | None = None
) -> None:
    """Move watched units on from the stores read (``{"ss:node": {unit: StoreReading}}``
    or the SouthboundError of that agent): by polling here, or from YANG-Push
    (qnms.orchestrator.restoration feeds the stores its subscriptions replicate)."""
    for name, rec in _watched(ctl).items():
        if only is not None and name not in only:
            continue
        ends = store_agents(rec.edits)
        got = [readings.get(a) for a in ends]
        stores = [g for g in got if isinstance(g, dict)]
        if not got or len(stores) != len(got):
            continue
        per_end = [g.get(name) for g in stores]
        if any(p is None for p in per_end):
            continue
        delivered = min(p.delivered for p in per_end if p is not None)
        fids = [p.fidelity for p in per_end if p is not None and p.fidelity is not None]
        fidelity = min(fids) if fids else None
        if (delivered, fidelity) == (rec.delivered, rec.achieved_fidelity):
            continue
        if delivered < rec.delivered:
            # an older reading than one already taken: a store only counts up for one
            # allocation (a new one starts from zero: Controller._established), so this is
            # a poll that was answered before a push update it arrived after
            continue
        if delivered > rec.delivered:
            rec.timestamps["last-delivery"] = now_rfc3339()
        rec.delivered, rec.achieved_fidelity = delivered, fidelity
        intent = ctl.intents[name]
        target = intent.requirements.target_fidelity
        good = fidelity is not None and (target is None or fidelity >= target)
        good = good or is_key_unit(intent)  # key bits: no fidelity to meet (keys.py)
        if rec.state == UnitState.ESTABLISHING and delivered >= intent.size and good:
            ctl.transition(rec, UnitState.ACTIVE, f"{delivered} unit(s) delivered at both ends")
        else:
            ctl.store.save(rec, intent.fingerprint)
            ctl.changed()


async def monitor_loop(ctl: Controller, period: float) -> None:
    while True:
        await asyncio.sleep(period)
        try:
            await poll_once(ctl)
        except Exception:
            log.exception("delivery monitoring failed")
