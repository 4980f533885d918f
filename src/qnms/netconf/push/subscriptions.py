"""RFC 8639 dynamic subscriptions over NETCONF (RFC 8640): lifecycle and delivery.

A session may hold several subscriptions, each with a server-wide id, to an event
stream (RFC 8639) or to a datastore (RFC 8641, see ``yang_push``). What they share
lives here: the ``establish``/``modify``/``delete``/``kill-subscription`` operations,
the ``subscriptions`` and ``streams`` state, the subscription state change
notifications, and delivery.

Delivery never blocks a producer. Each subscription owns a bounded outbox; one task
per session drains all of its outboxes in batches (what an instant produced goes out
in one SSH write, see ``subscription_delivery``). When a receiver cannot keep up,
the outbox fills, the subscription is suspended with
``unsupportable-volume`` and every record it misses is counted (``qss:dropped-event-
records``); once the backlog is written it resumes (``subscription-resumed``, and an
on-change subscription gets a fresh ``push-update`` since its receiver missed
changes). State change notifications bypass the bound, so a receiver always learns
why data stopped. Nothing is sent for a subscription before the rpc-reply carrying
its id, and nothing after the reply to its ``delete-subscription``.

A session ends its subscriptions when it closes (RFC 8640: no notification, there is
nobody to tell). ``kill-subscription`` ends any session's subscription and tells its
receiver (``subscription-terminated``, reason ``no-such-subscription``), as does
reaching ``stop-time``. ``subscription-started`` is not sent: RFC 8639 defines it for
configured subscriptions only, and the rpc-reply marks the start of a dynamic one.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from lxml import etree

from qnms.netconf.protocol.dispatch import Reply
from qnms.netconf.protocol.notifications import Event, EventStream, Subscriber
from qnms.netconf.protocol.operations import perr
from qnms.netconf.push.delivery import (
    Pump,
    Subscription,
    SubscriptionOptions,
    Target,
    state_notification,
)
from qnms.netconf.push.errors import DS_NS, SN_NS, YP_NS, TargetKind, sub_error
from qnms.netconf.push.rpcs import (
    ESTABLISH_PARAMS,
    ID_PARAMS,
    MODIFY_PARAMS,
    STREAM_FILTER_NAMES,
    FilterSpec,
    check_encoding,
    collect,
    parse_filter,
    parse_id,
    parse_stop_time,
    target_kind,
)
from qnms.yang import filters
from qnms.yang.errors import ErrorTag
from qnms.yang.tree import new_data

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession, ServerCore
    from qnms.netconf.push.yang_push import YangPush

log = logging.getLogger(__name__)
QSS_NS = "urn:qnms:yang:qnms-subscription-stats"


class _StreamTap(Subscriber):
    """Feeds one event stream, through the subscription's filter, into its outbox."""

    def __init__(self, target: StreamTarget, sub: Subscription) -> None:
        super().__init__(target.stream, event_filter=target.matcher, queue_size=1, owner=sub)
        self.sub = sub

    def offer(self, event: Event) -> bool:
        if self.closed:
            return False
        access = self.sub.session.core.access
        if (
            access is not None
            and (event := access.notification_view(self.sub.session, event)) is None
        ):
            self.sub.excluded += 1
            return False
        if self.event_filter is not None:
            try:
                content = self.event_filter(event.content)
            except Exception:  # a broken filter must not break the publisher
                log.exception("stream filter of subscription %d failed", self.sub.id)
                content = None
            if content is None:
                self.sub.excluded += 1
                return False
            if content is not event.content:
                event = Event(event.time, content, event.stream)
        return self.sub.offer(event)


def event_matcher(flt: FilterSpec) -> Callable[[etree._Element], etree._Element | None]:
    """An event-stream filter: the event content as the filter selects it, or None."""

    def match(content: etree._Element) -> etree._Element | None:
        data = new_data()
        data.append(copy.deepcopy(content))  # the event is shared by all subscribers
        if flt.kind == "subtree":
            out = filters.subtree_filter(data, flt.element, None)  # event content
        else:
            out = filters.xpath_filter(data, flt.select, flt.nsmap, None)
        kids = [c for c in out if isinstance(c.tag, str)]
        return kids[0] if kids else None

    return match


@dataclass(eq=False)
class StreamTarget:
    """An event stream (RFC 8639), optionally filtered."""

    stream: EventStream
    filter: FilterSpec | None = None
    kind: TargetKind = "stream"
    _tap: _StreamTap | None = None

    @property
    def matcher(self) -> Callable[[etree._Element], etree._Element | None] | None:
        return event_matcher(self.filter) if self.filter is not None else None

    def describe(self, entry: etree._Element) -> None:
        etree.SubElement(entry, f"{{{SN_NS}}}stream").text = self.stream.name
        if self.filter is not None:
            self.filter.describe(entry, SN_NS, f"stream-{self.filter.kind}-filter")

    def start(self, sub: Subscription) -> None:
        self._tap = _StreamTap(self, sub)
        self.stream.subscribers.append(self._tap)

    def stop(self) -> None:
        if self._tap is not None:
            self._tap.close()
            self._tap = None

    def resumed(self) -> None:
        pass


