"""Authentication policy and session limits of the server: per-source back-off, no
empty passwords, private state directories, atomic session admission, per-user caps,
hello and idle timeouts."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from support.servers import (
    PASSWORD,
    USER,
    RawClient,
    ServerThread,
    arun,
    connect,
    raw_session,
)

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.server import NetconfServer, ServerOptions
from qnms_agents.runner import credentials

FIXTURES = Path(__file__).with_name("fixtures")


async def ssh_login(port: int, password: str, user: str = USER) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect("127.0.0.1", port, username=user, password=password,
                                  known_hosts=None, client_keys=None, agent_path=None)  # fmt: skip


async def failed_login_time(port: int) -> float:
    t0 = time.monotonic()
    with pytest.raises(asyncssh.PermissionDenied):
        await ssh_login(port, "wrong")
    return time.monotonic() - t0


def test_second_failed_login_from_an_address_is_slower_than_the_first(
    server_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    st = server_factory(auth_backoff=0.2)
    caplog.set_level(logging.INFO, logger="qnms.netconf")

    async def body() -> tuple[float, float, float]:
        first = await failed_login_time(st.port)
        second = await failed_login_time(st.port)
        t0 = time.monotonic()
        conn = await ssh_login(st.port, PASSWORD)  # the right one still works
        conn.close()
        return first, second, time.monotonic() - t0

    first, second, ok = arun(body())
    print(f"failed logins: first {first:.3f} s, second {second:.3f} s; then ok in {ok:.3f} s")
    assert first >= 0.2 and second >= 0.4 and second > first + 0.1, (first, second)
    assert ok < second
    auth = [r.getMessage() for r in caplog.records if r.name == "qnms.netconf.protocol.auth"]
    failures = [m for m in auth if "failed password" in m]
    assert len(failures) == 2


def test_each_session_start_and_end_is_logged(
    nc_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qnms.netconf")
    with connect(nc_server.port, user="oper", password="oper-pw") as m:
        sid = m.session_id
    deadline = time.monotonic() + 5
    lines: list[str] = []
    while time.monotonic() < deadline and not any("ended" in line for line in lines):
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("qnms.netconf.")]
        time.sleep(0.02)
    assert f"session {sid}: oper from 127.0.0.1 started" in lines
    assert f"session {sid}: oper from 127.0.0.1 ended" in lines


def test_empty_password_is_refused_at_start(tmp_path: Path) -> None:
    options = ServerOptions(port=0, state_dir=tmp_path, users={"admin": ""})
    server = NetconfServer(DatastoreManager.for_tests(FIXTURES), options=options)
    with pytest.raises(ValueError, match="empty password"):
        arun(server.start())
    with pytest.raises(ValueError, match="empty password"):
        credentials("127.0.0.1", "admin", "", None)


def test_state_directories_are_created_private(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"
    options = ServerOptions(port=0, state_dir=state, users={USER: PASSWORD})
    ds = DatastoreManager.for_tests(FIXTURES, state_dir=state / "datastores")
    st = ServerThread(NetconfServer(ds, options=options))
    try:
        with connect(st.port) as m:
            m.edit_config(target="running", config="<config/>")
    finally:
        st.stop()
    for made in (tmp_path / "deep", state, state / "datastores"):
        assert made.stat().st_mode & 0o777 == 0o700, made


async def open_netconf(port: int) -> asyncssh.SSHClientConnection | None:
    """A logged-in netconf session (hello received), or None if refused."""
    try:
        conn = await ssh_login(port, PASSWORD)
        _, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        await asyncio.wait_for(reader.readuntil(b"]]>]]>"), 20)
        return conn
    except (OSError, asyncssh.Error, asyncio.IncompleteReadError, TimeoutError):
        return None


def test_150_concurrent_connects_never_exceed_the_session_limit(server_factory: Any) -> None:
    st = server_factory(auth_backoff=0.0)
    server = st.server
    peak = 0

    async def body() -> int:
        nonlocal peak
        tasks = [asyncio.create_task(open_netconf(st.port)) for _ in range(150)]
        while not all(t.done() for t in tasks):
            peak = max(peak, len(server.core.sessions), server.slots.reserved)
            await asyncio.sleep(0.005)
        conns = [t.result() for t in tasks]
        peak = max(peak, len(server.core.sessions))
        admitted = [c for c in conns if c is not None]
        for c in admitted:
            c.close()
        return len(admitted)

    t0 = time.monotonic()
    admitted = arun(body())
    print(f"150 connects: {admitted} admitted, peak {peak}, {time.monotonic() - t0:.2f} s")
    assert peak <= 64 and 0 < admitted <= 64, (peak, admitted)
    deadline = time.monotonic() + 10
    while (server.slots.reserved or server.core.sessions) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.slots.reserved == 0 and not server.core.sessions
    with connect(st.port) as m:  # slots came back
        assert m.connected


def test_per_user_session_cap(server_factory: Any) -> None:
    st = server_factory(max_sessions_per_user=1)
    with connect(st.port) as first:
        assert first.connected
        with pytest.raises(Exception):  # noqa: B017  (ncclient: no channel)
            connect(st.port)
        with connect(st.port, user="oper", password="oper-pw") as other:
            assert other.connected


async def wait_closed(client: RawClient, timeout: float) -> bool:
    try:
        return await client.closed(timeout)
    except TimeoutError:
        return False


def test_session_without_hello_is_closed(server_factory: Any) -> None:
    st: ServerThread = server_factory(hello_timeout=0.3)

    async def body() -> bool:
        client = await RawClient(st.port).open()  # server hello read, none sent back
        return await wait_closed(client, 5)

    assert arun(body())


def test_idle_and_stalled_sessions_are_closed_but_subscribers_are_not(
    server_factory: Any,
) -> None:
    st: ServerThread = server_factory(idle_timeout=0.4)

    async def body() -> None:
        idle = await raw_session(st.port)
        stalled = await raw_session(st.port)
        stalled.send_raw(b"\n#200\n<rpc message-id='1'")  # a chunk that never ends
        listener = await raw_session(st.port)
        reply = await listener.rpc(
            '<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"/>'
        )
        assert reply.find("{urn:ietf:params:xml:ns:netconf:base:1.0}ok") is not None
        t0 = time.monotonic()
        assert await wait_closed(idle, 5) and await wait_closed(stalled, 5)
        assert time.monotonic() - t0 < 3
        await asyncio.sleep(0.6)
        reply = await listener.rpc("<get-config><source><running/></source></get-config>")
        assert reply.find("{urn:ietf:params:xml:ns:netconf:base:1.0}data") is not None

    arun(body())
