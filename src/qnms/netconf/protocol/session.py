"""One NETCONF session (RFC 6241 section 2, 4, 8.1; RFC 6242 section 3-4).

The session is transport-agnostic: the SSH layer feeds it bytes and gives it a
``Transport`` to write to. It owns the hello exchange (the client's hello is read by
``hello``) and the framing switch, parses
every message with a hardened parser (no DTDs, no entities, bounded depth and size),
turns each ``<rpc>`` into exactly one ``<rpc-reply>`` in arrival order, and serialises
replies and notifications through one send lock so their bytes never interleave.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lxml import etree

from qnms.netconf.datastore import memory
from qnms.netconf.interfaces import Datastores, StateProvider
from qnms.netconf.protocol.batching import ReplyBatch
from qnms.netconf.protocol.dispatch import OperationRegistry
from qnms.netconf.protocol.fairness import Fairness
from qnms.netconf.protocol.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FrameDecoder,
    FramingError,
    encode_message,
)
from qnms.netconf.protocol.hello import BadHello, read_hello
from qnms.netconf.protocol.messages import XML_DECL, check_envelope, hello_message, rpc_reply
from qnms.netconf.protocol.monitoring import Monitoring, SessionRecord
from qnms.netconf.protocol.notifications import (
    NotificationHub,
    Subscriber,
    TerminationReason,
    render_notification,
)
from qnms.yang.errors import NC_NS, ErrorTag, RpcError, RpcErrors
from qnms.yang.schema import Schema
from qnms.yang.secure_xml import parse_secure

log = logging.getLogger(__name__)

_Q = f"{{{NC_NS}}}"


class Transport(Protocol):
    """The byte pipe under a session (an SSH channel in production)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


@dataclass
class SessionOptions:
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_depth: int = 256
    hello_timeout: float = 60.0
    notification_queue_size: int = 1024
    inbox_high_water: int = 8  # parsed-but-unanswered messages before reading pauses


@dataclass
class ServerCore:
    """Everything a session shares with the server and the other sessions."""

    datastores: Datastores
    monitoring: Monitoring
    hub: NotificationHub
    operations: OperationRegistry[NetconfSession]
    capabilities: list[str]
    state_providers: list[StateProvider] = field(default_factory=list)
    sessions: dict[int, NetconfSession] = field(default_factory=dict)
    options: SessionOptions = field(default_factory=SessionOptions)
    emit_config_changes: bool = True  # False when the datastore calls the hub itself
    # Called when a session closes, before its transport goes (e.g. to end its RFC 8639
    # subscriptions); each hook gets the closing session.
    session_closed: list[Callable[[NetconfSession], None]] = field(default_factory=list)
    access: Any = None  # qnms.netconf.protocol.access.AccessControl (RFC 8341), if enforced
    fairness: Fairness = field(default_factory=Fairness)  # worker threads, budgets (issue 9)
    schema: Schema | None = None  # what the server serves: datastores + protocol state