class SubscriptionManager:
    """All dynamic subscriptions of one server; the RFC 8639 operations."""

    def __init__(self, core: ServerCore, options: SubscriptionOptions, push: YangPush) -> None:
        self.core = core
        self.options = options
        self.push = push
        self.subs: dict[int, Subscription] = {}
        self.pumps: dict[int, Pump] = {}  # by session id
        self._ids = itertools.count(1)

    # -- operations -------------------------------------------------------------------

    def establish(self, s: NetconfSession, op: etree._Element) -> Reply:
        p = collect(op, ESTABLISH_PARAMS)
        if s.subscriber is not None:  # RFC 8640 section 3
            raise perr(
                ErrorTag.OPERATION_NOT_SUPPORTED,
                "this session has an RFC 5277 subscription (create-subscription)",
            )
        kind = target_kind(p)
        stop = parse_stop_time(p)
        check_encoding(p, kind)
        mine = sum(1 for sub in self.subs.values() if sub.session is s)
        if len(self.subs) >= self.options.max_subscriptions or mine >= self.options.max_per_session:
            raise sub_error("insufficient-resources", "too many subscriptions", rpc="establish",
                            kind=kind)  # fmt: skip
        target = self._stream_target(p) if kind == "stream" else self.push.target(p, "establish")
        sub = Subscription(self, next(self._ids), s, target, stop)
        self.subs[sub.id] = sub
        s.subscriptions[sub.id] = sub
        s.after_reply(lambda: self._activate(sub))
        reply = etree.Element(f"{{{SN_NS}}}id", nsmap={None: SN_NS})
        reply.text = str(sub.id)
        return [reply]

    def modify(self, s: NetconfSession, op: etree._Element) -> Reply:
        p = collect(op, MODIFY_PARAMS)
        sub = self._own(s, parse_id(p), rpc="modify", p=p)
        target_kind(p, sub.target.kind)
        stop = parse_stop_time(p)
        new: Target
        if isinstance(sub.target, StreamTarget):  # kind "stream"
            new = self._stream_target(p, stream=sub.target.stream, rpc="modify")
        else:
            new = self.push.target(p, "modify", old=sub.target)
        s.after_reply(lambda: self._apply_modify(sub, new, stop))
        return None

    def delete(self, s: NetconfSession, op: etree._Element) -> Reply:
        sub = self._own(s, parse_id(collect(op, ID_PARAMS)), rpc="delete")
        self.end(sub, None)  # before the reply: nothing may follow it (RFC 8639 2.4.4)
        return None

    def kill(self, s: NetconfSession, op: etree._Element) -> Reply:
        sid = parse_id(collect(op, ID_PARAMS))
        sub = self.subs.get(sid)
        if sub is None or sub.state == "pending":
            raise sub_error("no-such-subscription", f"no subscription {sid}", rpc="delete",
                            bad_element="id")  # fmt: skip
        self.end(sub, "no-such-subscription")
        return None

    def resync(self, s: NetconfSession, op: etree._Element) -> Reply:
        """RFC 8641 resync-subscription: a fresh push-update for an on-change subscription."""
        sid = parse_id(collect(op, {"id": YP_NS}))
        sub = self.subs.get(sid)
        target = sub.target if sub is not None else None
        if sub is None or sub.session is not s or not getattr(target, "on_change", False):
            raise sub_error("no-such-subscription-resync", f"no on-change subscription {sid} "
                            "on this session", rpc="resync", bad_element="id")  # fmt: skip
        s.after_reply(lambda: self.push.batch(target.resync))  # type: ignore[union-attr]  # on_change: a datastore target
        return None

    def _own(self, s: NetconfSession, sid: int, *, rpc: Literal["modify", "delete"],
             p: dict[str, etree._Element] | None = None) -> Subscription:  # fmt: skip
        """The caller's own active subscription ``sid`` (others do not exist for it)."""
        sub = self.subs.get(sid)
        if sub is None or sub.session is not s or sub.state in ("pending", "ended"):
            kind: TargetKind = "datastore" if p and "datastore" in p else "stream"
            raise sub_error("no-such-subscription", f"no subscription {sid} on this session",
                            rpc=rpc, kind=kind, bad_element="id")  # fmt: skip
        return sub

    def _stream_target(
        self,
        p: dict[str, etree._Element],
        stream: EventStream | None = None,
        rpc: Literal["establish", "modify"] = "establish",
    ) -> StreamTarget:
        if stream is None:
            name = (p["stream"].text or "").strip()
            stream = self.core.hub.streams.get(name)
            if stream is None:
                raise sub_error("stream-unavailable", f"no event stream {name!r} (streams: "
                                f"{', '.join(self.core.hub.streams)})", rpc=rpc,
                                bad_element="stream")  # fmt: skip
        flt = parse_filter(p, STREAM_FILTER_NAMES, rpc=rpc, kind="stream")
        return StreamTarget(stream, flt)

    # -- lifecycle --------------------------------------------------------------------

    def _activate(self, sub: Subscription) -> None:
        if sub.state != "pending":
            return
        sub.state = "active"
        pump = self.pumps.get(sub.session.session_id)
        if pump is None:
            pump = self.pumps[sub.session.session_id] = Pump(sub.session, self.core.monitoring)
        sub.start_delivery(pump)
        sub.schedule_stop()
        sub.target.start(sub)

    def _apply_modify(self, sub: Subscription, new: Target, stop: datetime | None) -> None:
        if sub.state not in ("active", "suspended"):
            return
        sub.target.stop()
        sub.target = new
        if stop is not None:
            sub.stop_time = stop
            sub.schedule_stop()
        sub.state, sub.suspend_reason = "active", None  # RFC 8639: modify resumes
        sub.control(state_notification("subscription-modified", sub.id, body=sub.describe))
        new.start(sub)

    def end(self, sub: Subscription, reason: str | None) -> None:
        """Terminate ``sub``; tell its receiver ``reason`` unless None (delete, close)."""
        if sub.state == "ended":
            return
        self.subs.pop(sub.id, None)
        sub.session.subscriptions.pop(sub.id, None)
        if reason is not None and not sub.session.closed and sub.state != "pending":
            sub.control(state_notification("subscription-terminated", sub.id, reason))
            sub.halt(flush=True)
        else:
            sub.halt(flush=False)

    def suspend(self, sub: Subscription, reason: str) -> None:
        if sub.state != "active":
            return
        sub.state, sub.suspend_reason = "suspended", reason
        sub.control(state_notification("subscription-suspended", sub.id, reason))
        log.info("subscription %d suspended: %s", sub.id, reason)

    def resume(self, sub: Subscription) -> None:
        if sub.state != "suspended":
            return
        reason = sub.suspend_reason
        sub.state, sub.suspend_reason = "active", None
        sub.control(state_notification("subscription-resumed", sub.id))
        if reason == "unsupportable-volume":  # records were lost on the way
            sub.target.resumed()

    def session_closed(self, session: NetconfSession) -> None:
        for sub in list(session.subscriptions.values()):
            self.end(sub, None)
        pump = self.pumps.pop(session.session_id, None)
        if pump is not None:
            pump.stop()

    # -- state ------------------------------------------------------------------------

    def state(self) -> list[etree._Element]:
        q = f"{{{SN_NS}}}"
        streams = etree.Element(q + "streams", nsmap={None: SN_NS})
        for st in self.core.hub.streams.values():
            el = etree.SubElement(streams, q + "stream")
            etree.SubElement(el, q + "name").text = st.name
            etree.SubElement(el, q + "description").text = st.description
        # Identity values (sn:encode-xml, ds:operational) need their prefixes in scope
        # even after filters copy parts of the tree: declare them at the top.
        nsmap = {None: SN_NS, "sn": SN_NS, "yp": YP_NS, "ds": DS_NS}
        subs = etree.Element(q + "subscriptions", nsmap=nsmap)
        for sub in self.subs.values():
            if sub.state not in ("active", "suspended"):
                continue
            entry = etree.SubElement(subs, q + "subscription")
            etree.SubElement(entry, q + "id").text = str(sub.id)
            sub.describe(entry)
            rec = etree.SubElement(etree.SubElement(entry, q + "receivers"), q + "receiver")
            etree.SubElement(rec, q + "name").text = f"netconf-session-{sub.session.session_id}"
            etree.SubElement(rec, q + "sent-event-records").text = str(sub.sent)
            etree.SubElement(rec, q + "excluded-event-records").text = str(sub.excluded)
            etree.SubElement(rec, q + "state").text = sub.state
            qss = {None: QSS_NS}
            etree.SubElement(rec, f"{{{QSS_NS}}}dropped-event-records", nsmap=qss).text = str(
                sub.dropped
            )
            etree.SubElement(rec, f"{{{QSS_NS}}}queued-event-records", nsmap=qss).text = str(
                sub.outbox.data
            )
        return [streams, subs]
