"""The closed loop (seed 5.4 step 6): telemetry in, refresh / re-bind / re-route out.

Inputs are the agents' YANG-Push subscriptions (qnms.orchestrator.telemetry): element
states (qnms.orchestrator.damping), the endpoint stores (which also move units to
active, qnms.orchestrator.monitor) and QUI expiry. Every action is a state transition
with a reason, a counter in the unit's state and a notification:

* a node, channel or link on a unit's path fails: ``degraded`` with the elements
  named; if the fault lasts the unit's hold-off and its policy is automatic, the old
  allocation is released and the unit allocated on a path avoiding the failed elements
  (``re-binding`` -> ``establishing`` -> ``active``, ``reroute-count`` + 1);
* the achieved fidelity falls below the target: the same, on the best usable path,
  counted in ``rebinding-count``;
* a QUI's time-to-live is close to expiry (and the unit is valid longer): re-allocated
  before it expires, counted in ``refresh-count``;
* nothing can restore it: ``degraded`` with the reason, every resource released; it is
  tried again whenever an element's state changes (and every few seconds), so it comes
  back when the fault clears;
* the fault clears before restoration acted (manual policy, or within the hold-off):
  back to the state it had once the path has been clear for the hold-off.

Re-allocation keeps the unit's name and identifier (``Controller.plan``). Restoration
is non-revertive: a re-routed unit stays on its new path when the old one heals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from qnms.orchestrator.admission import Refusal, admit
from qnms.orchestrator.damping import DampingParams, Elements, path_elements, usable
from qnms.orchestrator.lifecycle import UnitRecord, UnitState
from qnms.orchestrator.monitor import StoreReading, update_units
from qnms.orchestrator.southbound import AgentAddress
from qnms.orchestrator.telemetry import Facts, Listener, Telemetry
from qnms.orchestrator.transaction import remove_everywhere

if TYPE_CHECKING:
    from qnms.orchestrator.controller import Controller
    from qnms.orchestrator.intent import ServiceIntent

log = logging.getLogger(__name__)
RETRY_S = 5.0  # a released unit is tried again at least this often
REFRESH_MARGIN_S = 1.0  # refresh when a QUI has less than max(this, ttl/5) to live
STORE_CLEAR_S = 2.0  # wait this long for telemetry to show an old store gone


@dataclass
class Episode:
    """One unit's trouble, from the first symptom until it is active again."""

    resume: UnitState  # the state to return to if the trouble clears by itself
    started: float  # monotonic, when the loop saw it
    detected_wall: float  # wall clock of the telemetry that showed it
    clear_since: float | None = None
    released: bool = False
    tried_version: int = -1
    tried_at: float = 0.0
    restoring: bool = False  # re-allocated: waiting for the unit to be active


@dataclass(frozen=True)
class Event:
    """What the loop saw or did, for operators, the demo and the bench."""

    wall: float
    what: str  # element-down, element-up, degraded, re-binding, restored, ...
    subject: str
    detail: str = ""


