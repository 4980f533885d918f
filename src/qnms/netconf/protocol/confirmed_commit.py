"""RFC 6241 section 8.4: the :confirmed-commit:1.1 capability on the candidate.

A ``<commit><confirmed/></commit>`` commits the candidate and arms a timer
(``<confirm-timeout>``, 600 s by default). Until a confirming ``<commit>`` arrives,
running is reverted to its content from before the confirmed commit when the timer
expires, when ``<cancel-commit>`` is issued, when the server restarts (the pre-commit
content is kept on disk for that), or, unless ``<persist>`` was given, when the session
that issued it ends. A persistent confirmed commit is confirmed, extended or cancelled
from any session that names its token in ``<persist-id>``; a non-persistent one only
from its own session. A follow-up confirmed commit extends the procedure with a new
timeout and keeps the original point to return to.

Reverts are ordinary changes of running: the datastore's listeners (RFC 6470
config-change, the agents' live state) hear of them and the result is persisted. Each
step is also announced with RFC 6470 ``netconf-confirmed-commit``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from lxml import etree

from qnms.netconf.protocol.dispatch import Reply
from qnms.netconf.protocol.notifications import NCN_NS
from qnms.netconf.protocol.operations import params, perr
from qnms.yang.changes import ConfigChange
from qnms.yang.errors import NC_NS, ErrorTag, ErrorType, RpcError

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession, ServerCore

log = logging.getLogger(__name__)

CAPABILITY = "urn:ietf:params:netconf:capability:confirmed-commit:1.1"
FEATURE = "confirmed-commit"
DEFAULT_TIMEOUT = 600  # seconds (RFC 6241 8.4.5.1)
_MAX_TIMEOUT = 2**32 - 1  # uint32, range 1..max
ConfirmEvent = Literal["start", "cancel", "timeout", "extend", "complete"]


class RevertableDatastores(Protocol):
    """What confirmed commits need of the datastore layer beyond ``Datastores``."""

    def get_config(self, source: str) -> etree._Element: ...

    def commit(self, *, session_id: int) -> list[ConfigChange]: ...

    def revert_running(self, tree: etree._Element, *, session_id: int) -> list[ConfigChange]: ...

    def load_rollback(self) -> etree._Element | None: ...

    def save_rollback(self, tree: etree._Element | None) -> None: ...


@dataclass
class Pending:
    """A confirmed commit waiting for its confirming commit."""

    rollback: etree._Element  # running as it was before the first confirmed commit
    session_id: int
    persist: str | None
    timeout: int
    timer: asyncio.TimerHandle | None = None


class ConfirmedCommits:
    """The confirmed-commit procedure of one server; serves ``commit`` and ``cancel-commit``."""

    def __init__(self, core: ServerCore, datastores: RevertableDatastores) -> None:
        self.core = core
        self.datastores = datastores
        self.pending: Pending | None = None
        self.revert_interrupted_commit()

    def install(self) -> None:
        """Take over ``<commit>``, add ``<cancel-commit>`` and watch sessions ending."""
        self.core.operations.register(NC_NS, "commit", self.op_commit)
        self.core.operations.register(NC_NS, "cancel-commit", self.op_cancel_commit)
        self.core.session_closed.append(self.session_closed)

    def stop(self) -> None:
        """The server stops: the timer goes, the rollback point stays for the restart."""
        if self.pending is not None and self.pending.timer is not None:
            self.pending.timer.cancel()

    def revert_interrupted_commit(self) -> None:
        """RFC 6241 8.4.1: after a restart, an unconfirmed commit is undone."""
        rollback = self.datastores.load_rollback()
        if rollback is None:
            return
        log.warning("reverting a confirmed commit the server restarted before confirming")
        self._apply(rollback, session_id=0)
        self.datastores.save_rollback(None)

    # -- operations -------------------------------------------------------------------

    def op_commit(self, s: NetconfSession, op: etree._Element) -> Reply:
        p = params(op, {"confirmed", "confirm-timeout", "persist", "persist-id"})
        confirmed = "confirmed" in p
        if not confirmed:
            for name in ("confirm-timeout", "persist"):
                if name in p:
                    raise perr(ErrorTag.INVALID_VALUE, f"<{name}> needs <confirmed/>",
                               ("bad-element", name))  # fmt: skip
        timeout = _timeout(p.get("confirm-timeout"))
        persist = _text(p.get("persist"))
        persist_id = _text(p.get("persist-id"))
        pending = self.pending
        if pending is not None:
            self._authorise(s, pending, persist_id)
        elif persist_id is not None:
            raise _bad_persist_id("no persistent confirmed commit is pending")
        before = None
        if confirmed and pending is None:  # a new procedure: keep where to return, first
            before = self.datastores.get_config("running")
            self.datastores.save_rollback(before)
        try:
            changes = self.datastores.commit(session_id=s.session_id)
        except BaseException:
            if before is not None:
                self.datastores.save_rollback(None)
            raise
        if changes and self.core.emit_config_changes:
            self.core.hub.config_changed(changes, s.session_id)
        if not confirmed:
            if pending is not None:
                self._finish()
                self._announce("complete", s)
            return None
        if before is not None:
            pending = self.pending = Pending(before, s.session_id, persist, timeout)
            event: ConfirmEvent = "start"
        else:
            assert pending is not None
            pending.session_id, pending.persist, pending.timeout = s.session_id, persist, timeout
            event = "extend"
        self._arm(pending)
        self._announce(event, s, timeout)
        return None

    def op_cancel_commit(self, s: NetconfSession, op: etree._Element) -> Reply:
        p = params(op, {"persist-id"})
        persist_id = _text(p.get("persist-id"))
        pending = self.pending
        if pending is None:
            raise RpcError(ErrorTag.OPERATION_FAILED, "no confirmed commit is pending",
                           ErrorType.PROTOCOL)  # fmt: skip
        self._authorise(s, pending, persist_id)
        self._revert(s.session_id)
        self._announce("cancel", s)
        return None

    def _authorise(self, s: NetconfSession, pending: Pending, persist_id: str | None) -> None:
        """Who may confirm, extend or cancel (RFC 6241 8.4.1, 8.4.4.1, 8.4.5.1)."""
        if pending.persist is not None:
            if persist_id is None:
                raise RpcError(
                    ErrorTag.OPERATION_FAILED,
                    "a persistent confirmed commit is pending: give its <persist-id>",
                    ErrorType.PROTOCOL,
                    info=[("bad-element", "persist-id")],
                )
            if persist_id != pending.persist:
                raise _bad_persist_id("persist-id does not match the pending confirmed commit")
            return
        if persist_id is not None:
            raise _bad_persist_id("the pending confirmed commit is not persistent")
        if s.session_id != pending.session_id:
            raise RpcError(
                ErrorTag.OPERATION_FAILED,
                f"a confirmed commit of session {pending.session_id} is pending; only that "
                "session can confirm or cancel it",
                ErrorType.PROTOCOL,
                info=[("session-id", str(pending.session_id))],
            )

    # -- timer, session end, revert ---------------------------------------------------

    def _arm(self, pending: Pending) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(pending.timeout, self._expired, pending)

    def _expired(self, pending: Pending) -> None:
        if self.pending is not pending:
            return
        log.info("confirmed commit not confirmed within %d s: reverting", pending.timeout)
        self._revert(0)
        self._announce("timeout", None)

    def session_closed(self, s: NetconfSession) -> None:
        pending = self.pending
        if pending is None or pending.persist is not None or pending.session_id != s.session_id:
            return
        log.info("session %d ended before confirming its commit: reverting", s.session_id)
        self._revert(0)
        self._announce("cancel", s)

    def _finish(self) -> Pending | None:
        pending, self.pending = self.pending, None
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        self.datastores.save_rollback(None)
        return pending

    def _revert(self, session_id: int) -> None:
        pending = self._finish()
        if pending is not None:
            self._apply(pending.rollback, session_id)

    def _apply(self, rollback: etree._Element, session_id: int) -> None:
        changes = self.datastores.revert_running(rollback, session_id=session_id)
        if changes and self.core.emit_config_changes:
            self.core.hub.config_changed(changes, session_id)

    def _announce(self, event: ConfirmEvent, s: NetconfSession | None, timeout: int = 0) -> None:
        """RFC 6470 ``netconf-confirmed-commit``."""
        q = f"{{{NCN_NS}}}"
        root = etree.Element(q + "netconf-confirmed-commit", nsmap={None: NCN_NS})
        if s is not None and event != "timeout":
            etree.SubElement(root, q + "username").text = s.username
            etree.SubElement(root, q + "session-id").text = str(s.session_id)
            if s.source_host:
                etree.SubElement(root, q + "source-host").text = s.source_host
        etree.SubElement(root, q + "confirm-event").text = event
        if event in ("start", "extend"):
            etree.SubElement(root, q + "timeout").text = str(timeout)
        self.core.hub.publish(root)


def _text(el: etree._Element | None) -> str | None:
    return None if el is None else (el.text or "").strip()


def _timeout(el: etree._Element | None) -> int:
    if el is None:
        return DEFAULT_TIMEOUT
    raw = (el.text or "").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_TIMEOUT:
        raise perr(ErrorTag.INVALID_VALUE, f"confirm-timeout must be 1..{_MAX_TIMEOUT} seconds, "
                   f"not {raw!r}", ("bad-element", "confirm-timeout"))  # fmt: skip
    return int(raw)


def _bad_persist_id(message: str) -> RpcError:
    return perr(ErrorTag.INVALID_VALUE, message, ("bad-element", "persist-id"))


def install(core: ServerCore, datastores: object) -> ConfirmedCommits | None:
    """Serve confirmed commits if the datastore layer can revert running."""
    needed = ("revert_running", "load_rollback", "save_rollback")
    if not all(callable(getattr(datastores, name, None)) for name in needed):
        return None
    cc = ConfirmedCommits(core, datastores)  # type: ignore[arg-type]  # checked just above
    cc.install()
    return cc
