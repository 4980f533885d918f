"""Session admission and timeouts (RFC 6241 section 2.1 leaves both to the server).

- ``SessionSlots`` reserves a slot when the SSH connection is accepted, so a burst of
  simultaneous connects cannot overshoot ``max_sessions`` (the count is taken before
  anyone authenticates, not after); an optional per-user cap is checked when the
  netconf channel opens.
- ``IdleWatch`` closes sessions that sent no complete ``<rpc>`` for ``idle_timeout``
  seconds (a session that stalls mid-chunk sends none either). A session with an
  active subscription (RFC 5277 or RFC 8639) is never idle. The hello timeout is the
  session's own (``SessionOptions.hello_timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncssh

if TYPE_CHECKING:
    from qnms.netconf.protocol.session import NetconfSession

log = logging.getLogger(__name__)


class SessionSlots:
    """Counts reserved at accept; released when the connection goes."""

    def __init__(self, max_sessions: int, per_user: int | None = None) -> None:
        self.max_sessions = max_sessions
        self.per_user = per_user
        self.reserved = 0
        self.users: Counter[str] = Counter()

    def reserve(self) -> bool:
        if self.reserved >= self.max_sessions:
            return False
        self.reserved += 1
        return True

    def release(self, n: int = 1) -> None:
        self.reserved = max(0, self.reserved - n)

    def admit_user(self, user: str) -> bool:
        if self.per_user is not None and self.users[user] >= self.per_user:
            return False
        self.users[user] += 1
        return True

    def user_left(self, user: str) -> None:
        self.users[user] -= 1
        if self.users[user] <= 0:
            del self.users[user]


class Admission:
    """The slots of one SSH connection: one reserved at accept (or the connection is
    disconnected at once), one more for each further netconf channel it opens."""

    def __init__(self, slots: SessionSlots) -> None:
        self.slots = slots
        self.held = 0
        self.channels = 0
        self.peer = ""

    def accept(self, conn: asyncssh.SSHServerConnection) -> None:
        self.peer = str((conn.get_extra_info("peername") or ("",))[0])
        if self.slots.reserve():
            self.held = 1
            return
        log.warning("refusing connection from %s: %d sessions reserved", self.peer,
                    self.slots.reserved)  # fmt: skip
        asyncio.get_running_loop().call_soon(
            conn.disconnect, asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many sessions"
        )

    def lost(self) -> None:
        self.slots.release(self.held)
        self.held = 0

    def open_channel(self, user: str) -> Callable[[], None] | None:
        """Admit a netconf channel of ``user``: a callback to run when it closes, or
        None (refused: no slot, or the user's cap reached)."""
        if self.held == 0:
            return None
        if self.channels >= self.held:
            if not self.slots.reserve():
                log.warning("refusing session: %d sessions reserved", self.slots.reserved)
                return None
            self.held += 1
        if not self.slots.admit_user(user):
            log.warning("refusing session of %r: per-user limit reached", user)
            return None
        self.channels += 1

        def done() -> None:
            self.channels -= 1
            self.slots.user_left(user)

        return done


def is_idle(session: NetconfSession, now: float, idle_timeout: float) -> bool:
    if not session.hello_done or session.closed:
        return False  # the hello timer owns sessions before hello
    if session.subscriber is not None or session.subscriptions:
        return False
    return now - session.last_rpc > idle_timeout


class IdleWatch:
    """A periodic sweep closing idle sessions (reason ``timeout``)."""

    def __init__(self, sessions: Callable[[], list[NetconfSession]], idle_timeout: float) -> None:
        self.sessions = sessions
        self.idle_timeout = idle_timeout
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.idle_timeout > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        tick = min(max(self.idle_timeout / 4, 0.05), 5.0)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for session in self.sessions():
                if is_idle(session, now, self.idle_timeout):
                    log.info("session %d (%s): idle for %.0f s, closing",
                             session.session_id, session.username, self.idle_timeout)  # fmt: skip
                    session.close("timeout")
