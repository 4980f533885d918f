"""RFC 8641 YANG-Push: periodic and on-change subscriptions to a datastore.

Selections are evaluated on the operational datastore (``ds:operational``: running
config merged with the agent's live state and the server's own state, exactly what
``<get>`` returns) or on ``ds:running``, by subtree or XPath filter.

Periodic: a ``push-update`` every ``period`` centiseconds, on the grid of the
``anchor-time`` when one is given. Without it the first one is sent at once and the
next ones on the server's grid, which starts when its first such subscription was
established (``YangPush.phase``): the subscriptions of one server with compatible
periods fire together and share one snapshot of the datastore (the evaluation cost is
per instant, not per subscription), and servers sharing a process do not all fire on
the same tick. Timed work runs on the loop's ``ticker``, in slices that let requests
through.

On-change: the selection is re-evaluated when something may have changed and
compared with the copy last pushed; differences go out as a ``push-change-update``
holding a YANG patch (``yang_patch``), at most once per ``dampening-period``
(changes in between are merged, and a change after a quiet period goes out at once).
``sync-on-start`` sends the full selection first; ``excluded-change`` drops edits by
type.

What an agent must do so on-change sees its live state
------------------------------------------------------
* Edits to running need nothing: the server hears every change to running.
* When live state changes (an emulation result arrived, a counter moved), call
  ``NetconfServer.state_changed()`` -- from any thread, as often as you like; calls
  are coalesced, each costs a few microseconds when nobody subscribes on-change.
* State that changes without anyone calling (time-derived values) is still caught:
  every on-change subscription is re-evaluated at least every
  ``max(dampening-period, ServerOptions.on_change_poll)`` (default 1 s; None turns the
  safety net off for agents that always call ``state_changed()``).
* Values that change continuously (a QUI's age) are no use on-change: list them in
  ``ServerOptions.on_change_unsupported`` as schema paths (``/prefix:a/prefix:b`` with
  module prefixes or module names). They are left out of on-change comparisons, and
  a selection of nothing else is refused with ``on-change-unsupported``.
* Periodic subscriptions need nothing: each period reads the state provider again.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lxml import etree

from qnms.netconf.protocol.operations import merge_state, missing, operational_data
from qnms.netconf.push.errors import DS_NS, YP_NS, Rpc, bad_value, sub_error
from qnms.netconf.push.evaluation import Part
from qnms.netconf.push.memo import SelectionMemo
from qnms.netconf.push.rpcs import (
    DATASTORE_FILTER_NAMES,
    FilterSpec,
    parse_filter,
    parse_identity,
    parse_time,
    parse_uint32,
)
from qnms.netconf.push.selection import Selection, prune
from qnms.netconf.push.target import DatastoreTarget
from qnms.netconf.push.ticker import ticker_for
from qnms.netconf.push.triggers import OnChange, Periodic, guard_all
from qnms.netconf.push.yang_patch import PathNamer
from qnms.yang.errors import RpcError
from qnms.yang.tree import split_tag

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import ServerCore
    from qnms.netconf.push.delivery import SubscriptionOptions
    from qnms.yang.schema import Schema

log = logging.getLogger(__name__)
_Q = f"{{{YP_NS}}}"
CHANGE_TYPES = ("create", "delete", "insert", "move", "replace")
_DATASTORES = {"operational", "running"}


class YangPush:
    """The datastore side of subscriptions: snapshots, timers and change triggers."""

    def __init__(self, core: ServerCore, options: SubscriptionOptions) -> None:
        self.core = core
        self.options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_change: set[DatastoreTarget] = set()  # on-change targets to re-evaluate
        self._scheduled = False
        # "now", "parts", and (datastore, ...) snapshot keys
        self._batch: dict[object, Any] | None = None  # per-instant evaluation cache
        self._slots: dict[float, list[Callable[[], None]]] = {}
        self._phase: float | None = None  # anchor of periodic subscriptions without one
        self._memo = SelectionMemo()  # selections of quiet data, reused across instants
        self._shares_running = False  # the datastore hands out its installed tree
        self.selection = Selection(core, options.on_change_unsupported)
        self.namer = PathNamer({m.namespace: m.name for m in core.monitoring.modules})

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    # -- triggers ---------------------------------------------------------------------

    def state_changed(self) -> None:
        """Live state may have changed: re-evaluate on-change subscriptions (thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._on_change:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._changed()
        else:
            loop.call_soon_threadsafe(self._changed)

    def config_changed(self, changes: object, session_id: int) -> None:
        """A ``ChangeListener`` on running (through the notification hub)."""
        self._changed()

    def _changed(self) -> None:
        if self._on_change and not self._scheduled and self._loop is not None:
            self._scheduled = True
            self._loop.call_soon(self._run_on_change)

    def _run_on_change(self) -> None:
        self._scheduled = False
        self.batch(lambda: guard_all([t.changed for t in list(self._on_change)]))

    # -- evaluation -------------------------------------------------------------------

    def batch(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` with one datastore snapshot shared by everything it evaluates."""
        outer = self._batch is not None
        if not outer:
            self._batch = {"now": time.time()}
        try:
            fn()
        finally:
            if not outer:
                self._batch = None

    def now(self) -> float:
        """The time the current batch started (everything in it happens "at once"), so
        the subscriptions of one instant take the same scheduling decisions."""
        return self._batch["now"] if self._batch is not None else time.time()

    def snapshot(self, datastore: str, full: bool) -> tuple[float, etree._Element]:
        """(time, data) of ``datastore``; treat the tree as read-only, it is shared."""
        key = (datastore, full)
        if self._batch is not None and key in self._batch:
            return self._batch[key]
        if datastore == "running":
            data = self.core.datastores.get_config("running")
        else:
            data = operational_data(self.core, protocol_state=full)
        snap = (time.time(), data)
        if self._batch is not None:
            self._batch[key] = snap
        return snap

    def selected(
        self, datastore: str, full: bool, flt: FilterSpec | None, on_change: bool
    ) -> tuple[float, etree._Element]:
        """(time, selection); equal selections in one batch are evaluated once.
        On-change selections leave out the on-change-unsupported nodes."""
        key = ("selection", datastore, full, flt.key if flt else None, on_change)
        batch = self._batch
        if batch is not None and key in batch:
            return batch[key]
        out = data = None  # out is a new tree unless it is the snapshot itself
        if datastore == "operational" and not full and flt is not None and flt.kind == "subtree":
            parts = self._parts()
            if parts is not None:
                ts, running, state, schema = parts
                out = self._memo.get(key, running, state, batch)
                if out is None:
                    # running: its top-level nodes are its children
                    split: list[Part] = [
                        (running, ("running", id(running))),
                        (state, ("state", id(state))),
                    ]
                    out = self.selection.fast.evaluate(split, flt.element, flt.key, schema,
                                                       batch)  # fmt: skip
                    if out is not None and self._shares_running:
                        self._memo.put(key, running, state, batch, out)
        if out is None:
            ts, data = self.snapshot(datastore, full)
            out = self.selection.apply(data, flt, batch)
        if on_change and self.selection.trie:
            if out is data:
                out = copy.deepcopy(data)
            prune(out, self.selection.trie)
        if batch is not None:
            batch[key] = (ts, out)
        return ts, out

    def _parts(self) -> tuple[float, etree._Element, list[etree._Element], Schema] | None:
        """The operational datastore before the merge: (time, running, state nodes,
        schema), for agent-only selections of a ``DatastoreManager`` (whose ``get()``
        is exactly running merged with its ``state_provider``); None otherwise."""
        batch = self._batch
        if batch is not None and "parts" in batch:
            return batch["parts"]
        ds = self.core.datastores
        schema = getattr(ds, "schema", None)
        if schema is None or not hasattr(ds, "live_state"):
            return None
        # The installed tree itself where the datastore shares it: selections copy
        # what they select, so a push does not copy the whole of running first.
        shared = getattr(ds, "snapshot", None)
        self._shares_running = callable(shared)
        running = shared("running") if callable(shared) else ds.get_config("running")
        # all of the provider's state (stable part included), its failures as rpc-errors
        state = list(ds.live_state() or [])
        parts = (time.time(), running, state, schema)
        if batch is not None:
            batch["parts"] = parts
        return parts

    def select_off_loop(
        self, datastore: str, full: bool, flt: FilterSpec, view: Callable[[etree._Element], Any]
    ) -> asyncio.Future:
        """(time, view of the selection) computed in a worker thread (issue 9): for
        XPath selections, whose cost has no bound but the XPath budget. Only the
        server's own state (small, owned by the loop) is read here; the datastore
        copy, the merge, the filter and ``view`` (NACM) run in the worker."""
        proto: list[etree._Element] = []
        if full and datastore == "operational":
            core = self.core
            proto = core.monitoring.state() + [el for sp in core.state_providers
                                               for el in sp.state()]  # fmt: skip
        ds = self.core.datastores

        def work() -> tuple[float, etree._Element]:
            ts = time.time()
            data = ds.get_config("running") if datastore == "running" else ds.get()
            merge_state(data, proto)
            return ts, view(self.selection.apply(data, flt))

        return self.core.fairness.run_in_reader(work)

    def body(self, data: etree._Element) -> bytes:
        """The serialised nodes of a selection (shared by the pushes of one batch)."""
        key = ("body", id(data))
        batch = self._batch
        if batch is not None and key in batch:
            return batch[key]
        out = b"".join(etree.tostring(c, with_tail=False) for c in data if isinstance(c.tag, str))
        if batch is not None:
            batch[key] = out
        return out

    def call_later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        """Call ``fn`` after ``delay`` seconds on the server's loop (dampening)."""
        assert self._loop is not None
        return self._loop.call_later(delay, fn)

    def watch(self, target: DatastoreTarget) -> None:
        """Re-evaluate ``target`` (on-change) whenever the data may have changed."""
        self._on_change.add(target)

    def unwatch(self, target: DatastoreTarget) -> None:
        self._on_change.discard(target)

    def phase(self) -> float:
        """The anchor of periodic subscriptions established without ``anchor-time``.

        RFC 8641 lets such a subscription start when it is established: this server's
        grid starts at the establishment of its first one, so servers sharing a loop
        (many agents in one process) push at instants spread by when they were
        subscribed instead of all on the same wall-clock tick, while the subscriptions
        of one server keep common instants (one snapshot per instant).
        """
        if self._phase is None:
            self._phase = self.now()
        return self._phase

    def at(self, wall: float, fn: Callable[[], None]) -> None:
        """Call ``fn`` at wall-clock time ``wall``, together with others due then (on
        the loop's shared ``ticker``, which yields to requests between servers)."""
        assert self._loop is not None
        key = round(wall, 4)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = []
            ticker_for(self._loop).at(key, lambda: self._run_slot(key))
        slot.append(fn)

    def due(self) -> list[float]:
        """The wall-clock instants this server has timed work at (periodic updates,
        on-change polls), in order."""
        return sorted(self._slots)

    def _run_slot(self, key: float) -> None:
        fns = self._slots.pop(key, [])
        self.batch(lambda: guard_all(fns))

    # -- parsing ----------------------------------------------------------------------

    def target(self, p: dict[str, etree._Element], rpc: Rpc,
               old: object = None) -> DatastoreTarget:  # fmt: skip
        """A validated datastore target from establish/modify input (``old``: the
        target being modified, whose trigger and on-change options carry over)."""
        if "datastore" not in p:
            raise missing("datastore")
        try:
            ns, name = parse_identity(p["datastore"])
        except RpcError:
            ns, name = "", (p["datastore"].text or "").strip()
        if ns != DS_NS or name not in _DATASTORES:
            raise sub_error("datastore-not-subscribable", f"cannot subscribe to datastore "
                            f"{name!r} (use ds:operational or ds:running)", rpc=rpc,
                            kind="datastore", bad_element="datastore")  # fmt: skip
        flt = parse_filter(p, DATASTORE_FILTER_NAMES, rpc=rpc, kind="datastore")
        prev = getattr(old, "trigger", None)
        trigger = self._trigger(p, rpc, prev)

        target = DatastoreTarget(self, name, flt, trigger)
        self.batch(lambda: target.check(rpc))
        return target

    def _trigger(self, p: dict[str, etree._Element], rpc: Rpc,
                 prev: Periodic | OnChange | None) -> Periodic | OnChange:  # fmt: skip
        if "periodic" in p and "on-change" in p:
            raise bad_value("on-change", "give periodic or on-change, not both")
        if "periodic" in p:
            return self._periodic(p["periodic"], rpc)
        if "on-change" in p:
            return self._on_change_params(p["on-change"], rpc, prev)
        if prev is not None:
            return prev
        raise missing("periodic")  # the update-trigger choice: periodic or on-change

    def _periodic(self, el: etree._Element, rpc: Rpc) -> Periodic:
        kids = {etree.QName(c).localname: c for c in el if isinstance(c.tag, str)}
        _only(el, kids, {"period", "anchor-time"})
        period = parse_uint32(kids.get("period"), "period")
        lo, hi = self.options.min_period_cs, self.options.max_period_cs
        if not lo <= period <= hi:
            raise sub_error("period-unsupported", f"period {period} cs is outside {lo}..{hi} "
                            "centiseconds", rpc=rpc, kind="datastore", bad_element="period",
                            period_hint=min(max(period, lo), hi))  # fmt: skip
        anchor = parse_time(kids["anchor-time"]).timestamp() if "anchor-time" in kids else None
        return Periodic(period, anchor)

    def _on_change_params(self, el: etree._Element, rpc: Rpc,
                          prev: Periodic | OnChange | None) -> OnChange:  # fmt: skip
        kids: dict[str, list[etree._Element]] = {}
        for c in el:
            if isinstance(c.tag, str):
                kids.setdefault(etree.QName(c).localname, []).append(c)
        allowed = {"dampening-period"} | ({"sync-on-start", "excluded-change"}
                                          if rpc == "establish" else set())  # fmt: skip
        _only(el, kids, allowed)
        damp = parse_uint32(
            next(iter(kids.get("dampening-period", ())), None), "dampening-period", 0
        )
        base = prev if isinstance(prev, OnChange) else OnChange()
        sync = base.sync_on_start
        if "sync-on-start" in kids:
            raw = (kids["sync-on-start"][0].text or "").strip()
            if raw not in ("true", "false"):
                raise bad_value("sync-on-start", f"sync-on-start must be true or false: {raw!r}")
            sync = raw == "true"
        excluded = set(base.excluded)
        for ex in kids.get("excluded-change", []):
            value = (ex.text or "").strip()
            if value not in CHANGE_TYPES:
                raise bad_value("excluded-change", f"unknown change type {value!r}")
            excluded.add(value)
        return OnChange(damp, sync, frozenset(excluded))


def _only(el: etree._Element, kids: dict, allowed: set[str]) -> None:
    for name, child in kids.items():
        first = child[0] if isinstance(child, list) else child
        if name not in allowed or split_tag(first.tag)[0] != YP_NS:
            raise bad_value(name, f"unexpected {name!r} in {etree.QName(el).localname}")
