"""Delivery of RFC 8639 subscriptions: bounded outboxes drained into their sessions.

A producer (an event stream, a YANG-Push timer or change trigger) never waits on a
receiver: it renders a record and offers it to the subscription's ``Outbox``; one
task per subscription writes whatever has accumulated in one go. A full outbox means
the receiver cannot keep up: the subscription is suspended (``unsupportable-volume``)
and what it misses is counted, never silently lost. State change notifications are
few and always queued, so a receiver learns why data stopped and when it resumes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from lxml import etree

from qnms.netconf.protocol.monitoring import rfc3339
from qnms.netconf.protocol.notifications import Event
from qnms.netconf.push.errors import NOTIF_NS, SN_NS, TargetKind, identity_text
from qnms.netconf.push.yang_patch import event_time

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession

_XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
State = Literal["pending", "active", "suspended", "ended"]


@dataclass
class SubscriptionOptions:
    """Server-wide limits and the YANG-Push knobs (see ``ServerOptions``)."""

    queue_size: int = 1024
    max_subscriptions: int = 1024
    max_per_session: int = 256
    min_period_cs: int = 1
    max_period_cs: int = 8_640_000  # one day
    max_update_size: int = 8 * 1024 * 1024
    on_change_poll: float | None = 1.0
    on_change_unsupported: tuple[str, ...] = ()


class Target(Protocol):
    """What is subscribed to: an event stream, or a datastore selection (yang_push)."""

    kind: TargetKind

    def describe(self, entry: etree._Element) -> None:
        """Add the target, filter and update policy to a subscription entry."""

    def start(self, sub: Subscription) -> None: ...

    def stop(self) -> None: ...

    def resumed(self) -> None:
        """The subscription is active again after records were dropped."""


class Manager(Protocol):
    """What a subscription needs of the manager that holds it (``SubscriptionManager``):
    its limits, and the state changes a pump or a target decides on (RFC 8639 2.7)."""

    @property
    def options(self) -> SubscriptionOptions: ...

    def end(self, sub: Subscription, reason: str | None) -> None: ...

    def suspend(self, sub: Subscription, reason: str) -> None: ...

    def resume(self, sub: Subscription) -> None: ...


class Outbox:
    """One subscription's queue: bounded for data records, not for the few state
    change notifications (a receiver must always learn why data stopped)."""

    def __init__(self, limit: int, wake: Callable[[], None]) -> None:
        self.limit = limit
        self.items: deque[tuple[bytes | Event, bool]] = deque()
        self.data = 0
        self.closing = False
        self._wake = wake

    def put(self, item: bytes | Event, *, data: bool = True) -> bool:
        if data and self.data >= self.limit:
            return False
        self.items.append((item, data))
        self.data += data
        self._wake()
        return True

    def take(self) -> list[tuple[bytes | Event, bool]]:
        batch = list(self.items)
        self.items.clear()
        self.data = 0
        return batch

    def clear(self) -> int:
        dropped, self.data = self.data, 0
        self.items.clear()
        return dropped

    def close(self) -> None:
        self.closing = True
        self._wake()


class Pump:
    """Writes the outboxes of one session's subscriptions: everything queued since the
    last write goes out in one transport write (one SSH packet train per instant,
    not one per subscription)."""

    def __init__(self, session: NetconfSession, monitoring: Any) -> None:
        self.session = session
        self.monitoring = monitoring
        self.subs: list[Subscription] = []
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, sub: Subscription) -> None:
        self.subs.append(sub)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, sub: Subscription) -> None:
        if sub in self.subs:
            self.subs.remove(sub)

    def wake(self) -> None:
        self._event.set()

    def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self._event.wait()
            self._event.clear()
            taken = []
            for sub in list(self.subs):
                if sub.outbox.items:
                    taken.append((sub, sub.outbox.take()))
                if sub.outbox.closing:
                    self.subs.remove(sub)  # flushed: its last records are in `taken`
            if not taken:
                continue
            msgs = [i if isinstance(i, bytes) else render_event(i)
                    for _, items in taken for i, _ in items]  # fmt: skip
            if not await self.session.send_many(msgs):
                return
            for _ in msgs:
                self.monitoring.notification_sent(self.session.record)
            for sub, items in taken:
                sub.sent += sum(data for _, data in items)
                if sub.suspend_reason == "unsupportable-volume" and not sub.outbox.items:
                    sub.manager.resume(sub)


def render_event(event: Event) -> bytes:
    """An event-stream record in the RFC 5277 envelope RFC 8640 keeps."""
    return b"".join((
        _XML_DECL,
        f'<notification xmlns="{NOTIF_NS}"><eventTime>'
        f"{event_time(event.time.timestamp())}</eventTime>".encode(),
        etree.tostring(event.content, with_tail=False),
        b"</notification>",
    ))  # fmt: skip


def state_notification(name: str, sub_id: int, reason: str | None = None,
                       body: Callable[[etree._Element], None] | None = None) -> bytes:  # fmt: skip
    """A subscription state change notification (RFC 8639 section 2.7)."""
    root = etree.Element(f"{{{NOTIF_NS}}}notification", nsmap={None: NOTIF_NS})
    etree.SubElement(root, f"{{{NOTIF_NS}}}eventTime").text = event_time()
    note = etree.SubElement(root, f"{{{SN_NS}}}{name}", nsmap={None: SN_NS})
    etree.SubElement(note, f"{{{SN_NS}}}id").text = str(sub_id)
    if body is not None:
        body(note)
    if reason is not None:
        text, nsmap = identity_text(reason)
        etree.SubElement(note, f"{{{SN_NS}}}reason", nsmap=nsmap).text = text
    return _XML_DECL + etree.tostring(root)


@dataclass(eq=False)
class Subscription:
    """One dynamic subscription: policy, receiver (its session), counters, outbox."""

    manager: Manager
    id: int
    session: NetconfSession
    target: Target
    stop_time: datetime | None = None
    state: State = "pending"
    suspend_reason: str | None = None
    sent: int = 0
    excluded: int = 0
    dropped: int = 0
    pump: Pump | None = None
    outbox: Outbox = field(init=False)
    _stop_timer: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.manager.options.queue_size, self._wake)

    def _wake(self) -> None:
        if self.pump is not None:
            self.pump.wake()

    # -- producers --------------------------------------------------------------------

    def offer(self, item: bytes | Event) -> bool:
        """Queue one data record; never waits. False (and counted) if not queued."""
        if self.state != "active":
            self.dropped += self.state == "suspended"
            return False
        if self.outbox.put(item):
            return True
        self.dropped += 1
        self.manager.suspend(self, "unsupportable-volume")
        return False

    def control(self, message: bytes) -> None:
        self.outbox.put(message, data=False)

    def describe(self, entry: etree._Element) -> None:
        """The subscription-policy nodes (state entries, subscription-modified)."""
        self.target.describe(entry)
        if self.stop_time is not None:
            etree.SubElement(entry, f"{{{SN_NS}}}stop-time").text = rfc3339(self.stop_time)
        enc = etree.SubElement(entry, f"{{{SN_NS}}}encoding", nsmap={"sn": SN_NS})
        enc.text = "sn:encode-xml"

    # -- delivery ---------------------------------------------------------------------

    def start_delivery(self, pump: Pump) -> None:
        self.pump = pump
        pump.add(self)
        if self.outbox.items:
            pump.wake()

    def schedule_stop(self) -> None:
        if self._stop_timer is not None:
            self._stop_timer.cancel()
            self._stop_timer = None
        if self.stop_time is not None:
            delay = (self.stop_time - datetime.now(UTC)).total_seconds()
            loop = asyncio.get_running_loop()
            self._stop_timer = loop.call_later(
                max(delay, 0.0), self.manager.end, self, "no-such-subscription"
            )

    def halt(self, *, flush: bool) -> None:
        """Stop producing; deliver what is queued (flush) or discard it."""
        self.state = "ended"
        self.target.stop()
        if self._stop_timer is not None:
            self._stop_timer.cancel()
        if not flush:
            self.dropped += self.outbox.clear()
            if self.pump is not None:
                self.pump.remove(self)
        self.outbox.close()
