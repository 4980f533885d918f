"""RFC 5277 event streams and notification delivery, plus RFC 6470 base events.

A stream fans each event out to its subscribers; each subscriber owns a bounded queue
that its session drains at the pace of its client. Publishing never waits: a full
queue drops the event and counts the drop, so one slow client cannot stall the server
or the other subscribers. Streams and subscribers know nothing of RFC 5277 sessions,
so RFC 8639 subscriptions can reuse them with their own filters and encodings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from lxml import etree

from qnms.netconf.protocol.monitoring import SessionRecord, rfc3339
from qnms.yang.changes import ConfigChange
from qnms.yang.errors import NC_NS

log = logging.getLogger(__name__)

NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
DEFAULT_STREAM = "NETCONF"
DEFAULT_QUEUE_SIZE = 1024
_Q = f"{{{NC_NS}}}"

EventFilter = Callable[[etree._Element], etree._Element | None]
"""Given an event's content, the content to deliver (possibly pruned) or None to skip."""

TerminationReason = Literal["closed", "killed", "dropped", "timeout", "bad-hello", "other"]


@dataclass(frozen=True)
class Event:
    """One event as published: when it happened and its top-level notification node."""

    time: datetime
    content: etree._Element
    stream: str = DEFAULT_STREAM


class Subscriber:
    """One receiver on one stream: filter, bounded queue and drop counter."""

    def __init__(
        self,
        stream: EventStream,
        *,
        event_filter: EventFilter | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        owner: object = None,
    ) -> None:
        self.stream = stream
        self.event_filter = event_filter
        self.owner = owner
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        self.filtered_out = 0
        self.closed = False

    def offer(self, event: Event) -> bool:
        """Queue ``event`` if it passes the filter; never blocks. True if queued."""
        if self.closed:
            return False
        if self.event_filter is not None:
            try:
                content = self.event_filter(event.content)
            except Exception:  # a broken filter must not break the publisher
                log.exception("notification filter failed; event skipped")
                content = None
            if content is None:
                self.filtered_out += 1
                return False
            if content is not event.content:
                event = Event(event.time, content, event.stream)
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    async def next(self) -> Event | None:
        """The next event, or None once the subscriber is closed."""
        if self.closed and self.queue.empty():
            return None
        return await self.queue.get()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.stream.unsubscribe(self)
        try:
            self.queue.put_nowait(None)  # wake the drainer
        except asyncio.QueueFull:
            # Make room for the wake-up; the subscriber is going away anyway.
            self.queue.get_nowait()
            self.queue.put_nowait(None)


@dataclass
class EventStream:
    """A named source of events (RFC 5277 section 3.2.5, RFC 8639 section 2.1)."""

    name: str
    description: str
    replay_support: bool = False
    subscribers: list[Subscriber] = field(default_factory=list)
    published: int = 0

    def subscribe(
        self,
        *,
        event_filter: EventFilter | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        owner: object = None,
    ) -> Subscriber:
        sub = Subscriber(self, event_filter=event_filter, queue_size=queue_size, owner=owner)
        self.subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)

    def publish(self, content: etree._Element, time: datetime | None = None) -> Event:
        event = Event(time or datetime.now(UTC), content, self.name)
        self.published += 1
        for sub in list(self.subscribers):
            sub.offer(event)
        return event


def render_notification(event: Event) -> etree._Element:
    """The RFC 5277 ``<notification>`` envelope around one event."""
    root = etree.Element(f"{{{NOTIF_NS}}}notification", nsmap={None: NOTIF_NS})
    etree.SubElement(root, f"{{{NOTIF_NS}}}eventTime").text = rfc3339(event.time)
    root.append(_copy(event.content))
    return root


def _copy(el: etree._Element) -> etree._Element:
    # Each subscriber gets its own tree: lxml moves elements on append.
    return etree.fromstring(etree.tostring(el))


