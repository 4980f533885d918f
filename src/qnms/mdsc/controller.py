"""The parent's control loop: inter-domain units from per-domain segments.

Admission on the edit (a refusal is an rpc-error and nothing changes): two endpoints,
registered applications, each endpoint routed to a known domain by its URN prefix, a
service type the originator may ask for, a lifetime not yet over. Provisioning then
runs as a task per unit, each step a state change with its reason:

1. read both domains' abstract views; a domain that does not answer fails the unit;
2. choose the border crossing (``stitch``);
3. ask the tail domain (the second endpoint's) for its segment, wait for its recorded
   route; then ask the head domain for its segment with that route as continuation, so
   its head-end asks generation along the whole path;
4. any refusal or failure releases what the other domain already holds (rollback on
   partial failure) and the unit fails with the domain's reason.

A unit whose endpoints are both in one domain is that domain's own: the parent creates
it on the domain's qnms-service with the same intent and follows its state.

The monitor reads both segments (or the delegated unit): the unit is active when both
are, fails (and is released) when one fails, expires when its lifetime is over.
Deleting the unit removes both segments; a domain that cannot be reached keeps its
removal pending and retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from lxml import etree

from qnms.mdsc.stitch import crossings
from qnms.mdsc.units import route, unit_state
from qnms.mdsc.views import (
    VIEW_FILTER,
    DomainView,
    SegmentFailed,
    SegmentRequest,
    SegmentStatus,
    delegate_edit,
    parse_segment,
    parse_unit,
    parse_view,
    segment_filter,
    unit_filter,
)
from qnms.orchestrator.admission import Refusal
from qnms.orchestrator.edits import AgentEdit
from qnms.orchestrator.intent import SVC, Application, ServiceIntent, read_applications, read_units
from qnms.orchestrator.lifecycle import (
    Estimate,
    Hop,
    QuiRef,
    UnitRecord,
    apply_transition,
    now_rfc3339,
)
from qnms.orchestrator.lifecycle import UnitState as S
from qnms.orchestrator.southbound import Southbound, SouthboundError
from qnms.orchestrator.store import Store
from qnms.orchestrator.tasks import settle
from qnms.orchestrator.transaction import remove_everywhere
from qnms.service.identifiers import ServiceUnitId
from qnms.yang.errors import ErrorTag


class ParentController:
    """Intent in, segments on domain orchestrators out."""

    def __init__(
        self,
        southbound: Southbound,
        store: Store,
        *,
        monitor_period: float = 0.5,
        settle_timeout: float = 60.0,
    ) -> None:
        self.sb = southbound
        self.store = store
        self.domains = [key.partition(":")[2] for key in southbound.sessions]
        self.monitor_period = monitor_period
        self.settle_timeout = settle_timeout
        self.applications: dict[str, Application] = {}
        self.intents: dict[str, ServiceIntent] = {}
        self.records: dict[str, UnitRecord] = {}
        self.publish: Callable[[etree._Element], None] = lambda _n: None
        self.changed: Callable[[], None] = lambda: None
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.Task | None = None

    async def start(self, monitor: Callable[[ParentController], Coroutine[Any, Any, None]]) -> None:
        """Load the units from the store and run ``monitor`` (``mdsc.monitor``
        ``monitor_loop``, handed in by the composition) until ``stop``."""
        self.records = {name: rec for name, (rec, _fp) in self.store.load().items()}
        self._loop = asyncio.create_task(monitor(self))

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._loop] if self._loop else [])]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        await settle(self._tasks)

    # -- northbound hooks ----------------------------------------------------------------

    def check(self, datastore: str, old: etree._Element, new: etree._Element, _sid: int) -> None:
        if datastore != "running":
            return
        apps = read_applications(new)
        before = read_units(old)
        for name, intent in read_units(new).items():
            prev = before.get(name)
            if prev is not None and prev.fingerprint != intent.fingerprint:
                raise Refusal(
                    "service-unit-exists",
                    f"service unit {name!r} exists: delete it and create it again",
                    name,
                    "",
                    ErrorTag.DATA_EXISTS,
                ).to_rpc_error()
            if prev is None:
                try:
                    self.route(intent, apps)
                except Refusal as refusal:
                    raise refusal.to_rpc_error() from None

    def route(self, intent: ServiceIntent, apps: dict[str, Application]) -> tuple[str, str]:
        """(head domain, tail domain) of an admissible unit, or raise ``Refusal``."""
        return route(intent, apps, self.domains)

    def sync(self, running: etree._Element) -> None:
        self.applications = read_applications(running)
        units = read_units(running)
        for name in set(self.intents) | set(self.records):
            if name not in units:
                self.intents.pop(name, None)
                self._spawn(self.release(name, S.RELEASED, "deleted", forget=True))
        for name, intent in units.items():
            if name in self.intents:
                continue
            self.intents[name] = intent
            if name in self.records:  # taken back from the store
                if self.records[name].state in (S.REQUESTED, S.ADMITTED):
                    self._spawn(self._provision(intent))  # interrupted: start again
                continue
            rec = self.records[name] = UnitRecord(name)
            rec.timestamps["requested"] = now_rfc3339()
            self.transition(rec, S.REQUESTED, "intent received")
            self._spawn(self._provision(intent))

    def state(self) -> list[etree._Element]:
        top = etree.Element(f"{{{SVC}}}service-units", nsmap={None: SVC})
        for name in self.intents:
            if (rec := self.records.get(name)) is not None:
                top.append(unit_state(rec))
        return [top] if len(top) else []

    def transition(self, rec: UnitRecord, state: S, reason: str | None) -> None:
        """Record and announce a parent unit's new state (as a domain unit's)."""
        apply_transition(self, rec, state, reason, kind="parent unit")

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # -- provisioning --------------------------------------------------------------------

    async def _views(self, domains: list[str]) -> dict[str, DomainView]:
        got = await self.sb.fan_out(
            [f"domain:{d}" for d in domains],
            "abstract-view",
            lambda _k, m: parse_view(m.get(filter=("subtree", VIEW_FILTER)).data_ele),
        )
        for key, result in got.items():
            if isinstance(result, SouthboundError):
                raise SegmentFailed(f"domain {key.partition(':')[2]} unreachable: {result}")
        return {key.partition(":")[2]: view for key, view in got.items()}

    async def _read(self, domain: str, flt: str, parse) -> SegmentStatus | None:
        try:
            return await self.sb.call(
                f"domain:{domain}", "read", lambda m: parse(m.get(filter=("subtree", flt)).data_ele)
            )
        except SouthboundError as err:
            raise SegmentFailed(f"domain {domain} unreachable: {err}") from None

    async def segment(self, domain: str, unit: str) -> SegmentStatus | None:
        """A segment's state on its domain (None: no such segment)."""
        return await self._read(domain, segment_filter(unit), parse_segment)

    async def _apply(
        self,
        rec: UnitRecord,
        intent: ServiceIntent,
        edit: AgentEdit,
        step: str,
        refused: str,
    ) -> None:
        """Write ``edit`` on its domain, recorded (and saved) first so that a crash or a
        release finds it to undo; a refusal fails the unit with ``refused: why``."""
        rec.edits.append(edit)
        self.store.save(rec, intent.fingerprint)
        try:
            await self.sb.call(
                edit.agent,
                step,
                lambda m: m.edit_config(target="running", config=edit.apply_xml),
                retry=False,
            )
        except SouthboundError as err:
            raise SegmentFailed(f"{refused}: {err}") from None

    async def _ask(self, rec: UnitRecord, req: SegmentRequest) -> SegmentStatus:
        """Create one segment and wait until its domain has allocated it."""
        intent = self.intents.get(rec.name)
        if intent is None:
            raise SegmentFailed("deleted while being provisioned")
        await self._apply(
            rec, intent, req.edit(), "segment", f"domain {req.domain} refused its segment"
        )
        deadline = time.monotonic() + self.settle_timeout
        while time.monotonic() < deadline:
            status = await self.segment(req.domain, req.unit)
            if status is not None and status.state == S.FAILED:
                raise SegmentFailed(f"segment in {req.domain} failed: {status.reason}")
            if status is not None and status.route:
                return status
            await asyncio.sleep(0.1)
        raise SegmentFailed(f"segment in {req.domain} not allocated after {self.settle_timeout} s")

    async def _provision(self, intent: ServiceIntent) -> None:
        name = intent.name
        async with self.lock(name):
            rec = self.records.get(name)
            if rec is None or self.intents.get(name) != intent:
                return  # deleted before its turn
            await self._remove(rec)  # what an interrupted provisioning asked (restart)
            try:
                head, tail = self.route(intent, self.applications)
                if head == tail:
                    self.transition(rec, S.ADMITTED, f"intra-domain unit: delegated to {head}")
                    await self._delegate(intent, rec, head)
                else:
                    self.transition(rec, S.ADMITTED, f"inter-domain unit: {head} to {tail}")
                    await self._stitch(intent, rec, head, tail)
            except (Refusal, SegmentFailed) as err:
                await self.rollback(rec, str(err))

    async def _stitch(self, intent: ServiceIntent, rec: UnitRecord, head: str, tail: str) -> None:
        views = await self._views([head, tail])
        (u1, u2), req = intent.endpoints, intent.requirements
        options = crossings(views[head], views[tail], u1, u2)
        if not options:
            raise SegmentFailed(f"no border crossing from {head} to {tail} serves {u1} to {u2}")
        best = options[0]
        params: dict[str, int | str] = {"size": intent.size, "valid-until": intent.valid_until}
        if intent.lifecycle_fidelity is not None:
            params["fidelity"] = f"{intent.lifecycle_fidelity:g}"
        ident = tuple(ServiceUnitId.build(intent.endpoints, params).urns())

        def request(domain: str, end: str, border: str, peer: str, cont=()) -> SegmentRequest:
            return SegmentRequest(
                domain,
                intent.name,
                intent.service_type,
                end,
                border,
                peer,
                ident,
                intent.size,
                intent.valid_until,
                req.target_fidelity,
                tuple(cont),
            )

        tail_seg = await self._ask(rec, request(tail, u2, best.tail_border, best.head_border))
        continuation = tuple(reversed(tail_seg.route))  # peer first, the tail endpoint last
        head_seg = await self._ask(
            rec, request(head, u1, best.head_border, best.tail_border, continuation)
        )
        rec.identifier = list(ident)
        rec.hops = [Hop(0, best.head_border, head), Hop(1, best.tail_border, tail)]
        rec.quis = [QuiRef(head, head_seg.qui), QuiRef(tail, tail_seg.qui)]
        rec.estimate = Estimate(
            best.fidelity,
            best.rate,
            1.0,
            best.latency_ms,
            0.0,
            len(head_seg.route) + len(tail_seg.route) - 2,
            0.0,
            0,
        )
        self.transition(
            rec,
            S.ESTABLISHING,
            f"segments in {head} and {tail} stitched at {best.head_border}-{best.tail_border}",
        )

    async def _delegate(self, intent: ServiceIntent, rec: UnitRecord, domain: str) -> None:
        """Both endpoints in one domain: the unit itself is that domain's to provision."""
        edit = delegate_edit(domain, intent.name, intent.fingerprint)
        await self._apply(rec, intent, edit, "delegate", f"domain {domain} refused the unit")
        self.transition(rec, S.ESTABLISHING, f"provisioned by domain {domain}")

    async def _remove(self, rec: UnitRecord) -> str:
        """Remove what the unit asked of the domains; what is left stays in ``rec.edits``
        for a retry, and the returned note says where."""
        if not rec.edits:
            return ""
        problems = await remove_everywhere(self.sb, rec.edits)
        rec.edits = [e for e in rec.edits if e.agent in problems]
        return "; release pending on " + ", ".join(sorted(problems)) if problems else ""

    async def rollback(self, rec: UnitRecord, reason: str) -> None:
        """Release whatever segment was asked for, then fail the unit with ``reason``."""
        self.transition(rec, S.FAILED, reason + await self._remove(rec))

    # -- monitoring, release ---------------------------------------------------------------

    async def release(self, name: str, final: S, reason: str, *, forget: bool) -> None:
        async with self.lock(name):
            rec = self.records.get(name)
            if rec is None:
                return
            reason += await self._remove(rec)
            if rec.state not in (S.RELEASED, S.EXPIRED, S.FAILED):
                self.transition(rec, final, reason)
            if forget and not rec.edits:
                self.records.pop(name, None)
                self.store.delete(name)
                self._locks.pop(name, None)
            self.changed()

    async def unit(self, domain: str, unit: str) -> SegmentStatus | None:
        """A unit delegated to ``domain``, read from its qnms-service state."""
        return await self._read(domain, unit_filter(unit), parse_unit)