class Restoration:
    """The loop of one orchestrator; ``run`` is one of its background tasks."""

    def __init__(
        self,
        ctl: Controller,
        *,
        period: float = 0.1,
        damping: DampingParams | None = None,
        dampening_cs: int = 0,
    ) -> None:
        self.ctl = ctl
        self.period = period
        self.elements = Elements(damping or DampingParams())
        self.dampening_cs = dampening_cs
        self.telemetry: Telemetry | None = None
        # told after the loop itself of every notification applied (the topology map)
        self.followers: list[Listener] = []
        self.episodes: dict[str, Episode] = {}
        self.events: deque[Event] = deque(maxlen=1000)
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        addresses = [s.address for s in self.ctl.sb.sessions.values()]
        self.telemetry = Telemetry(addresses, dampening_cs=self.dampening_cs)
        self.telemetry.listeners.append(self.on_telemetry)
        self.telemetry.listeners.extend(self.followers)
        self.telemetry.start()
        self.ctl.usable = lambda topo: usable(topo, self.elements, time.monotonic())
        try:
            while True:
                await asyncio.sleep(self.period)
                try:
                    if self.elements.tick(time.monotonic(), time.time()):
                        self._note("element-reuse", "damping", "suppressed element released")
                    self.evaluate()
                except Exception:
                    log.exception("restoration failed")
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.telemetry.stop()

    def facts(self) -> Facts:
        """The telemetry facts now (empty before the loop runs)."""
        return self.telemetry.facts if self.telemetry is not None else Facts()

    def on_telemetry(self, addr: AgentAddress, arrived: float) -> None:
        """A notification from ``addr`` was applied: update elements and stores, act."""
        assert self.telemetry is not None
        facts, wall = self.telemetry.facts, time.time() - (time.monotonic() - arrived)
        reported = {f"channel:{c}": s for c, s in facts.channels.items()}
        reported |= {f"node:{n}": s for n, s in facts.nodes.items()}
        reported |= {f"link:{n}/{lk}": s for (n, lk), s in facts.links.items()}
        for element, state in reported.items():
            if self.elements.observe(element, state == "down", arrived, wall):
                down = self.elements.effective_down(element, arrived)
                self._note("element-down" if down else "element-up", element, addr.key, wall)
        readings = {
            f"ss:{node}": {u: StoreReading(d, f) for u, (d, f) in units.items()}
            for node, units in facts.stores.items()
        }
        update_units(self.ctl, readings)
        self.evaluate()

    def evaluate(self) -> None:
        """Look at every unit once: start, advance or end its episode."""
        ctl, now = self.ctl, time.monotonic()
        for name in [n for n in self.episodes if n not in ctl.intents]:
            del self.episodes[name]
        for name, rec in list(ctl.records.items()):
            intent = ctl.intents.get(name)
            if intent is None or name in self._busy or ctl.releasing(name):
                continue
            self._evaluate(rec, intent, now)

    def _problems(self, rec: UnitRecord, intent: ServiceIntent, now: float) -> list[str]:
        if not rec.edits:
            return []
        out = [
            e
            for e in path_elements(self.ctl.topology, rec.hops)
            if self.elements.effective_down(e, now)
        ]
        target = intent.requirements.target_fidelity
        fid = rec.achieved_fidelity
        ep = self.episodes.get(rec.name)
        was_active = rec.state == UnitState.ACTIVE or (
            rec.state == UnitState.DEGRADED and ep is not None and ep.resume == UnitState.ACTIVE
        )
        if was_active and target is not None and fid is not None and fid < target:
            out.append(f"achieved fidelity {fid:.4f} below target {target:g}")
        return out

    def _evaluate(self, rec: UnitRecord, intent: ServiceIntent, now: float) -> None:
        ep = self.episodes.get(rec.name)
        policy = intent.policy
        if ep is None and rec.state in (UnitState.DEGRADED, UnitState.RE_BINDING):
            ep = self._adopt(rec, intent, now)
        if ep is not None and ep.restoring:
            if rec.state == UnitState.ACTIVE:
                self._restored(rec, ep)
                return
            if rec.state != UnitState.ESTABLISHING:
                ep.restoring = False
        if rec.state not in (UnitState.ACTIVE, UnitState.ESTABLISHING, UnitState.DEGRADED):
            return
        problems = self._problems(rec, intent, now)
        if ep is None or ep.restoring:
            if rec.state != UnitState.DEGRADED and problems:
                self._degrade(rec, problems, ep, now)
            elif rec.state == UnitState.ACTIVE:
                self._maybe_refresh(rec, intent)
            return
        if rec.state != UnitState.DEGRADED:
            return
        if ep.released:
            stale = ep.tried_version != self.elements.version or now - ep.tried_at > RETRY_S
            if policy.automatic and stale:
                self._start(rec.name, "recovery", "retrying after resources were released")
            return
        if problems:
            ep.clear_since = None
            if policy.automatic and now - ep.started >= policy.hold_off_s:
                kind = "re-bind" if all(p.startswith("achieved") for p in problems) else "re-route"
                self._start(rec.name, kind, "; ".join(problems))
            return
        ep.clear_since = ep.clear_since if ep.clear_since is not None else now
        if now - ep.clear_since >= policy.hold_off_s:
            del self.episodes[rec.name]
            self.ctl.transition(rec, ep.resume, "fault cleared: every element of the path is up")
            self._note("recovered", rec.name, "in place")

    def _adopt(self, rec: UnitRecord, intent: ServiceIntent, now: float) -> Episode:
        """A unit in trouble that this loop did not see start (the orchestrator was
        restarted): carry on from its stored state."""
        done = rec.delivered >= intent.size
        ep = Episode(UnitState.ACTIVE if done else UnitState.ESTABLISHING, now, time.time())
        ep.released = not rec.edits
        self.episodes[rec.name] = ep
        if rec.state == UnitState.RE_BINDING:  # interrupted in the middle: start again
            self._start(rec.name, "recovery", "resuming after an orchestrator restart")
        return ep

    # -- actions --------------------------------------------------------------------------

    def _degrade(self, rec: UnitRecord, problems: list[str], ep: Episode | None, now: float):
        wall = min(
            (self.elements.states[p].since_wall for p in problems if p in self.elements.states),
            default=time.time(),
        )
        if ep is None:
            resume = rec.state
            ep = self.episodes[rec.name] = Episode(resume, now, wall)
        else:  # a new fault while the last restoration was still establishing
            ep.restoring, ep.started, ep.clear_since = False, now, None
        policy = self.ctl.intents[rec.name].policy
        plan = (
            f"restoration after a hold-off of {policy.hold_off_s:g} s"
            if policy.automatic
            else "restoration manual: waiting for the operator"
        )
        rec.last_action = f"degraded: {'; '.join(problems)}"
        self.ctl.transition(rec, UnitState.DEGRADED, f"{', '.join(problems)} on path; {plan}")
        self._note("degraded", rec.name, ", ".join(problems))

    def _maybe_refresh(self, rec: UnitRecord, intent: ServiceIntent) -> None:
        ttl = intent.time_to_live_s
        if ttl is None or not rec.hops or not rec.quis or self.telemetry is None:
            return
        head = rec.hops[0]
        qid = next((q.id for q in rec.quis if q.domain == head.domain), None)
        facts = self.telemetry.facts.quis.get((head.node, qid or ""))
        if facts is None or not facts.expiry:
            return
        expiry = datetime.fromisoformat(facts.expiry.replace("Z", "+00:00")).timestamp()
        left = expiry - time.time()
        if left < max(REFRESH_MARGIN_S, ttl / 5) and intent.valid_until > expiry + 1:
            ep = self.episodes[rec.name] = Episode(UnitState.ACTIVE, time.monotonic(), time.time())
            ep.restoring = False
            self._start(rec.name, "refresh", f"QUI {qid} on {head.node} expires in {left:.1f} s")

    def _start(self, name: str, kind: str, why: str) -> None:
        self._busy.add(name)
        self._spawn(self._reallocate(name, kind, why))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("restoration task failed", exc_info=task.exception())

    async def _reallocate(self, name: str, kind: str, why: str) -> None:
        """Release the unit's allocation, then allocate it on the best usable path."""
        ctl = self.ctl
        rec, intent, ep = ctl.records.get(name), ctl.intents.get(name), self.episodes.get(name)
        if rec is None or intent is None or ep is None:  # deleted meanwhile
            self._busy.discard(name)
            return
        try:
            ep.tried_version, ep.tried_at = self.elements.version, time.monotonic()
            if rec.state != UnitState.RE_BINDING:
                ctl.transition(rec, UnitState.RE_BINDING, f"{kind}: {why}")
            self._note(kind, name, why)
            async with ctl.unit_lock(name):
                ends = [e.agent for e in rec.edits if e.agent.startswith("ss:")]
                if rec.edits:
                    left = await remove_everywhere(ctl.sb, rec.edits)
                    rec.edits = [e for e in rec.edits if e.agent in left]
                ctl.ledger.release(name)
                rec.handles, rec.delivered, rec.achieved_fidelity = [], 0, None
            await self._store_cleared(name, ends)
            topo = usable(ctl.topology, self.elements, time.monotonic())
            try:
                adm = admit(intent, ctl.applications, topo, ctl.ledger, {})
            except Refusal as refusal:
                ep.released = True
                why = f"{kind} impossible: {refusal.message}; resources released"
                rec.last_action = why
                ctl.transition(rec, UnitState.DEGRADED, why)
                return
            if not await ctl.provision(adm, failed=UnitState.DEGRADED):
                ep.released = True
                return
            ep.released, ep.restoring = False, True
            if kind in ("re-route", "recovery"):
                rec.reroute_count += 1
            elif kind == "re-bind":
                rec.rebinding_count += 1
            else:
                rec.refresh_count += 1
            rec.last_action = f"{kind}: {why}"
            ctl.store.save(rec, intent.fingerprint)
            ctl.changed()
        finally:
            self._busy.discard(name)

    async def _store_cleared(self, name: str, ends: list[str]) -> None:
        """Wait until telemetry shows the old endpoint stores gone, so the store of the
        new allocation is counted from zero (bounded: polling covers the rest)."""
        deadline = time.monotonic() + STORE_CLEAR_S
        nodes = [e.partition(":")[2] for e in ends]
        while self.telemetry is not None and time.monotonic() < deadline:
            stores = self.telemetry.facts.stores
            if all(name not in stores.get(n, {}) for n in nodes):
                return
            await asyncio.sleep(0.02)

    def _restored(self, rec: UnitRecord, ep: Episode) -> None:
        del self.episodes[rec.name]
        rec.last_restoration_ms = (time.time() - ep.detected_wall) * 1000
        intent = self.ctl.intents[rec.name]
        self.ctl.store.save(rec, intent.fingerprint)
        self.ctl.changed()
        self._note("restored", rec.name, f"{rec.last_restoration_ms:.0f} ms")

    def _note(self, what: str, subject: str, detail: str = "", wall: float | None = None):
        self.events.append(Event(wall if wall is not None else time.time(), what, subject, detail))
        log.info("restoration: %s %s %s", what, subject, detail)
