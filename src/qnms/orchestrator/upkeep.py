"""Periodic upkeep of the controller: expiry, rediscovery, unfinished releases.

Expiry (seed 5.3.3 lifecycle): a unit whose valid-until has passed is released on
every agent like a deleted one, and stays visible as ``expired`` until its intent is
deleted. Rediscovery: agents that did not answer at start are read again until they
do, so the topology grows to what exists. Releases that an unreachable agent left
unfinished are retried, so deleting a unit eventually leaves nothing anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from qnms.orchestrator.admission import CapacityLedger
from qnms.orchestrator.discovery import discover
from qnms.orchestrator.lifecycle import UnitState

if TYPE_CHECKING:
    from qnms.orchestrator.controller import Controller

log = logging.getLogger(__name__)
FINAL = (UnitState.EXPIRED, UnitState.RELEASED, UnitState.FAILED)


async def expire_loop(ctl: Controller) -> None:
    while True:
        await asyncio.sleep(ctl.expiry_period)
        now = time.time()
        for name, intent in list(ctl.intents.items()):
            rec = ctl.records.get(name)
            if rec is not None and intent.valid_until <= now and rec.state not in FINAL:
                ctl.release_once(name, UnitState.EXPIRED, "valid-until passed", forget=False)


async def rediscover(ctl: Controller) -> None:
    """Read the agents again and rebuild topology and ledger, keeping every
    reservation this orchestrator made."""
    found = await discover(ctl.sb)
    ledger = CapacityLedger.from_topology(found.topology)
    for name, handles in ctl.ledger.held.items():
        ledger.restore(name, handles)
    ctl.discovery, ctl.ledger = found, ledger
    log.info("rediscovery: %d node(s), %d agent(s) unreachable", len(found.topology.nodes),
             len(found.unreachable))  # fmt: skip


async def upkeep_loop(ctl: Controller) -> None:
    while True:
        await asyncio.sleep(ctl.upkeep_period)
        try:
            if ctl.discovery.unreachable:
                await rediscover(ctl)
            for name, rec in list(ctl.records.items()):
                if name not in ctl.intents and rec.edits:
                    ctl.release_once(name, UnitState.RELEASED, "retried release", forget=True)
        except Exception:
            log.exception("upkeep failed")