class NotificationHub:
    """The server's streams and the RFC 6470 events it emits."""

    def __init__(
        self,
        session_lookup: Callable[[int], SessionRecord | None] = lambda _sid: None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.session_lookup = session_lookup
        self.queue_size = queue_size
        self.streams: dict[str, EventStream] = {}
        self.add_stream(
            EventStream(DEFAULT_STREAM, "default NETCONF event stream (RFC 5277, RFC 6470)")
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        # Told of every change to running after its netconf-config-change is published
        # (YANG-Push on-change subscriptions re-evaluate on it).
        self.change_listeners: list[Callable[[list[ConfigChange], int], None]] = []

    def add_stream(self, stream: EventStream) -> EventStream:
        self.streams[stream.name] = stream
        return stream

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the server's loop so other threads can publish safely."""
        self._loop = loop

    def publish(
        self, content: etree._Element, stream: str = DEFAULT_STREAM, time: datetime | None = None
    ) -> None:
        self.streams[stream].publish(content, time)

    def publish_threadsafe(
        self, content: etree._Element, stream: str = DEFAULT_STREAM, time: datetime | None = None
    ) -> None:
        """Publish from any thread (e.g. the QNDT engine); the event time is taken now."""
        time = time or datetime.now(UTC)
        if self._loop is None:
            raise RuntimeError("hub is not bound to a running server loop")
        self._loop.call_soon_threadsafe(self.publish, content, stream, time)

    # -- RFC 6470 -------------------------------------------------------------------

    def _changed_by(self, parent: etree._Element, session_id: int) -> None:
        q = f"{{{NCN_NS}}}"
        by = etree.SubElement(parent, q + "changed-by")
        rec = self.session_lookup(session_id) if session_id else None
        if rec is None:
            etree.SubElement(by, q + "server")
            return
        _session_parms(by, rec)

    def config_changed(
        self,
        changes: Iterable[ConfigChange],
        session_id: int,
        datastore: Literal["running", "startup"] = "running",
    ) -> None:
        """A ``ChangeListener``: emit ``netconf-config-change`` for an applied edit."""
        changes = list(changes)
        stream = self.streams[DEFAULT_STREAM]
        if stream.subscribers:  # the event of a 20,000-entry edit heard by no one: not built
            stream.publish(self._config_change(changes, session_id, datastore))
        else:
            stream.published += 1
        for listener in list(self.change_listeners):
            try:
                listener(changes, session_id)
            except Exception:
                log.exception("change listener %r failed", listener)

    def _config_change(
        self, changes: list[ConfigChange], session_id: int, datastore: str
    ) -> etree._Element:
        q = f"{{{NCN_NS}}}"
        root = etree.Element(q + "netconf-config-change", nsmap={None: NCN_NS})
        self._changed_by(root, session_id)
        etree.SubElement(root, q + "datastore").text = datastore
        for ch in changes:
            edit = etree.SubElement(root, q + "edit")
            nsmap = {p: ns for p, ns in ch.nsmap.items() if p}
            etree.SubElement(edit, q + "target", nsmap=nsmap).text = ch.target
            etree.SubElement(edit, q + "operation").text = ch.operation
        return root

    def session_started(self, rec: SessionRecord) -> None:
        root = etree.Element(f"{{{NCN_NS}}}netconf-session-start", nsmap={None: NCN_NS})
        _session_parms(root, rec)
        self.publish(root)

    def session_ended(
        self, rec: SessionRecord, reason: TerminationReason, killed_by: int | None = None
    ) -> None:
        q = f"{{{NCN_NS}}}"
        root = etree.Element(q + "netconf-session-end", nsmap={None: NCN_NS})
        _session_parms(root, rec)
        if killed_by is not None:
            etree.SubElement(root, q + "killed-by").text = str(killed_by)
        etree.SubElement(root, q + "termination-reason").text = reason
        self.publish(root)

    # Stream discovery is RFC 8639's ``/sn:streams`` (ietf-subscribed-notifications,
    # served by qnms.netconf.push.subscriptions). RFC 5277's ``<netconf><streams>`` in
    # urn:ietf:params:xml:ns:netmod:notification is not served: RFC 5277 defines it by
    # an XSD only, there is no IETF YANG module for it, so no client could validate it
    # against the schemas this server advertises.


def _session_parms(parent: etree._Element, rec: SessionRecord) -> None:
    """RFC 6470 ``common-session-parms``: username, session-id, source-host."""
    q = f"{{{NCN_NS}}}"
    etree.SubElement(parent, q + "username").text = rec.username
    etree.SubElement(parent, q + "session-id").text = str(rec.session_id)
    if rec.source_host:
        etree.SubElement(parent, q + "source-host").text = rec.source_host