class NetconfSession:
    """Hello exchange, framing, parse, dispatch and reply for one client."""

    def __init__(
        self,
        core: ServerCore,
        session_id: int,
        username: str,
        source_host: str,
        transport: Transport,
    ) -> None:
        self.core = core
        self.session_id = session_id
        self.username = username
        self.source_host = source_host
        self.transport = transport
        self.record = SessionRecord(session_id, username, source_host)
        self.client_capabilities: list[str] = []
        self.chunked = False
        self.hello_done = False
        self.closed = False
        self.subscriber: Subscriber | None = None  # RFC 5277 create-subscription
        self.subscriptions: dict[int, Any] = {}  # RFC 8639 dynamic subscriptions by id
        self._decoder = FrameDecoder(core.options.max_message_size)
        self._inbox: collections.deque[bytes] = collections.deque()
        self._runner: asyncio.Task[None] | None = None  # answers the inbox, then ends
        self._reading_paused = False
        self._send_lock = asyncio.Lock()
        self._writable = asyncio.Event()
        self._writable.set()
        self._after_reply: list[Callable[[], None]] = []
        self._batch = ReplyBatch()  # replies held for one fsync and one write
        self._close_after_reply = False
        self._tasks: list[asyncio.Task[None]] = []
        self._hello_timer: asyncio.TimerHandle | None = None
        self.last_rpc = 0.0  # loop time of the last complete rpc (idle timeout)
        self._abandoned: asyncio.Future[Any] | None = None  # over-budget work still running
        self.closed_event = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Send our hello and start answering; called once the channel is open."""
        self.core.sessions[self.session_id] = self
        self.core.monitoring.session_started(self.record)
        self.transport.write(hello_message(self.core.capabilities, self.session_id))
        loop = asyncio.get_running_loop()
        self.last_rpc = loop.time()
        self._hello_timer = loop.call_later(self.core.options.hello_timeout, self._hello_timed_out)

    def _hello_timed_out(self) -> None:
        if not self.hello_done:
            log.info("session %d: no hello within timeout", self.session_id)
            self.close("timeout")

    def close(self, reason: TerminationReason = "closed", killed_by: int | None = None) -> None:
        """End the session: release its locks and subscription, close the transport."""
        if self.closed:
            return
        self.closed = True
        if self._hello_timer:
            self._hello_timer.cancel()
        if self.subscriber is not None:
            self.subscriber.close()
        for hook in self.core.session_closed:
            try:
                hook(self)
            except Exception:
                log.exception("session %d: close hook failed", self.session_id)
        self._inbox.clear()
        self._writable.set()  # wake senders so they see `closed`
        try:
            self.core.datastores.release_session(self.session_id)
        except Exception:
            log.exception("session %d: releasing locks failed", self.session_id)
        if reason == "bad-hello":
            self.core.monitoring.in_bad_hellos += 1
        self.core.monitoring.session_ended(
            self.session_id, dropped=reason in ("dropped", "timeout")
        )
        self.core.sessions.pop(self.session_id, None)
        if self.hello_done:
            self.core.hub.session_ended(self.record, reason, killed_by)
        current = asyncio.current_task()
        for task in (*self._tasks, self._runner):
            if task is not None and task is not current:
                task.cancel()
        self.transport.close()
        self.closed_event.set()

    def connection_lost(self) -> None:
        """The transport went away without close-session."""
        self.close("dropped")

    # -- input ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._decoder.feed(data)
            while not self.closed and (msg := self._decoder.next_message()) is not None:
                if not self.hello_done:
                    self._on_hello(msg)
                else:
                    self._inbox.append(msg)
        except FramingError as exc:
            log.info("session %d: framing error, closing: %s", self.session_id, exc)
            self.close("dropped")
            return
        if len(self._inbox) >= self.core.options.inbox_high_water and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def read_done(self) -> None:
        """The transport has given every byte of its last read (``data_received``, once
        or more): answer the requests that wait, starting now, in this loop turn (an
        eager task), not one turn later (issue 13). The requests of one read are all
        queued first, so a pipelining client's batch shares one fsync and one write."""
        if self._inbox and (self._runner is None or self._runner.done()):
            self._runner = asyncio.Task(
                self._answer_inbox(), loop=asyncio.get_running_loop(), eager_start=True
            )

    def _on_hello(self, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            root = parse_secure(raw, self.core.options.max_depth)
            hello = read_hello(root, self.core.capabilities)
        except (RpcError, BadHello) as exc:
            why = f"bad hello: {exc.message}" if isinstance(exc, RpcError) else str(exc)
            log.info("session %d: %s", self.session_id, why)
            self.close("bad-hello")
            return
        self.client_capabilities = hello.capabilities
        if hello.chunked:
            self.chunked = True
            self._decoder.set_chunked()
        self.hello_done = True
        if self._hello_timer:
            self._hello_timer.cancel()
        self.core.hub.session_started(self.record)

    # -- rpc loop -------------------------------------------------------------------

    async def _answer_inbox(self) -> None:
        """Answer the waiting requests in order, then end (``read_done`` starts another
        when more arrive)."""
        loop = asyncio.get_running_loop()
        try:
            while self._inbox and not self.closed:
                raw = self._inbox.popleft()
                if self._reading_paused and len(self._inbox) < 2:
                    self._reading_paused = False
                    self.transport.resume_reading()
                rpc, reply = await self._answer(raw)
                memory.after_message(loop.call_later, len(raw) + len(reply or b""))
                # An idle session holds no request, its tree or its reply: a 20k edit's
                # tree and a 6 MB reply lived until the next request (issue 13).
                raw = b""
                if reply is None:
                    continue
                self._batch.add(rpc, reply, loop.time())
                rpc = reply = None
                waiting = len(self._inbox)
                if self._after_reply or self._close_after_reply:
                    waiting = 0  # something waits for this reply to be written
                if not self._batch.hold_more(waiting, loop.time()):
                    await self._send_replies()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %d: rpc loop failed", self.session_id)
            self.close("other")

    async def _send_replies(self) -> None:
        """Make this session's edits durable (``Datastores.sync``), then write the held
        replies in one go (``batching``); if the edits could not be made durable they
        were undone, and every reply from the first of them on becomes that error."""
        held, start = self._batch.take()
        try:
            self.core.datastores.sync(self.session_id)
        except RpcError as err:
            held[start:] = [(rpc, self._reply(rpc, [err])) for rpc, _ in held[start:]]
        if await self.send_many([reply for _, reply in held]):
            for callback in self._after_reply:
                callback()
        self._after_reply.clear()
        if self._close_after_reply:
            self.close("closed")

    def deferred_write(self) -> None:
        """The request being answered changed running without fsync (group commit)."""
        self._batch.deferred_write()

    def abandoned(self, work: asyncio.Future[Any]) -> None:
        """``work`` (a worker's evaluation) was answered as over budget but still runs:
        the next request of this session waits for it (``settle``), so one client keeps
        at most one such evaluation alive (issue 9, fair service)."""
        self._abandoned = work

    async def settle(self) -> None:
        """Wait until this session's abandoned work, if any, has finished."""
        work, self._abandoned = self._abandoned, None
        if work is not None:
            await asyncio.wait([work])
            if not work.cancelled():
                work.exception()  # retrieved: nobody else will look at it

    def after_reply(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current reply is written (e.g. start notifications)."""
        self._after_reply.append(callback)

    def close_after_reply(self) -> None:
        self._close_after_reply = True

    async def _answer(self, raw: bytes) -> tuple[etree._Element | None, bytes | None]:
        """(the ``<rpc>`` the reply echoes, or None; the reply, or None)."""
        if not raw.strip():
            return None, None
        mon = self.core.monitoring
        rpc = None
        try:
            rpc = await self.core.fairness.parse(raw, self.core.options.max_depth)
            check_envelope(rpc)
        except RpcError as err:
            mon.rpc_received(self.record, bad=True)
            if err.tag is ErrorTag.MALFORMED_MESSAGE and not self.chunked:
                # RFC 6241 appendix A: malformed-message must not be sent to base:1.0 peers.
                err.tag = ErrorTag.OPERATION_FAILED
            echo = rpc is not None and rpc.tag == _Q + "rpc" and rpc.get("message-id") is not None
            rpc = rpc if echo else None
            return rpc, self._reply(rpc, [err])
        mon.rpc_received(self.record, bad=False)
        self.last_rpc = asyncio.get_running_loop().time()
        op = rpc[0]
        try:
            served = (m.namespace for m in self.core.monitoring.modules)
            result = self.core.operations.dispatch(self, op, served)
            if inspect.isawaitable(result):
                result = await result
        except RpcError as err:
            return rpc, self._reply(rpc, [err])
        except RpcErrors as errs:
            return rpc, self._reply(rpc, errs.errors)
        except Exception as exc:
            log.exception("session %d: %s failed", self.session_id, op.tag)
            failure = RpcError(ErrorTag.OPERATION_FAILED, f"internal error: {exc}")
            return rpc, self._reply(rpc, [failure])
        return rpc, self._reply(rpc, result)

    def _reply(
        self,
        rpc: etree._Element | None,
        result: list[etree._Element | bytes] | list[RpcError] | None,
    ) -> bytes:
        if result and any(isinstance(item, RpcError) for item in result):
            self.core.monitoring.rpc_error_sent(self.record)
        return rpc_reply(rpc, result)

    # -- output ---------------------------------------------------------------------

    def _durable(self) -> None:
        """Nothing leaves the server before the changes it may show are durable (group
        commit); a failure is the writers' error, told in their replies."""
        try:
            self.core.datastores.sync(self.session_id)
        except RpcError as err:
            log.warning("session %d: %s", self.session_id, err.message)

    async def send(self, message: bytes) -> bool:
        """Write one whole message under the send lock; False if the session closed."""
        data = encode_message(message, self.chunked)
        self._durable()
        return await self._write(data)

    async def send_many(self, messages: list[bytes]) -> bool:
        """Write several whole messages in one go (a notification backlog): one lock,
        one transport write, so a busy subscription costs one SSH packet per batch."""
        data = b"".join(encode_message(m, self.chunked) for m in messages)
        self._durable()
        return await self._write(data)

    async def _write(self, data: bytes) -> bool:
        """``data`` (whole framed messages) under the send lock; False if closed."""
        async with self._send_lock:
            await self._writable.wait()
            if self.closed:
                return False
            self.transport.write(data)
            return True

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- notifications --------------------------------------------------------------

    def start_notifications(self, subscriber: Subscriber) -> None:
        """Drain ``subscriber`` into this session (RFC 5277 with :interleave)."""
        self.subscriber = subscriber
        self._tasks.append(asyncio.create_task(self._notification_loop(subscriber)))

    async def _notification_loop(self, sub: Subscriber) -> None:
        while not self.closed:
            event = await sub.next()
            if event is None:
                return
            access = self.core.access
            if access is not None and (event := access.notification_view(self, event)) is None:
                continue
            body = etree.tostring(render_notification(event), encoding="UTF-8")
            if await self.send(XML_DECL + body):
                self.core.monitoring.notification_sent(self.record)
