"""NETCONF to the agents: one persistent ncclient session per agent, used from asyncio.

ncclient is the client the architecture names (ARCHITECTURE.md "Who talks to whom"),
and it is blocking: every call here runs in a thread pool, so a fan-out to the agents
of a path runs in parallel and the orchestrator's event loop (which also serves the
northbound) is never blocked. Sessions are opened once and kept (an SSH handshake
costs far more than an RPC); a broken session is reopened once on the next call.
STACK-NOTES: ncclient polls every ``TICK`` (0.1 s) and paramiko leaves Nagle on, so
TICK is lowered to 5 ms and TCP_NODELAY set, which brings an RPC from ~100 ms to ~10 ms.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ncclient.transport.session
from lxml import etree
from ncclient import manager
from ncclient.manager import Manager
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

ncclient.transport.session.TICK = 0.005

log = logging.getLogger(__name__)
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
CONFIRMED_COMMIT = "urn:ietf:params:netconf:capability:confirmed-commit:1.1"
VALIDATE = "urn:ietf:params:netconf:capability:validate:1.1"


@dataclass(frozen=True)
class AgentAddress:
    """Where one agent listens and how to log in (one inventory row)."""

    stratum: str  # qfs | ss | cs
    name: str  # node name (cs: domain name)
    host: str
    port: int
    username: str = "admin"
    password: str = "admin"

    @property
    def key(self) -> str:
        return f"{self.stratum}:{self.name}"


class SouthboundError(Exception):
    """An agent call failed: unreachable, or it answered with an rpc-error."""

    def __init__(self, agent: str, step: str, message: str) -> None:
        super().__init__(f"{agent}: {step}: {message}")
        self.agent, self.step, self.message = agent, step, message


class AgentSession:
    """One agent's persistent session; calls are serialised by a lock (ncclient
    sessions are not meant for concurrent RPCs from several threads)."""

    def __init__(self, address: AgentAddress, timeout: float = 10.0) -> None:
        self.address = address
        self.timeout = timeout
        self._m: Manager | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def _connect(self) -> Manager:
        """A session over a socket of our own: TCP_NODELAY set before the handshake, and
        a handle to cut the transport if closing the session politely fails."""
        a = self.address
        sock = socket.create_connection((a.host, a.port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            m = manager.connect(
                host=a.host,
                port=a.port,
                sock=sock,
                username=a.username,
                password=a.password,
                hostkey_verify=False,
                allow_agent=False,
                look_for_keys=False,
                timeout=self.timeout,
            )
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return m

    def manager(self) -> Manager:
        if self._m is None or not self._m.connected:
            self._m = self._connect()
        return self._m

    @property
    def capabilities(self) -> list[str]:
        return list(self.manager().server_capabilities)

    def call[T](self, step: str, fn: Callable[[Manager], T], *, retry: bool = True) -> T:
        """Run ``fn(manager)``; reconnect once if the session had died in between."""
        with self._lock:
            try:
                return fn(self.manager())
            except RPCError as err:
                raise SouthboundError(self.address.key, step, str(err)) from err
            except Exception as err:
                self.close_quietly()
                if not retry:
                    raise SouthboundError(self.address.key, step, repr(err)) from err
            try:  # one fresh session: agents restart, connections drop
                return fn(self.manager())
            except RPCError as err:
                raise SouthboundError(self.address.key, step, str(err)) from err
            except Exception as err:
                self.close_quietly()
                raise SouthboundError(self.address.key, step, repr(err)) from err

    def close_quietly(self) -> None:
        m, self._m = self._m, None
        sock, self._sock = self._sock, None
        if m is not None:
            try:
                m.close_session()
            except Exception:
                log.debug("close-session to %s failed; cutting the transport", self.address.key)
        if sock is not None:
            sock.close()  # ends ncclient's reader thread either way


def rpc(m: Manager, xml: str) -> etree._Element:
    """Send one RPC given as XML text (operations ncclient has no method for); the
    ``<rpc-reply>`` element (ncclient's generic reply has no ``data_ele``)."""
    return to_ele(m.dispatch(to_ele(xml)).xml)


class Southbound:
    """Sessions to every agent of the inventory and a pool to call them in parallel."""

    def __init__(self, agents: Iterable[AgentAddress], workers: int = 16) -> None:
        self.sessions = {a.key: AgentSession(a) for a in agents}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="southbound")
        self._turns: dict[str, asyncio.Lock] = {}

    def candidate_turn(self, key: str) -> asyncio.Lock:
        """This orchestrator's exclusive turn at an agent's candidate datastore."""
        return self._turns.setdefault(key, asyncio.Lock())

    def session(self, key: str) -> AgentSession:
        return self.sessions[key]

    async def call[T](
        self, key: str, step: str, fn: Callable[[Manager], T], *, retry: bool = True
    ) -> T:
        loop = asyncio.get_running_loop()
        session = self.sessions[key]
        return await loop.run_in_executor(self._pool, lambda: session.call(step, fn, retry=retry))

    async def fan_out(
        self,
        keys: Iterable[str],
        step: str,
        fn: Callable[[str, Manager], Any],
        *,
        retry: bool = True,
    ) -> dict[str, Any]:
        """Call every agent in parallel; {key: result or the SouthboundError raised}.

        ``retry`` False for steps that need the session they follow (after a lock:
        a new session does not hold it).
        """
        keys = list(keys)

        async def one(k: str) -> Any:
            try:
                return await self.call(k, step, lambda m: fn(k, m), retry=retry)
            except SouthboundError as err:
                return err

        results = await asyncio.gather(*(one(k) for k in keys))
        return dict(zip(keys, results, strict=True))

    async def capabilities(self, key: str) -> list[str]:
        return await self.call(key, "hello", lambda m: list(m.server_capabilities))

    async def close(self) -> None:
        """Close every session from the pool (a close waits for the agent's answer, and
        the agents may share this event loop), then the pool."""
        loop = asyncio.get_running_loop()
        closing = [
            loop.run_in_executor(self._pool, s.close_quietly) for s in self.sessions.values()
        ]
        if closing:
            await asyncio.wait(closing, timeout=5.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
