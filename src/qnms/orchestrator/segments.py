"""Segments: a domain orchestrator's part of an inter-domain service unit (ACTN PNC role).

A parent orchestrator (``qnms.mdsc``) creates ``segments/segment`` entries of
qnms-domain-abstract on the domain's northbound with edit-config: from a local end (an
endpoint URN the domain serves) to one of its border nodes, stitched there to ``peer``,
the node across the inter-domain link. The domain admits the segment on the edit itself
(an rpc-error naming the field at fault, nothing changed, when it cannot serve it), then
allocates it exactly like a unit's path: one domain-scoped QUI on every node of the
route, the border node swapping towards the peer, the endpoint's SS store bound to the
parent's identifier URNs, all in one network-wide transaction; the memory ledger is the
domain controller's own, so segments and local units never share a qubit. The segment
that heads the unit (``continuation`` set) asks the twin for generation along its route
followed by the continuation. Its state (QUI id, recorded route, estimate, deliveries at
the domain's endpoint) is what the parent reads back; nothing else leaves the domain.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import secrets
import time
from typing import TYPE_CHECKING

from lxml import etree

from qnms.orchestrator.abstract import ABS, border_peers
from qnms.orchestrator.border import border_faults
from qnms.orchestrator.edits import (
    AllocationPlan,
    EndpointBinding,
    GenerationRequest,
    HopAllocation,
    agent_edits,
    qui_id,
)
from qnms.orchestrator.lifecycle import HOLDS_RESOURCES, Estimate, Hop, QuiRef, UnitRecord
from qnms.orchestrator.lifecycle import UnitState as S
from qnms.orchestrator.monitor import read_stores
from qnms.orchestrator.paths import PathEstimate, PathRequirements, candidate_paths, closest_miss
from qnms.orchestrator.planning import memory_picker
from qnms.orchestrator.segment_data import SegmentIntent, read_segments, refusal, segment_state
from qnms.orchestrator.southbound import SouthboundError
from qnms.orchestrator.store import Store
from qnms.orchestrator.transaction import Transaction, remove_everywhere
from qnms.yang.errors import ErrorTag, RpcError

if TYPE_CHECKING:
    from qnms.orchestrator.admission import CapacityLedger
    from qnms.orchestrator.controller import Controller

log = logging.getLogger(__name__)
LEDGER_PREFIX = "segment:"  # ledger keys, apart from the domain's own unit names


class Segments:
    """Admission, allocation, monitoring and release of one domain's segments."""

    def __init__(self, controller: Controller, domain: str, store: Store) -> None:
        self.ctl = controller
        self.domain = domain
        self.store = store
        self.intents: dict[str, SegmentIntent] = {}
        self.records: dict[str, UnitRecord] = {}
        self.pending: dict[str, list[PathEstimate]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    # -- admission (write check of the northbound) --------------------------------------

    def admit(self, seg: SegmentIntent, ledger: CapacityLedger) -> list[PathEstimate]:
        """Feasible routes from the local end to the border, best first, or raise."""
        topo = self.ctl.topology
        links = {(p.border, p.peer): p for p in border_peers(self.ctl.discovery)}
        if seg.border not in {b for b, _ in links}:
            raise refusal(
                seg.name,
                "border",
                "not-a-border-node",
                f"{seg.border!r} is not a border node of domain {self.domain}",
            )
        link = links.get((seg.border, seg.peer))
        if link is None:
            raise refusal(
                seg.name,
                "peer",
                "no-inter-domain-link",
                f"border node {seg.border} has no link to {seg.peer!r}",
            )
        if not link.up:
            raise refusal(
                seg.name,
                "peer",
                "inter-domain-link-down",
                f"the link {seg.border}-{seg.peer} is down",
                ErrorTag.OPERATION_FAILED,
            )
        node = topo.endpoint_node(seg.local_end)
        if node is None:
            raise refusal(
                seg.name,
                "local-end",
                "segment-not-served",
                f"domain {self.domain} serves no endpoint {seg.local_end!r}",
            )
        req = PathRequirements(target_fidelity=seg.target_fidelity)
        estimates = candidate_paths(topo, node, seg.border, req, ledger.free_by_node())
        feasible = [e for e in estimates if e.feasible]
        if feasible:
            return feasible
        best = closest_miss(estimates)
        if best is None or best.first_violation is None:
            raise refusal(
                seg.name,
                "border",
                "no-path",
                f"no quantum path from {seg.local_end} to {seg.border}",
                ErrorTag.OPERATION_FAILED,
            )
        why = best.first_violation.value
        raise refusal(
            seg.name,
            "target-fidelity" if "fidelity" in why else "",
            why,
            f"segment {seg.local_end} to {seg.border} cannot be served: {why} "
            f"(best estimated fidelity {best.fidelity:.6f})",
            ErrorTag.OPERATION_FAILED,
        )

    def check(self, datastore: str, old: etree._Element, new: etree._Element, _sid: int) -> None:
        if datastore != "running":
            return
        before, after = read_segments(old), read_segments(new)
        scratch = copy.deepcopy(self.ctl.ledger)
        pending = {}
        for name, seg in after.items():
            prev = before.get(name)
            if prev is not None:
                if prev.fingerprint != seg.fingerprint:
                    raise refusal(
                        name,
                        "",
                        "segment-exists",
                        f"segment {name!r} exists: delete it and create it again",
                        ErrorTag.DATA_EXISTS,
                    )
                continue
            paths = self.admit(seg, scratch)
            scratch.reserve(LEDGER_PREFIX + name, paths[0].qubits, self._picker(paths[0]))
            pending[name] = paths
        self.pending = pending

    def _picker(self, est: PathEstimate):
        return memory_picker(self.ctl.topology, est)

    # -- after a change ------------------------------------------------------------------

    def sync(self, running: etree._Element) -> None:
        segs = read_segments(running)
        for name in list(self.intents):
            if name not in segs:
                del self.intents[name]
                self._spawn(self.release(name, S.RELEASED, "deleted by the parent", True))
        for name, seg in segs.items():
            if name in self.intents:
                continue
            self.intents[name] = seg
            if name in self.records:  # taken back from the store after a restart
                continue
            rec = self.records[name] = UnitRecord(name)
            self.transition(rec, S.ADMITTED, "segment admitted")
            paths = self.pending.pop(name, None)
            if paths is None:
                try:
                    paths = self.admit(seg, self.ctl.ledger)
                except RpcError as err:
                    self.transition(rec, S.FAILED, err.message)
                    continue
            self._spawn(self._provision(seg, paths))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def transition(self, rec: UnitRecord, state: S, reason: str | None) -> None:
        rec.state = state
        rec.failure_reason = reason if state == S.FAILED else None
        self.store.save(rec, self.intents[rec.name].fingerprint if rec.name in self.intents else "")
        log.info("segment %s of domain %s: %s (%s)", rec.name, self.domain, state, reason)
        self.ctl.changed()

    # -- allocation ----------------------------------------------------------------------

    def plan(self, seg: SegmentIntent, est: PathEstimate, handles) -> AllocationPlan:
        """Hops in the unit's path order: head segment local end first, border last
        (downstream: the peer); otherwise the border first (upstream: the peer)."""
        topo = self.ctl.topology
        nodes = list(est.nodes) if seg.heads else list(reversed(est.nodes))
        before = [None, *nodes[:-1]]
        after = [*nodes[1:], None]
        if seg.heads:
            after[-1] = seg.peer
        else:
            before[0] = seg.peer
        qui = qui_id(seg.name, self.domain)
        hops = tuple(
            HopAllocation(
                n,
                self.domain,
                qui,
                secrets.token_hex(8),
                tuple(h for h in handles if h.node == n),
                up,
                down,
            )
            for n, up, down in zip(nodes, before, after, strict=True)
        )
        ttl = max(seg.valid_until - time.time(), 1.0)
        heads_twin = seg.heads and nodes[0] in topo.generation_nodes
        return AllocationPlan(
            unit=seg.name,
            service_type=seg.service_type,
            identifier=seg.identifier,
            size=seg.size,
            valid_until=seg.valid_until,
            time_to_live_s=ttl,
            coherence_window_ms=None,
            hops=hops,
            endpoints=(EndpointBinding(est.nodes[0], seg.local_end, qui),),
            generation=GenerationRequest(
                pairs=seg.size,
                target_fidelity=seg.target_fidelity,
                purification=est.purification_rounds > 0,
                max_swaps=len(nodes) + len(seg.continuation) - 2,
            )
            if heads_twin
            else None,
            continuation=seg.continuation if heads_twin else (),
        )

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _provision(self, seg: SegmentIntent, paths: list[PathEstimate]) -> None:
        """One segment's allocation, under its lock: a delete waits for it, then undoes it."""
        async with self._lock(seg.name):
            rec = self.records.get(seg.name)
            if rec is not None and self.intents.get(seg.name) == seg:
                await self._allocate(seg, rec, paths)

    async def _allocate(self, seg: SegmentIntent, rec: UnitRecord, paths) -> None:
        reasons: list[str] = []
        key = LEDGER_PREFIX + seg.name
        for est in paths:
            if self.intents.get(seg.name) != seg:
                return  # deleted meanwhile
            try:
                handles = self.ctl.ledger.reserve(key, est.qubits, self._picker(est))
            except ValueError as err:
                reasons.append(f"{'-'.join(est.nodes)}: {err}")
                continue
            edits = agent_edits(self.plan(seg, est, handles))
            result = await Transaction(
                self.ctl.sb, edits, confirm_timeout=self.ctl.confirm_timeout
            ).run()
            if result.ok:
                rec.hops = [Hop(i, n, self.domain) for i, n in enumerate(est.nodes)]
                rec.quis = [QuiRef(self.domain, qui_id(seg.name, self.domain))]
                rec.estimate = Estimate(
                    est.fidelity,
                    est.rate,
                    est.success_probability,
                    est.latency_ms,
                    est.classical_latency_ms,
                    est.swaps,
                    est.loss_db,
                    est.purification_rounds,
                )
                rec.handles, rec.edits = list(handles), list(edits)
                rec.delivered, rec.achieved_fidelity = 0, None  # new stores count from zero
                if self.intents.get(seg.name) != seg:  # deleted while committing
                    await self._release(seg.name, S.RELEASED, "deleted by the parent", True)
                    return
                self.transition(rec, S.ESTABLISHING, f"allocated on {'-'.join(est.nodes)}")
                return
            self.ctl.ledger.release(key)
            reasons.append(f"{'-'.join(est.nodes)}: {result.reason}")
        self.transition(rec, S.FAILED, "allocation failed on every route: " + "; ".join(reasons))

    async def release(self, name: str, final: S, reason: str, forget: bool) -> None:
        async with self._lock(name):
            await self._release(name, final, reason, forget)

    async def _release(self, name: str, final: S, reason: str, forget: bool) -> None:
        rec = self.records.get(name)
        if rec is None:
            return
        if rec.edits:
            problems = await remove_everywhere(self.ctl.sb, rec.edits)
            rec.edits = [e for e in rec.edits if e.agent in problems]
            if problems:
                reason += "; not yet removed from " + ", ".join(sorted(problems))
        self.ctl.ledger.release(LEDGER_PREFIX + name)
        rec.handles = []
        if rec.state not in (S.RELEASED, S.EXPIRED, S.FAILED) or forget:
            self.transition(rec, final, reason)
        if forget and not rec.edits:
            self.records.pop(name, None)
            self.store.delete(name)
        self.ctl.changed()

    # -- monitoring, expiry, restart -------------------------------------------------------

    def restore(self) -> None:
        """After the controller started: take back the stored segments and their qubits."""
        for name, (rec, _fp) in self.store.load().items():
            self.records[name] = rec
            if rec.state in HOLDS_RESOURCES:
                self.ctl.ledger.restore(LEDGER_PREFIX + name, rec.handles)

    async def poll_once(self) -> None:
        now = time.time()
        for name, rec in list(self.records.items()):
            seg = self.intents.get(name)
            if seg is not None and seg.valid_until <= now and rec.state in HOLDS_RESOURCES:
                await self.release(name, S.EXPIRED, "valid-until passed", False)
            elif seg is None and rec.edits:
                await self.release(name, S.RELEASED, "retried release", True)
        watched = {
            n: r
            for n, r in self.records.items()
            if r.state in (S.ESTABLISHING, S.ACTIVE) and n in self.intents
        }
        links = {n: (self.intents[n].border, self.intents[n].peer) for n in watched}
        faults = await border_faults(self.ctl.sb, set(links.values()))
        for name, link in links.items():
            if link in faults and name in self.intents:
                await self.release(name, S.FAILED, faults[link], False)
                watched.pop(name)
        agents = sorted(
            {e.agent for r in watched.values() for e in r.edits if e.agent.startswith("ss:")}
        )
        if not agents:
            return
        readings = await self.ctl.sb.fan_out(agents, "segments", lambda _k, m: read_stores(m))
        for name, rec in watched.items():
            end = next((e.agent for e in rec.edits if e.agent.startswith("ss:")), "")
            got, seg = readings.get(end), self.intents.get(name)
            if seg is None or got is None or isinstance(got, SouthboundError) or name not in got:
                continue  # deleted meanwhile, or its endpoint agent did not answer
            reading, target = got[name], seg.target_fidelity
            if (reading.delivered, reading.fidelity) == (rec.delivered, rec.achieved_fidelity):
                continue
            if reading.delivered < rec.delivered:
                continue  # older than a reading already taken (stores only count up)
            rec.delivered, rec.achieved_fidelity = reading.delivered, reading.fidelity
            good = reading.fidelity is not None and (target is None or reading.fidelity >= target)
            if rec.state == S.ESTABLISHING and reading.delivered >= seg.size and good:
                self.transition(rec, S.ACTIVE, f"{reading.delivered} unit(s) delivered")
            else:
                self.ctl.changed()

    async def loop(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await self.poll_once()
            except Exception:
                log.exception("segment monitoring failed")

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- state ----------------------------------------------------------------------------

    def state(self) -> list[etree._Element]:
        top = etree.Element(f"{{{ABS}}}segments", nsmap={None: ABS})
        for name in self.intents:
            rec = self.records.get(name)
            if rec is not None:
                top.append(segment_state(rec))
        return [top] if len(top) else []
