"""Console logins: one NETCONF session per user, opened with the user's own credentials.

The console holds no users or passwords of its own. A login opens a NETCONF session to
the orchestrator's northbound with what the user typed; the SSH authentication is the
check, and the session is then the user's for everything the page shows and does. The
orchestrator's NACM and tenancy therefore apply unchanged: an application's user sees
and touches only its own units, exactly as with ``qnms status`` or any NETCONF client.

The browser holds a random session token in a cookie (HttpOnly, SameSite=Strict), signed
with a per-process secret so a forged or stale cookie is refused without a lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from ncclient.transport.errors import AuthenticationError, SSHError

from qnms.app.console.feed import Feed
from qnms.app.northbound import Login, connect
from qnms.yang.schema import Schema

log = logging.getLogger(__name__)
COOKIE = "qnms_console"


class LoginError(Exception):
    """The northbound refused the login, or could not be reached (message says which)."""


@dataclass
class UserSession:
    """A logged-in user: the NETCONF session in its name, and its live picture."""

    token: str
    user: str
    operator: bool  # may inject faults (NACM group admin on the northbound)
    manager: Any  # ncclient Manager
    feed: Feed
    _close: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def close(self) -> None:
        self.feed.close()
        with contextlib.suppress(Exception):  # the peer may already be gone
            self._close.close()


class Sessions:
    """Cookie <-> NETCONF session, for every user logged in to this console."""

    def __init__(
        self,
        host: str,
        port: int,
        schema: Schema,
        operators: frozenset[str],
        timeout: float = 15.0,
    ) -> None:
        self.host, self.port, self.schema = host, port, schema
        self.operators = operators
        self.timeout = timeout
        self._secret = secrets.token_bytes(32)
        self._by_token: dict[str, UserSession] = {}

    # -- cookies -----------------------------------------------------------------------

    def _sign(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    def cookie(self, session: UserSession) -> str:
        return f"{session.token}.{self._sign(session.token)}"

    def lookup(self, cookie: str | None) -> UserSession | None:
        token, _, sig = (cookie or "").partition(".")
        if not token or not hmac.compare_digest(sig, self._sign(token)):
            return None
        session = self._by_token.get(token)
        if session is not None and not session.manager.connected:
            self._drop(token)  # the northbound ended it: log in again
            return None
        return session

    # -- login / logout ----------------------------------------------------------------

    async def login(self, user: str, password: str) -> UserSession:
        """Open the user's NETCONF session and its feed; LoginError if refused."""
        loop = asyncio.get_running_loop()
        return await asyncio.to_thread(self._open, user, password, loop)

    def _open(self, user: str, password: str, loop: asyncio.AbstractEventLoop) -> UserSession:
        stack = contextlib.ExitStack()
        try:
            m = stack.enter_context(
                connect(Login(self.host, self.port, user, password), timeout=self.timeout)
            )
        except AuthenticationError as err:
            raise LoginError(f"login refused by the northbound for {user!r}") from err
        except (SSHError, OSError) as err:
            raise LoginError(f"northbound {self.host}:{self.port} unreachable: {err}") from err
        try:
            m.timeout = self.timeout
            feed = Feed(m, self.schema, loop)
            feed.open()
        except Exception:
            stack.close()
            raise
        token = secrets.token_urlsafe(24)
        session = UserSession(token, user, user in self.operators, m, feed, stack)
        self._by_token[token] = session
        log.info("console: %s logged in", user)
        return session

    async def logout(self, session: UserSession) -> None:
        self._by_token.pop(session.token, None)
        await asyncio.to_thread(session.close)

    def _drop(self, token: str) -> None:
        session = self._by_token.pop(token, None)
        if session is not None:
            session.close()

    async def close_all(self) -> None:
        sessions, self._by_token = list(self._by_token.values()), {}
        await asyncio.gather(*(asyncio.to_thread(s.close) for s in sessions))
