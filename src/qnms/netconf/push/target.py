"""One YANG-Push datastore subscription: its selection, its trigger, its pushes.

A periodic target pushes the whole selection on its schedule; an on-change target
keeps the copy it last pushed and sends the difference as a YANG patch, no more often
than its dampening period allows. Both drop to counting when their subscription is
suspended, and an update larger than the configured limit suspends the subscription
(``update-too-big``) until the selection fits again. See ``yang_push`` for the
contract with agents.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree

from qnms.netconf.push.delivery import Subscription, SubscriptionOptions
from qnms.netconf.push.errors import DS_NS, YP_NS, Rpc, TargetKind, sub_error
from qnms.netconf.push.rpcs import FilterSpec
from qnms.netconf.push.selection import Selection
from qnms.netconf.push.triggers import OnChange, Periodic, guarded
from qnms.netconf.push.yang_patch import (
    PathNamer,
    diff,
    event_time,
    push_change_update,
    push_update,
)
from qnms.yang.errors import RpcError
from qnms.yang.xpath_cost import APP_TAG

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import ServerCore

_Q = f"{{{YP_NS}}}"
LATE_LIMIT = 3  # late periodic updates in a row before period-unsupported (issue 9)
LATE_SLICE = 0.05  # s: an update this quick is never late (scheduling noise, small periods)


class Engine(Protocol):
    """What a datastore target needs of the YANG-Push engine (``YangPush``, which
    creates targets): the shared selection and snapshots of one batch, the server's
    clock and timers, and the set of on-change targets it re-evaluates on a change."""

    @property
    def core(self) -> ServerCore: ...

    @property
    def options(self) -> SubscriptionOptions: ...

    @property
    def selection(self) -> Selection: ...

    @property
    def namer(self) -> PathNamer: ...

    def batch(self, fn: Callable[[], object]) -> None: ...

    def now(self) -> float: ...

    def at(self, wall: float, fn: Callable[[], None]) -> None: ...

    def phase(self) -> float: ...

    def call_later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle: ...

    def snapshot(self, datastore: str, full: bool) -> tuple[float, etree._Element]: ...

    def selected(
        self, datastore: str, full: bool, flt: FilterSpec | None, on_change: bool
    ) -> tuple[float, etree._Element]: ...

    def select_off_loop(
        self, datastore: str, full: bool, flt: FilterSpec, view: Callable[[etree._Element], Any]
    ) -> asyncio.Future: ...

    def body(self, data: etree._Element) -> bytes: ...

    def watch(self, target: DatastoreTarget) -> None: ...

    def unwatch(self, target: DatastoreTarget) -> None: ...


@dataclass(eq=False)
class DatastoreTarget:
    """One datastore selection and its update trigger, bound to a subscription."""

    engine: Engine
    datastore: str
    filter: FilterSpec | None
    trigger: Periodic | OnChange
    kind: TargetKind = "datastore"
    sub: Subscription | None = None
    baseline: etree._Element | None = None
    _token: int = 0
    _last_push: float = -math.inf
    _timer: asyncio.TimerHandle | None = None
    _patches: int = 0
    _late: int = 0  # consecutive periodic evaluations that took longer than the period
    _inflight: asyncio.Future | None = None  # an off-loop periodic evaluation
    full: bool = field(init=False)

    def __post_init__(self) -> None:
        self.full = self.engine.selection.needs_protocol_state(self.filter)

    @property
    def on_change(self) -> bool:
        return isinstance(self.trigger, OnChange)

    # -- evaluation -------------------------------------------------------------------

    def select(self) -> tuple[float, etree._Element]:
        """(time, selected data), with on-change-unsupported nodes left out if on-change,
        and what the receiver may not read pruned (RFC 8641 5.4, RFC 8341)."""
        ts, data = self.engine.selected(self.datastore, self.full, self.filter, self.on_change)
        return ts, self._receiver_view(data)

    def _receiver_view(self, data: etree._Element) -> etree._Element:
        access = self.engine.core.access
        if access is None or self.sub is None:
            return data
        return access.view(self.sub.session.username, data)

    def _update(self, ts: float, data: etree._Element) -> bytes:
        assert self.sub is not None
        return push_update(self.sub.id, ts, data, self.engine.body(data))

    def check(self, rpc: Rpc) -> None:
        """Refuse now what could never work (RFC 8641 establish/modify errors)."""
        sel = self.engine.selection
        try:
            _, data = self.select()
        except RpcError as exc:  # an XPath over budget: the server's limit (RFC 8639 2.4.6)
            ident = "insufficient-resources" if exc.app_tag == APP_TAG else "filter-unsupported"
            raise sub_error(ident, exc.message, rpc=rpc, kind="datastore",
                            filter_failure_hint=exc.message) from exc  # fmt: skip
        if self.on_change:  # the baseline without sync-on-start: changes from now on
            self.baseline = data  # are reported, also those before the reply arrives
        selected = any(isinstance(c.tag, str) for c in data)
        if not selected and self.filter is not None and not sel.may_select(self.filter):
            raise sub_error("unchanging-selection", "the filter selects no node of the served "
                            "modules", rpc=rpc, kind="datastore")  # fmt: skip
        if (self.on_change and sel.trie) and (
            sel.all_excluded(self.filter) or (not selected and self._raw_selected())
        ):
            raise sub_error("on-change-unsupported", "on-change is not supported for "
                            "the selected nodes (their values change continuously)",
                            rpc=rpc, kind="datastore")  # fmt: skip
        if not self.on_change or self.trigger.sync_on_start:  # type: ignore[union-attr]  # on_change: OnChange trigger
            size = len(push_update(0, 0.0, data))
            if size > self.engine.options.max_update_size:
                ident = "sync-too-big" if self.on_change else "update-too-big"
                raise sub_error(ident, f"an update would be {size} bytes (limit "
                                f"{self.engine.options.max_update_size})", rpc=rpc,
                                kind="datastore", kilobytes_estimate=size // 1024,
                                kilobytes_limit=self.engine.options.max_update_size // 1024,
                                )  # fmt: skip

    def _raw_selected(self) -> bool:
        _, data = self.engine.snapshot(self.datastore, self.full)
        return any(isinstance(c.tag, str) for c in self.engine.selection.apply(data, self.filter))

    # -- subscription side ----------------------------------------------------------

    def describe(self, entry: etree._Element) -> None:
        ds = etree.SubElement(entry, _Q + "datastore", nsmap={None: YP_NS, "ds": DS_NS})
        ds.text = f"ds:{self.datastore}"
        if self.filter is not None:
            self.filter.describe(entry, YP_NS, f"datastore-{self.filter.kind}-filter")
        t = self.trigger
        if isinstance(t, Periodic):
            el = etree.SubElement(entry, _Q + "periodic", nsmap={None: YP_NS})
            etree.SubElement(el, _Q + "period").text = str(t.period_cs)
            if t.anchor is not None:
                etree.SubElement(el, _Q + "anchor-time").text = event_time(t.anchor)
        else:
            el = etree.SubElement(entry, _Q + "on-change", nsmap={None: YP_NS})
            etree.SubElement(el, _Q + "dampening-period").text = str(t.dampening_cs)
            etree.SubElement(el, _Q + "sync-on-start").text = str(t.sync_on_start).lower()
            for ex in sorted(t.excluded):
                etree.SubElement(el, _Q + "excluded-change").text = ex

    def start(self, sub: Subscription) -> None:
        self.sub = sub
        if self.baseline is not None:
            self.baseline = self._receiver_view(self.baseline)
        self._token += 1
        if isinstance(self.trigger, Periodic):
            if self.trigger.anchor is None:
                self.engine.batch(self._periodic_push)
            self._schedule_periodic(self._token)
        else:
            if self.trigger.sync_on_start:
                self.engine.batch(self.resync)
            elif self.baseline is None:
                self.engine.batch(self._rebase)
            else:  # report what changed since the request was checked
                self.engine.batch(self.changed)
            self.engine.watch(self)
            self._schedule_poll(self._token)

    def stop(self) -> None:
        self._token += 1
        self.engine.unwatch(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def resumed(self) -> None:
        if self.on_change:  # the receiver missed changes: send everything again
            self.engine.batch(self.resync)

    # -- periodic ---------------------------------------------------------------------

    def _schedule_periodic(self, token: int, k: int | None = None) -> None:
        """Schedule grid point ``k`` (anchor + k * period), or the next one from now.

        Points are computed from the grid, not from the clock at the previous push,
        so subscriptions with the same grid stay together (one snapshot) and a late
        tick skips what it missed instead of drifting. The grid is the ``anchor-time``
        when one was given (honoured exactly), else the server's ``phase``.
        """
        t: Periodic = self.trigger  # type: ignore[assignment]  # only periodic targets tick
        period = t.period_cs / 100
        anchor = t.anchor if t.anchor is not None else self.engine.phase()
        now = self.engine.now()
        if k is None or anchor + k * period <= now:
            missed = k
            k = math.floor((now - anchor) / period) + 1
            if missed is None and t.anchor is None and anchor + k * period - now < period / 2:
                k += 1  # just pushed at establishment: keep the spacing
            if missed is not None and self.sub is not None:
                self.sub.dropped += k - missed  # the server fell behind: not sent, counted
        due_k = k
        self.engine.at(anchor + k * period, lambda: self._periodic_tick(token, due_k))

    def _periodic_tick(self, token: int, k: int) -> None:
        if token != self._token:
            return
        try:
            self._periodic_push()
        finally:  # a failing state provider costs this update, not the schedule
            self._schedule_periodic(token, k + 1)

    def _periodic_push(self) -> None:
        sub = self.sub
        if sub is None or (sub.state == "suspended" and sub.suspend_reason != "update-too-big"):
            if sub is not None:
                sub.dropped += 1
            return
        if self.filter is not None and self.filter.kind == "xpath":
            self._push_off_loop(sub)
            return
        start = time.monotonic()
        self._send(self._update(*self.select()))
        self._timed(time.monotonic() - start)

    def _push_off_loop(self, sub: Subscription) -> None:
        """An XPath selection is evaluated in a worker (issue 9); a tick that finds the
        previous evaluation still running is dropped and counts as late."""
        if self._inflight is not None:
            sub.dropped += 1
            self._timed(math.inf)
            return
        token, start = self._token, time.monotonic()
        fut = self.engine.select_off_loop(self.datastore, self.full, self.filter,  # type: ignore[arg-type]
                                          self._receiver_view)  # fmt: skip
        self._inflight = fut

        def done(f: asyncio.Future) -> None:
            self._inflight = None
            if token != self._token or f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                guarded(lambda: f.result())  # logged like an on-loop failure
                return
            if self.sub is not None and self.sub.state == "active":
                self._send(self._update(*f.result()))
            self._timed(time.monotonic() - start)

        fut.add_done_callback(done)

    def _timed(self, took: float) -> None:
        """RFC 8641 3.1 / RFC 8639 2.7.7: a periodic subscription whose evaluation
        cannot keep its period is suspended (``period-unsupported``, as a
        subscription-suspended reason) after ``LATE_LIMIT`` late updates in a row
        (longer than the period and than ``LATE_SLICE``, or still running at the next),
        instead of taking the server's time from everyone else; modify-subscription
        with a longer period resumes it."""
        period = self.trigger.period_cs / 100  # type: ignore[union-attr]
        self._late = self._late + 1 if took > max(period, LATE_SLICE) else 0
        sub = self.sub
        if self._late >= LATE_LIMIT and sub is not None and sub.state == "active":
            self._late = 0
            sub.manager.suspend(sub, "period-unsupported")

    def _send(self, msg: bytes) -> bool:
        sub = self.sub
        assert sub is not None
        if len(msg) > self.engine.options.max_update_size:
            sub.dropped += 1
            sub.manager.suspend(sub, "update-too-big")
            return False
        if sub.suspend_reason == "update-too-big":
            sub.manager.resume(sub)
        self._last_push = time.monotonic()
        return sub.offer(msg)

    # -- on-change --------------------------------------------------------------------

    def _rebase(self) -> None:
        self.baseline = self.select()[1]

    def resync(self) -> None:
        """Send the whole selection (sync-on-start, resync-subscription, after loss)."""
        sub = self.sub
        if sub is None or (sub.state != "active" and sub.suspend_reason != "update-too-big"):
            return
        ts, data = self.select()
        if self._send(self._update(ts, data)):
            self.baseline = data

    def _schedule_poll(self, token: int) -> None:
        poll = self.engine.options.on_change_poll
        if poll is None:
            return
        every = max(poll, self.trigger.dampening_cs / 100)  # type: ignore[union-attr]  # on_change: OnChange trigger
        nxt = (math.floor(time.time() / every) + 1) * every

        def tick() -> None:
            if token == self._token:
                try:
                    self.changed()
                finally:
                    self._schedule_poll(token)

        self.engine.at(nxt, tick)

    def changed(self) -> None:
        """Something may have changed: evaluate now, or when dampening allows."""
        sub = self.sub
        if sub is None or self._timer is not None:
            return
        if sub.state == "suspended":
            if sub.suspend_reason == "update-too-big":
                self.resync()
            return
        damp = self.trigger.dampening_cs / 100  # type: ignore[union-attr]  # on_change: OnChange trigger
        wait = self._last_push + damp - time.monotonic()
        if wait <= 0:
            self.evaluate()
            return
        token = self._token
        self._timer = self.engine.call_later(wait, lambda: self._dampened(token))

    def _dampened(self, token: int) -> None:
        self._timer = None
        if token == self._token:
            self.engine.batch(lambda: guarded(self.evaluate))

    def evaluate(self) -> None:
        sub = self.sub
        if sub is None or sub.state != "active":
            return
        ts, data = self.select()
        old, self.baseline = self.baseline, data
        if old is None:
            return
        edits = diff(old, data, self.engine.selection.child, self.engine.namer)
        excluded = self.trigger.excluded  # type: ignore[union-attr]  # on_change: OnChange trigger
        edits = [e for e in edits if e.operation not in excluded]
        if edits:
            self._patches += 1
            self._send(push_change_update(sub.id, ts, f"{sub.id}-{self._patches}", edits))
