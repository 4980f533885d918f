"""A fast NETCONF client for ``bench/netconf_agent.py --fast``: the server's capacity.

ncclient costs ~6 ms of a ~8 ms round trip (issue 13), so it measures itself more than
the server. This client is raw asyncssh with the project's RFC 6242 framing
(``qnms.netconf.protocol.framing``, base:1.1 chunked), keeps ``depth`` requests in
flight on one session (RFC 6241 lets a client pipeline; the server answers in order)
and parses every reply (``check_reply``): an ``<rpc-reply>`` echoing the message-id of
the request it answers, with the expected child (``ok`` or ``data``) and no
``<rpc-error>`` (a data reply whose content merely mentions "rpc-error" is fine). What
it reports is the round trips per second one session of the server sustains, and the
server's CPU time per round trip (``tree_cpu``: user + system time of the server's
processes and their children, so netconfd counts with its sshd and subsystem): a
figure the other work on a shared machine distorts far less than a rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from lxml import etree

from qnms.netconf.protocol.framing import FrameDecoder, encode_message

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
HELLO = (
    f'<hello xmlns="{NC}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability>"
    "<capability>urn:ietf:params:netconf:base:1.1</capability>"
    "</capabilities></hello>"
).encode()


Q = f"{{{NC}}}"


def check_reply(reply: bytes, message_id: int, expect: str) -> None:
    """Raise unless ``reply`` is the ``<rpc-reply>`` to ``message_id`` holding
    ``<expect>`` (``ok`` or ``data``) and no ``<rpc-error>``."""
    root = etree.fromstring(reply)
    problem = (
        f"not an rpc-reply but {root.tag}" if root.tag != Q + "rpc-reply"
        else f"message-id {root.get('message-id')}, expected {message_id}"
        if root.get("message-id") != str(message_id)
        else "an rpc-error" if root.find(Q + "rpc-error") is not None
        else f"no <{expect}>" if root.find(Q + expect) is None
        else None
    )  # fmt: skip
    if problem:
        raise RuntimeError(f"unexpected reply ({problem}): {reply[:500]!r}")


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by ``pids`` and all their descendants."""
    total, seen, todo = 0.0, set(), list(pids)
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):  # gone meanwhile: nothing more to count
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()  # after "(command name)"
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in os.listdir(f"/proc/{pid}/task"):
                children = Path(f"/proc/{pid}/task/{task}/children").read_text()
                todo.extend(int(c) for c in children.split())
    return total


@dataclass
class Rate:
    """Round trips per second over a window, how many replies were checked, and the
    server's CPU time per round trip (None when not measured)."""

    rps: float
    replies: int
    cpu_us: float | None = None


class FastSession:
    """One NETCONF session over asyncssh; ``pipeline`` drives it."""

    def __init__(self, port: int, auth: dict[str, Any]) -> None:
        self.port = port
        self.auth = auth
        self.decoder = FrameDecoder(256 * 1024 * 1024)
        self._messages: asyncio.Queue[bytes | None] = asyncio.Queue()
        # perf_counter when the first bytes after the last ``send`` arrived: for one
        # request at a time, the server's time to its reply apart from the transfer
        self.first_at: float | None = None

    async def open(self) -> FastSession:
        self.conn = await asyncssh.connect(
            "127.0.0.1", self.port, known_hosts=None, agent_path=None, **self.auth
        )
        self.writer, self.reader, _ = await self.conn.open_session(
            subsystem="netconf", encoding=None
        )
        self._pump = asyncio.create_task(self._read())
        self.writer.write(encode_message(HELLO, chunked=False))
        hello = await self.recv()
        if b"urn:ietf:params:netconf:base:1.1" not in hello:
            raise RuntimeError("the server does not offer base:1.1")
        self.decoder.set_chunked()  # RFC 6242 4.1: both said 1.1, chunks from now on
        return self

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(1 << 20):
                if self.first_at is None:
                    self.first_at = time.perf_counter()
                self.decoder.feed(data)
                for msg in self.decoder.messages():
                    self._messages.put_nowait(msg)
        finally:
            self._messages.put_nowait(None)

    async def recv(self) -> bytes:
        msg = await asyncio.wait_for(self._messages.get(), 120)
        if msg is None:
            raise RuntimeError("the server closed the session")
        return msg

    def send(self, message_id: int, body: str) -> None:
        rpc = f'<rpc message-id="{message_id}" xmlns="{NC}">{body}</rpc>'.encode()
        self.first_at = None
        self.writer.write(encode_message(rpc, chunked=True))

    async def pipeline(self, bodies: list[str], expect: str, depth: int) -> Rate:
        """Send ``bodies`` keeping ``depth`` in flight; time the lot. Every reply
        must hold ``<expect>`` (``check_reply``)."""
        sent = received = 0
        start = time.perf_counter()
        while sent < min(depth, len(bodies)):
            self.send(sent, bodies[sent])
            sent += 1
        while received < len(bodies):
            check_reply(await self.recv(), received, expect)
            received += 1
            if sent < len(bodies):
                self.send(sent, bodies[sent])
                sent += 1
        return Rate(received / (time.perf_counter() - start), received)

    async def close(self) -> None:
        self.send(0, "<close-session/>")
        with contextlib.suppress(Exception):  # closed, or gone: either way, done
            await asyncio.wait_for(self._pump, 10)
        self.conn.close()
        await self.conn.wait_closed()


async def capacity(
    port: int,
    auth: dict[str, Any],
    edit: list[str],
    n: int,
    depth: int,
    cpu: Callable[[], float] | None = None,
) -> tuple[Rate, Rate]:
    """(edit-config rate, get-config rate) of one pipelined session, after a warm-up;
    ``cpu`` (the server's CPU seconds so far) gives each its CPU per round trip."""
    session = await FastSession(port, auth).open()

    async def timed(bodies: list[str], expect: str) -> Rate:
        before = cpu() if cpu is not None else 0.0
        rate = await session.pipeline(bodies, expect, depth)
        if cpu is not None:
            rate.cpu_us = (cpu() - before) / rate.replies * 1e6
        return rate

    try:
        get = "<get-config><source><running/></source></get-config>"
        await session.pipeline([edit[i % len(edit)] for i in range(20)], "ok", depth)
        edits = await timed([edit[i % len(edit)] for i in range(n)], "ok")
        gets = await timed([get] * n, "data")
        return edits, gets
    finally:
        await session.close()


def measure_capacity(
    port: int,
    auth: dict[str, Any],
    edit: list[str],
    n: int,
    depth: int,
    pids: list[int] | None = None,
) -> tuple[Rate, Rate]:
    """``capacity``, with the CPU of ``pids`` (and their children) when given."""
    cpu = (lambda: tree_cpu(pids)) if pids else None
    return asyncio.run(capacity(port, auth, edit, n, depth, cpu))
