"""The parent's monitor: follow each live unit through its domains' state.

Polling the domains' northbound (one ``get`` per segment and period) mirrors the
orchestrator's own delivery monitor: robust to a domain orchestrator's restart; a
domain that does not answer leaves the unit as it is until it does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from qnms.mdsc.routing import domain_of
from qnms.mdsc.views import SegmentFailed
from qnms.orchestrator.lifecycle import QuiRef, UnitRecord, now_rfc3339
from qnms.orchestrator.lifecycle import UnitState as S

if TYPE_CHECKING:
    from qnms.mdsc.controller import ParentController

log = logging.getLogger(__name__)
LIVE = (S.ESTABLISHING, S.ACTIVE)


async def poll_once(ctl: ParentController) -> None:
    """Retry pending releases, expire units, follow the live ones."""
    now = time.time()
    for name, rec in list(ctl.records.items()):
        intent = ctl.intents.get(name)
        if intent is None:
            if rec.edits:  # a release a domain could not take yet
                await ctl.release(name, S.RELEASED, "retried release", forget=True)
            continue
        if rec.state in LIVE and intent.valid_until <= now:
            await ctl.release(name, S.EXPIRED, "valid-until passed", forget=False)
        elif rec.state in LIVE and not ctl.lock(name).locked():
            await follow(ctl, rec)


async def follow(ctl: ParentController, rec: UnitRecord) -> None:
    """Read the unit's segments (or its delegated unit) and update it: deliveries,
    active when every part is, released and failed when one part failed or is gone."""
    statuses = {}
    intent = ctl.intents[rec.name]
    ends = {domain_of(u, ctl.domains) or "" for u in intent.endpoints}
    delegated = len(ends) == 1
    for domain in ends if delegated else [q.domain for q in rec.quis]:
        read = ctl.unit if delegated else ctl.segment
        try:
            statuses[domain] = await read(domain, rec.name)
        except SegmentFailed as err:
            log.warning("unit %s: %s", rec.name, err)
            return
    for domain, st in statuses.items():
        if delegated and st is not None and st.qui and rec.quis != [QuiRef(domain, st.qui)]:
            rec.quis = [QuiRef(domain, st.qui)]
            rec.identifier = list(st.identifier)
            rec.estimate = st.estimate
            ctl.store.save(rec, intent.fingerprint)
    for domain, st in statuses.items():
        if st is None or st.state in (S.FAILED, S.RELEASED, S.EXPIRED):
            why = f"{st.state}: {st.reason}" if st is not None else "gone"
            part = "unit" if delegated else "segment"
            await ctl.rollback(rec, f"{part} in {domain} {why}")
            return
    delivered = min(st.delivered for st in statuses.values() if st is not None)
    fids = [st.fidelity for st in statuses.values() if st is not None and st.fidelity]
    fidelity = min(fids) if fids else None
    if (delivered, fidelity) != (rec.delivered, rec.achieved_fidelity):
        if delivered > rec.delivered:
            rec.timestamps["last-delivery"] = now_rfc3339()
        rec.delivered, rec.achieved_fidelity = delivered, fidelity
        ctl.changed()
    if rec.state == S.ESTABLISHING and all(
        st is not None and st.state == S.ACTIVE for st in statuses.values()
    ):
        ctl.transition(rec, S.ACTIVE, f"active in {', '.join(statuses)}")


async def monitor_loop(ctl: ParentController) -> None:
    """Follow every unit each ``monitor_period`` until cancelled."""
    while True:
        await asyncio.sleep(ctl.monitor_period)
        try:
            await poll_once(ctl)
        except Exception:
            log.exception("parent monitoring failed")
