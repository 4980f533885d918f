"""The control loop that turns intent into allocations (seed 5.4 steps 0-3, 5).

The northbound datastore calls ``check`` before a change to running is applied
(admission: a refusal is an rpc-error on the edit and nothing changes) and ``sync``
after it (new units are provisioned, removed ones released). Provisioning runs as a
task per unit: build the identifier (N+1 URNs with fresh endpoint nonces, seed 5.3.2),
reserve memory qubits, run the network-wide transaction on the best path, and on
failure release them and try the next path. Every state transition is a notification
and a store write; ``state`` serves the units' config-false data to ``<get>`` and
YANG-Push. Expired units (valid-until passed) are released like deleted ones.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from lxml import etree

from qnms.orchestrator.activation import hold, policy_changed
from qnms.orchestrator.admission import (
    Admission,
    CapacityLedger,
    Refusal,
    TokenBucket,
)
from qnms.orchestrator.discovery import Discovery, discover
from qnms.orchestrator.edits import AgentEdit, AllocationPlan
from qnms.orchestrator.intent import SVC, Application, ServiceIntent, read_applications, read_units
from qnms.orchestrator.keys import admit_unit, plan_edits
from qnms.orchestrator.lifecycle import (
    HOLDS_RESOURCES,
    Estimate,
    Hop,
    QuiRef,
    UnitRecord,
    UnitState,
    apply_transition,
    now_rfc3339,
    unit_state_element,
)
from qnms.orchestrator.paths import PathEstimate
from qnms.orchestrator.planning import memory_picker
from qnms.orchestrator.reconcile import release_leftovers, repair
from qnms.orchestrator.southbound import Southbound
from qnms.orchestrator.store import Store
from qnms.orchestrator.tasks import settle
from qnms.orchestrator.topology import Topology
from qnms.orchestrator.transaction import PhaseHook, Transaction, remove_everywhere
from qnms.yang.errors import ErrorTag

log = logging.getLogger(__name__)

Loop = Callable[["Controller"], Coroutine[Any, Any, None]]
"""A background task of the controller, started once it has discovered the network."""
AccessCheck = Callable[[int, ServiceIntent], None]
"""Raise ``RpcError`` (access-denied) if the session may not request this unit: the
seam where NACM-derived per-application rules plug in (issue 10, access control)."""


class Controller:
    """Intent in, allocations on agents out; one per orchestrator."""

    def __init__(
        self,
        southbound: Southbound,
        store: Store,
        *,
        confirm_timeout: int = 30,
        access_check: AccessCheck | None = None,
        expiry_period: float = 0.5,
        monitor_period: float = 1.0,
        upkeep_period: float = 10.0,
        reconcile: bool = True,
    ) -> None:
        self.sb = southbound
        self.store = store
        self.confirm_timeout = confirm_timeout
        self.access_check = access_check
        self.expiry_period = expiry_period
        self.monitor_period = monitor_period
        self.upkeep_period = upkeep_period
        self.reconcile = reconcile
        self.discovery = Discovery()
        self.discovery_seconds = 0.0
        self.ledger = CapacityLedger()
        self.applications: dict[str, Application] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.intents: dict[str, ServiceIntent] = {}
        self.records: dict[str, UnitRecord] = {}
        self.pending: dict[str, Admission] = {}
        self.on_demand: dict[str, Admission] = {}  # reserved, waiting for activation
        self.phase_hook: PhaseHook | None = None  # fault injection in tests
        self.publish: Callable[[etree._Element], None] = lambda _n: None
        self.changed: Callable[[], None] = lambda: None
        # the topology admission routes on: the closed loop leaves out failed elements
        self.usable: Callable[[Topology], Topology] = lambda topo: topo
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task] = set()
        self._releasing: set[str] = set()
        self._background: list[asyncio.Task] = []
        # records of allocations made outside the units (a domain's segments): the
        # start-up repair keeps what they hold on the agents
        self.also_owned: Callable[[], list[UnitRecord]] = list

    @property
    def topology(self) -> Topology:
        return self.discovery.topology

    # -- start / stop ------------------------------------------------------------------

    async def start(self, wait: float = 0.0, background: Sequence[Loop] = ()) -> None:
        """Discover the network (waiting up to ``wait`` seconds for agents that do not
        answer yet), take back the units the store remembers, then run the
        ``background`` loops (monitoring, expiry, upkeep: given by the caller, so they
        may depend on the controller and not the reverse)."""
        deadline = time.monotonic() + wait
        self.discovery = await discover(self.sb)
        while self.discovery.unreachable and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            self.discovery = await discover(self.sb)
        self.discovery_seconds = time.monotonic() - deadline + wait  # topology ready
        for key, why in sorted(self.discovery.unreachable.items()):
            log.warning("discovery: %s did not answer: %s", key, why)
        self.ledger = CapacityLedger.from_topology(self.topology)
        for name, (rec, _fp) in self.store.load().items():
            self.records[name] = rec
            if rec.state in HOLDS_RESOURCES:
                self.ledger.restore(name, rec.handles)
        if self.reconcile and self.sb.sessions:  # after a crash: agents back in line
            owned = [*self.records.values(), *self.also_owned()]
            await repair(self.sb, owned, self.confirm_timeout)
        self._background = [asyncio.create_task(loop(self)) for loop in background]

    async def stop(self) -> None:
        tasks = [*self._background, *self._tasks]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("controller task failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until no provisioning or release is running (tests, shutdown)."""
        await settle(self._tasks)

    # -- northbound hooks ------------------------------------------------------------------

    def check(
        self, datastore: str, old: etree._Element, new: etree._Element, session_id: int
    ) -> None:
        """Write check of the northbound datastore: admit every new unit in running or
        refuse the write (a candidate is admitted when it is committed)."""
        if datastore != "running":
            return
        applications = read_applications(new)
        before, after = read_units(old), read_units(new)
        scratch, buckets = copy.deepcopy(self.ledger), copy.deepcopy(self.buckets)
        pending: dict[str, Admission] = {}
        now = time.time()
        for name, intent in after.items():
            prev = before.get(name)
            if prev is not None:
                if prev.fingerprint != intent.fingerprint:
                    raise Refusal(
                        "service-unit-exists",
                        f"service unit {name!r} already exists and its intent cannot be "
                        "changed in place: delete it and create it again",
                        name,
                        "",
                        ErrorTag.DATA_EXISTS,
                    ).to_rpc_error()
                continue
            if self.access_check is not None:
                self.access_check(session_id, intent)
            try:
                topo = self.usable(self.topology)
                adm = admit_unit(intent, applications, topo, scratch, buckets, now)
            except Refusal as refusal:
                raise refusal.to_rpc_error() from None
            # later units of the same edit see this one's qubits and token as taken
            scratch.reserve(name, adm.paths[0].qubits, self._memory_picker(adm.paths[0]))
            if adm.application.name in buckets:
                buckets[adm.application.name].take(now)
            pending[name] = adm
        self.pending = pending

    def sync(self, running: etree._Element) -> None:
        """After a change to running: provision new units, release removed ones."""
        self.applications = read_applications(running)
        now = time.time()
        for app in self.applications.values():
            bucket = self.buckets.get(app.name)
            if bucket is None or (bucket.rate, bucket.burst) != (app.rate, app.burst):
                self.buckets[app.name] = TokenBucket(app.rate, app.burst, app.burst, now)
        units = read_units(running)
        for name in set(self.intents) | set(self.records):
            if name not in units:
                self.intents.pop(name, None)
                self.release_once(name, UnitState.RELEASED, "deleted", forget=True)
        for name, intent in units.items():
            if name in self.intents:
                old, self.intents[name] = self.intents[name], intent
                if intent.policy != old.policy:  # restoration or activation settings
                    policy_changed(self, name, old.policy)
                continue
            self.intents[name] = intent
            if name in self.records:  # restored from the store
                if self.records[name].state in (UnitState.REQUESTED, UnitState.ADMITTED):
                    self._spawn(self._resume(intent))  # interrupted before established
                continue
            adm = self.pending.pop(name, None)
            self._new_unit(intent, adm)

    async def _resume(self, intent: ServiceIntent) -> None:
        """Clean up what an interrupted allocation may have left, then provision again."""
        rec, topo = self.records[intent.name], self.topology
        async with self.unit_lock(intent.name):
            problems = await release_leftovers(self.sb, intent.name, set(self.records))
            if problems:
                log.warning("resuming %s: cleanup incomplete on %s", intent.name, problems)
        try:
            adm = admit_unit(intent, self.applications, topo, self.ledger, {})
        except Refusal as refusal:
            self.transition(rec, UnitState.FAILED, refusal.message)
            return
        self.transition(rec, UnitState.ADMITTED, "resumed after a restart")
        self.start_unit(adm)

    def _new_unit(self, intent: ServiceIntent, adm: Admission | None) -> None:
        rec = UnitRecord(intent.name)
        rec.timestamps["requested"] = now_rfc3339()
        self.records[intent.name] = rec
        self.transition(rec, UnitState.REQUESTED, "intent received")
        if adm is None:  # not seen by check (restart): admit now
            try:
                topo = self.usable(self.topology)
                adm = admit_unit(intent, self.applications, topo, self.ledger, self.buckets)
            except Refusal as refusal:
                self.transition(rec, UnitState.FAILED, refusal.message)
                return
        bucket = self.buckets.get(adm.application.name)
        if bucket is not None:
            bucket.take(time.time())
        rec.timestamps["admitted"] = now_rfc3339()
        self.transition(rec, UnitState.ADMITTED, f"{len(adm.paths)} candidate path(s)")
        self.start_unit(adm)

    def start_unit(self, adm: Admission) -> None:
        """Provision now, or for an on-demand unit not yet activated only hold its
        memory qubits (qnms.orchestrator.activation)."""
        if adm.intent.policy.on_demand and not adm.intent.policy.activate:
            hold(self, adm)
        else:
            self._spawn(self.provision(adm))

    def state(self) -> list[etree._Element]:
        """StateProvider: the config-false leaves of every unit in running."""
        top = etree.Element(f"{{{SVC}}}service-units", nsmap={None: SVC})
        for name in self.intents:
            rec = self.records.get(name)
            if rec is not None:
                top.append(unit_state_element(rec))
        return [top] if len(top) else []

    # -- lifecycle ---------------------------------------------------------------------------

    def transition(self, rec: UnitRecord, state: UnitState, reason: str | None = None) -> None:
        """Record and announce a unit's new state (``lifecycle.apply_transition``)."""
        apply_transition(self, rec, state, reason, kind="service unit")

    def unit_lock(self, name: str) -> asyncio.Lock:
        """The lock serialising every change of one unit's allocation (provisioning,
        release, the closed loop's re-allocation)."""
        return self._locks.setdefault(name, asyncio.Lock())

    def releasing(self, name: str) -> bool:
        """True while the unit's release is under way (the closed loop leaves it be)."""
        return name in self._releasing

    # -- provisioning --------------------------------------------------------------------

    def _memory_picker(self, est: PathEstimate) -> Callable[[str], str]:
        return memory_picker(self.topology, est)

    def plan_edits(
        self, intent: ServiceIntent, est: PathEstimate, handles
    ) -> tuple[AllocationPlan, list[AgentEdit]]:
        """The plan and edits of ``intent`` on ``est``; a unit re-bound or re-routed keeps
        its identifier (seed 5.4 step 6: same service unit, new resources)."""
        rec = self.records.get(intent.name)
        keep = tuple(rec.identifier) if rec is not None and rec.identifier else None
        return plan_edits(self.topology, intent, self.applications, est, handles, keep)

    def dry_run(self, intent: ServiceIntent) -> dict[str, str]:
        """The per-agent edits the best path would get, without reserving or applying."""
        adm = admit_unit(intent, self.applications, self.topology, self.ledger, self.buckets)
        est = adm.paths[0]
        scratch = copy.deepcopy(self.ledger)
        handles = scratch.reserve(intent.name, est.qubits, self._memory_picker(est))
        _plan, edits = self.plan_edits(intent, est, handles)
        return Transaction(self.sb, edits).dry_run()

    async def provision(self, adm: Admission, failed: UnitState = UnitState.FAILED) -> bool:
        """Allocate on the first admitted path that takes it; else move to ``failed``
        (the closed loop passes ``degraded``). True when allocated."""
        name = adm.intent.name
        async with self.unit_lock(name):
            rec = self.records[name]
            reasons = []
            t0 = time.perf_counter()
            for est in adm.paths:
                if self.intents.get(name) != adm.intent:
                    return False  # deleted (or replaced) while waiting
                try:
                    handles = self.ledger.reserve(name, est.qubits, self._memory_picker(est))
                except ValueError as err:
                    reasons.append(f"{'-'.join(est.nodes)}: {err}")
                    continue
                plan, edits = self.plan_edits(adm.intent, est, handles)
                tx = Transaction(
                    self.sb, edits, confirm_timeout=self.confirm_timeout, on_phase=self.phase_hook
                )
                result = await tx.run()
                if result.ok:
                    self._established(rec, plan, est, handles, edits, time.perf_counter() - t0)
                    return True
                self.ledger.release(name)
                reasons.append(f"{'-'.join(est.nodes)}: {result.reason}")
                log.warning("service unit %s: path %s failed: %s", name, est.nodes, result.reason)
            self.transition(rec, failed, "allocation failed on every path: " + "; ".join(reasons))
            return False

    def _established(self, rec, plan, est, handles, edits, seconds: float) -> None:
        rec.identifier = list(plan.identifier)
        rec.hops = [Hop(i, h.node, h.domain) for i, h in enumerate(plan.hops)]
        rec.quis = [QuiRef(domain, qui) for domain, qui in plan.quis()]
        rec.estimate = Estimate(
            fidelity=est.fidelity,
            rate=est.rate,
            success_probability=est.success_probability,
            latency_ms=est.latency_ms,
            classical_latency_ms=est.classical_latency_ms,
            swaps=est.swaps,
            loss_db=est.loss_db,
            purification_rounds=est.purification_rounds,
        )
        rec.handles, rec.edits = list(handles), list(edits)
        rec.delivered, rec.achieved_fidelity = 0, None  # the new stores count from zero
        rec.provision_ms = seconds * 1000
        self.transition(rec, UnitState.ESTABLISHING, f"allocated on {'-'.join(est.nodes)}")

    # -- release and expiry --------------------------------------------------------------

    def release_once(self, name: str, final: UnitState, reason: str, *, forget: bool) -> None:
        if name not in self._releasing:
            self._releasing.add(name)
            self._spawn(self._release(name, final, reason, forget=forget))

    async def _release(self, name: str, final: UnitState, reason: str, *, forget: bool) -> None:
        try:
            await self._release_locked(name, final, reason, forget=forget)
        finally:
            self._releasing.discard(name)

    async def _release_locked(
        self, name: str, final: UnitState, reason: str, *, forget: bool
    ) -> None:
        async with self.unit_lock(name):
            rec = self.records.get(name)
            if rec is None:
                return
            if rec.edits:
                problems = await remove_everywhere(self.sb, rec.edits)
                rec.edits = [e for e in rec.edits if e.agent in problems]
                if problems:
                    reason += "; not yet removed from " + ", ".join(sorted(problems))
            self.ledger.release(name)
            rec.handles = []
            if rec.state not in (UnitState.RELEASED, UnitState.EXPIRED):
                self.transition(rec, final, reason)
            if forget and not rec.edits:
                self.records.pop(name, None)
                self.store.delete(name)
                self._locks.pop(name, None)
            self.changed()
