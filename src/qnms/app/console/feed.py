"""One logged-in user's live picture: YANG-Push over the user's own NETCONF session.

At login the console reads the initial picture with one ``<get>``, then establishes
RFC 8641 on-change subscriptions to ``/qnms-service:service-units`` and (where the
northbound serves RFC 8345 topology state) ``/nw-s:networks``, and an RFC 8639
subscription to the NETCONF event stream for ``service-unit-state-change``. All of it
runs over the session opened with the user's credentials, so the orchestrator's NACM
and tenancy decide what the user sees: the console filters nothing itself.

ncclient is synchronous: one reader thread per session takes notifications, applies
them to the replica (``replica.py``) and hands RFC 7951 JSON to the event loop, which
fans it out to the page's server-sent-event streams. Bursts coalesce naturally: the
thread drains every queued notification before encoding the picture once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

from qnms.app.console.replica import PatchError, Replica
from qnms.app.northbound import SN, SVC, YP
from qnms.yang.codec import xml_to_json
from qnms.yang.schema import Schema

log = logging.getLogger(__name__)
NWS = "urn:ietf:params:xml:ns:yang:ietf-network-state"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
UNITS = f"{{{SVC}}}service-units"
NETWORKS = f"{{{NWS}}}networks"
# SSE event name per subscribed top-level node
TOPICS = {UNITS: "units", NETWORKS: "networks"}


@dataclass(frozen=True)
class Message:
    """One server-sent event: its name and its JSON body (already encoded)."""

    event: str
    data: str


def on_change(top: str) -> str:
    """An RFC 8641 on-change subscription of one top-level node (no dampening)."""
    ns, name = top[1:].split("}")
    return f"""<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">
      <yp:datastore>ds:operational</yp:datastore>
      <yp:datastore-subtree-filter><{name} xmlns="{ns}"/></yp:datastore-subtree-filter>
      <yp:on-change><yp:dampening-period>0</yp:dampening-period></yp:on-change>
    </establish-subscription>"""


class Feed:
    """The replica of one user's subscriptions and the listeners of its changes."""

    def __init__(self, manager: Any, schema: Schema, loop: asyncio.AbstractEventLoop) -> None:
        self.m = manager
        self.replica = Replica(schema)
        self.loop = loop
        self.picture: dict[str, str] = {}  # SSE event name -> its latest JSON
        self.topology = False  # the northbound serves /nw-s:networks
        self._subs: dict[str, str] = {}  # subscription id -> top-level tag
        self._listeners: set[asyncio.Queue[Message]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- set-up (in a worker thread: every call here is a blocking NETCONF exchange) ----

    def open(self) -> None:
        """The initial ``<get>``, then the subscriptions, then the reader thread."""
        flt = f'<service-units xmlns="{SVC}"/>'
        reply = self.m.get(filter=("subtree", flt))
        self.replica.load(UNITS, to_ele(reply.data_xml))
        self._subscribe(UNITS)
        try:
            reply = self.m.get(filter=("subtree", f'<networks xmlns="{NWS}"/>'))
            self.replica.load(NETWORKS, to_ele(reply.data_xml))
        except RPCError as err:
            log.info("console: no topology on the northbound: %s", err)
        # an orchestrator without RFC 8345 topology state answers with nothing
        self.topology = self.replica.data.find(NETWORKS) is not None
        if self.topology:
            self._subscribe(NETWORKS)
        events = f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream>'
        self.m.dispatch(to_ele(events + "</establish-subscription>"))
        for top in self._subs.values():
            self.picture[TOPICS[top]] = json.dumps(self.replica.json(top))
        self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)
        self._thread.start()

    def _subscribe(self, top: str) -> None:
        reply = self.m.dispatch(to_ele(on_change(top)))
        sub_id = to_ele(reply.xml).findtext(f".//{{{SN}}}id")
        if sub_id:
            self._subs[sub_id] = top

    def _resync(self, sub_id: str) -> None:
        """RFC 8641 resync-subscription: the server sends a fresh push-update."""
        try:
            self.m.dispatch(to_ele(f'<resync-subscription xmlns="{YP}"><id>{sub_id}</id>'
                                   "</resync-subscription>"))  # fmt: skip
        except RPCError as err:
            log.warning("console: resync of subscription %s refused: %s", sub_id, err)

    def close(self) -> None:
        """Stop the reader and end the page's streams (any thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self._hand_over([Message("closed", json.dumps({"reason": "logged out"}))])

    # -- listeners (event loop) --------------------------------------------------------

    def listen(self) -> asyncio.Queue[Message]:
        q: asyncio.Queue[Message] = asyncio.Queue(maxsize=1000)
        self._listeners.add(q)
        return q

    def unlisten(self, q: asyncio.Queue[Message]) -> None:
        self._listeners.discard(q)

    def _publish(self, messages: list[Message]) -> None:
        for msg in messages:
            if msg.event in TOPICS.values():
                self.picture[msg.event] = msg.data
            for q in list(self._listeners):
                with contextlib.suppress(asyncio.QueueFull):  # a stalled page loses events
                    q.put_nowait(msg)

    # -- the reader thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.m.connected:
                self._hand_over([Message("closed", json.dumps({"reason": "session closed"}))])
                return
            note = self.m.take_notification(block=True, timeout=0.5)
            if note is None:
                continue
            batch = [note]
            while (more := self.m.take_notification(block=False)) is not None:
                batch.append(more)
            try:
                self._hand_over(self._absorb(batch))
            except Exception:  # one bad notification must not end the feed
                log.exception("console: notification not understood")

    def _hand_over(self, messages: list[Message]) -> None:
        if messages:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self.loop.call_soon_threadsafe(self._publish, messages)

    def _absorb(self, batch: list[Any]) -> list[Message]:
        touched: set[str] = set()
        out: list[Message] = []
        for note in batch:
            root = etree.fromstring(note.notification_xml.encode())
            when = root.findtext(f"{{{NOTIF}}}eventTime") or ""
            update = root.find(f"{{{YP}}}push-update")
            change = root.find(f"{{{YP}}}push-change-update")
            event = root.find(f"{{{SVC}}}service-unit-state-change")
            if update is not None:
                top = self._subs.get(update.findtext(f"{{{YP}}}id") or "")
                contents = update.find(f"{{{YP}}}datastore-contents")
                if top is not None and contents is not None:
                    self.replica.load(top, contents)
                    touched.add(top)
            elif change is not None:
                patch = change.find(f".//{{{YP}}}yang-patch")
                if patch is not None:
                    try:
                        touched |= self.replica.patch(patch)
                    except PatchError as err:  # out of step: ask for the whole again
                        log.warning("console: %s; resynchronising", err)
                        self._resync(change.findtext(f"{{{YP}}}id") or "")
            elif event is not None:
                out.append(Message("notification", json.dumps(state_change(when, event))))
        for top in touched & set(TOPICS):
            out.insert(0, Message(TOPICS[top], json.dumps(self.replica.json(top))))
        return out


def state_change(when: str, event: etree._Element) -> dict[str, Any]:
    """A ``service-unit-state-change`` notification as RFC 7951 JSON (RFC 8040 6.4 style:
    the event time beside the module-qualified notification)."""
    body = {etree.QName(c).localname: (c.text or "") for c in event if isinstance(c.tag, str)}
    return {
        "ietf-restconf:notification": {
            "eventTime": when,
            "qnms-service:service-unit-state-change": body,
        }
    }


def decode(reply_xml: str, schema: Schema) -> dict[str, Any]:
    """A ``<get>`` reply's data as an RFC 7951 document."""
    return xml_to_json(to_ele(reply_xml), schema)
