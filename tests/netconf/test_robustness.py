"""Hostile and broken input: each case gets the exact rpc-error or a clean close, and
the server (other sessions, fresh sessions) carries on."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncssh
import pytest
from lxml import etree
from support.polling import await_until
from support.servers import (
    PASSWORD,
    USER,
    Q,
    RawClient,
    ServerThread,
    arun,
    error_fields,
    raw_session,
)

from qnms.netconf.protocol.notifications import Event
from qnms.netconf.protocol.session import parse_secure
from qnms.yang.errors import NC_NS

GET = "<get-config><source><running/></source></get-config>"
_ENTITIES = '<!ENTITY lol0 "lol">' + "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
)
LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE lolz [{_ENTITIES}]>'
    f'<rpc message-id="1" xmlns="{NC_NS}"><get-config><source><running/></source>'
    "<filter>&lol9;</filter></get-config></rpc>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    f'<rpc message-id="1" xmlns="{NC_NS}"><get-config><source>&x;</source></get-config></rpc>'
)
DEEP = f'<rpc message-id="1" xmlns="{NC_NS}"><get-config><source><running/></source><filter>'
DEEP += "<a>" * 300 + "</a>" * 300 + "</filter></get-config></rpc>"


async def still_serving(port: int, *others: RawClient) -> None:
    """A fresh session works, and so does every session that should have survived."""
    fresh = await raw_session(port)
    assert (await fresh.rpc(GET)).find(Q + "data") is not None
    await fresh.close()
    for other in others:
        assert (await other.rpc(GET, message_id="alive")).find(Q + "data") is not None


# (message, base11, expected error-tag or None for "no message-id echo needed")
ERROR_CORPUS = [
    pytest.param(b"<rpc message-id='1' xmlns='" + NC_NS.encode() + b"'><get>", True,
                 "malformed-message", id="truncated-xml"),
    pytest.param(b"<<<>>>", True, "malformed-message", id="not-xml"),
    pytest.param(b"<rpc message-id='1'><get/></rpc>", True, "unknown-namespace", id="no-ns"),
    pytest.param(f"<foo xmlns='{NC_NS}'/>".encode(), True, "unknown-element", id="not-rpc"),
    pytest.param(LAUGHS.encode(), True, "malformed-message", id="billion-laughs"),
    pytest.param(XXE.encode(), True, "malformed-message", id="external-entity"),
    pytest.param(DEEP.encode(), True, "malformed-message", id="deep-nesting"),
    pytest.param(b"<rpc>\xff\xfe</rpc>", True, "malformed-message", id="bad-utf8"),
    pytest.param(b"<<<>>>", False, "operation-failed", id="not-xml-base10"),
    pytest.param(LAUGHS.encode(), False, "operation-failed", id="billion-laughs-base10"),
]  # fmt: skip


@pytest.mark.parametrize(("message", "base11", "tag"), ERROR_CORPUS)
def test_bad_messages_get_rpc_error(
    nc_server: ServerThread, message: bytes, base11: bool, tag: str
) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port, base11=base11)
        c.send(message)
        reply = etree.fromstring(await c.recv())
        assert reply.tag == Q + "rpc-reply"
        (err,) = error_fields(reply)
        assert err["tag"] == tag
        assert err["type"] in ("rpc", "protocol")
        # the same session goes on
        assert (await c.rpc(GET)).find(Q + "data") is not None
        await c.close()
        await still_serving(nc_server.port)

    arun(body())
    bad = nc_server.call(lambda: nc_server.server.monitoring.in_bad_rpcs)
    assert bad >= 1


# byte streams that break the framing: the session is closed, nothing else
FRAMING_CORPUS = [
    pytest.param(b"garbage", id="garbage"),
    pytest.param(b"\n#0\n", id="zero-chunk"),
    pytest.param(b"\n#4294967296\n", id="chunk-too-big-for-rfc"),
    pytest.param(b"\n#4294967295\n", id="huge-chunk-header"),
    pytest.param(b"\n#12x\n", id="bad-size"),
    pytest.param(b"\n#5\nhello##\n", id="missing-lf"),
    pytest.param(b"<rpc/>]]>]]>", id="eom-on-chunked-session"),
]


@pytest.mark.parametrize("data", FRAMING_CORPUS)
def test_framing_errors_close_only_that_session(nc_server: ServerThread, data: bytes) -> None:
    async def body() -> None:
        bystander = await raw_session(nc_server.port)
        c = await raw_session(nc_server.port)
        c.send_raw(data)
        assert await c.closed()
        await c.close()
        await still_serving(nc_server.port, bystander)
        await bystander.close()

    arun(body())


def test_oversize_messages_close_the_session(server_factory: Any) -> None:
    st = server_factory(max_message_size=64 * 1024)

    async def body() -> None:
        bystander = await raw_session(st.port)
        for base11 in (False, True):
            c = await raw_session(st.port, base11=base11)
            if base11:
                c.send_raw(b"\n#70000\n" + b"x" * 100)  # refused at the header
            else:
                c.send_raw(b"<rpc>" + b"x" * 70000)  # no delimiter within the limit
            assert await c.closed()
            await c.close()
        await still_serving(st.port, bystander)
        await bystander.close()

    arun(body())


def test_truncated_frame_then_disconnect(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port)
        sid = int(c.server_hello.findtext(Q + "session-id"))  # type: ignore[arg-type]
        await c.rpc("<lock><target><running/></target></lock>")
        c.send_raw(b"\n#100\n<rpc message-id='9'")
        await c.close()
        await still_serving(nc_server.port)
        # the dropped session is gone, and its lock released
        sessions = nc_server.server.sessions
        await await_until(lambda: sid not in nc_server.call(lambda: dict(sessions)))
        fresh = await raw_session(nc_server.port)
        assert (await fresh.rpc("<lock><target><running/></target></lock>")).find(
            Q + "ok"
        ) is not None
        await fresh.close()

    arun(body())
    assert nc_server.call(lambda: nc_server.server.monitoring.dropped_sessions) >= 1


def test_only_the_netconf_subsystem_is_offered(nc_server: ServerThread) -> None:
    async def body() -> None:
        async with asyncssh.connect(
            "127.0.0.1", nc_server.port, username=USER, password=PASSWORD,
            known_hosts=None, client_keys=None, agent_path=None,
        ) as conn:  # fmt: skip
            for kwargs in ({"command": "ls"}, {}, {"subsystem": "sftp"}):
                with pytest.raises(asyncssh.ChannelOpenError):
                    await conn.create_session(asyncssh.SSHClientSession, **kwargs)
            with pytest.raises((asyncssh.ChannelOpenError, asyncssh.Error)):
                await conn.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", nc_server.port)
        await still_serving(nc_server.port)

    arun(body())


def test_slow_subscriber_drops_instead_of_blocking(server_factory: Any) -> None:
    st = server_factory(notification_queue_size=4)

    async def body() -> None:
        sub = await raw_session(st.port)
        await sub.rpc(
            '<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"/>'
        )

        def burst() -> int:
            for i in range(200):
                st.server.hub.publish(etree.fromstring(f'<tick xmlns="urn:x">{i}</tick>'))
            (subscriber,) = st.server.hub.streams["NETCONF"].subscribers
            return subscriber.dropped

        assert st.call(burst) == 196  # 4 queued, the rest dropped without waiting
        other = await raw_session(st.port)
        await still_serving(st.port, other, sub)
        await other.close()
        await sub.close()

    arun(body())


def test_parse_secure_rejects_dtd_before_parsing() -> None:
    from qnms.yang.errors import RpcError

    for doc in (LAUGHS, XXE):
        with pytest.raises(RpcError) as exc:
            parse_secure(doc.encode())
        assert exc.value.tag == "malformed-message"
    with pytest.raises(RpcError):
        parse_secure(DEEP.encode())
    assert parse_secure(b"<a><b/></a>").tag == "a"


@pytest.mark.parametrize("limit", [1, 2, 7, 100, 256])
def test_parse_secure_nesting_limit_is_exact(limit: int) -> None:
    """``max_depth`` levels pass, one more is a malformed-message (checked by an XPath
    of ``max_depth + 1`` steps since issue 13), whatever the siblings around."""
    from qnms.yang.errors import RpcError

    def doc(depth: int) -> bytes:
        inner = "<x/>" if depth > 1 else ""
        return ("<a><s/>" * (depth - 1) + inner + "</a>" * (depth - 1)).encode() or b"<x/>"

    assert parse_secure(doc(limit), limit) is not None
    if limit < 256:  # past 256 libxml2 refuses by itself
        with pytest.raises(RpcError) as exc:
            parse_secure(doc(limit + 1), limit)
        assert exc.value.tag == "malformed-message" and f"{limit} levels" in exc.value.message


def test_event_dataclass_is_shared_not_copied() -> None:
    """Publishing renders each event once per subscriber, from its own copy."""
    from qnms.netconf.protocol.notifications import EventStream, render_notification

    stream = EventStream("S", "test")
    a, b = stream.subscribe(), stream.subscribe()
    ev = stream.publish(etree.fromstring('<e xmlns="urn:x"/>'))
    assert isinstance(ev, Event)
    assert a.queue.qsize() == b.queue.qsize() == 1
    n1, n2 = render_notification(ev), render_notification(ev)
    assert n1[1] is not n2[1] and n1[1].tag == "{urn:x}e"


def test_refuses_non_loopback_without_credentials(tmp_path: Any) -> None:
    from support.servers import make_datastores

    from qnms.netconf.server import NetconfServer, ServerOptions

    for host in ("0.0.0.0", "::", "192.0.2.1"):
        server = NetconfServer(
            make_datastores(), options=ServerOptions(host=host, port=0, state_dir=tmp_path)
        )
        with pytest.raises(ValueError, match="non-loopback"):
            asyncio.run(server.start())


def test_host_key_is_created_once_and_private(server_factory: Any, tmp_path: Any) -> None:
    async def fingerprint(port: int) -> str:
        async with asyncssh.connect(
            "127.0.0.1", port, username=USER, password=PASSWORD,
            known_hosts=None, client_keys=None, agent_path=None,
        ) as conn:  # fmt: skip
            key = conn.get_server_host_key()
            assert key is not None and key.algorithm == b"ssh-ed25519"
            return key.get_fingerprint()

    first = server_factory()
    fp1 = arun(fingerprint(first.port))
    first.stop()
    second = server_factory()
    assert arun(fingerprint(second.port)) == fp1
    key_file = tmp_path / "state" / "ssh_host_ed25519_key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_public_key_login(server_factory: Any, tmp_path: Any) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    auth = tmp_path / "authorized_keys"
    auth.write_bytes(b"ops " + key.export_public_key())  # the key belongs to user ops
    st = server_factory(users={}, authorized_keys=auth)

    async def body() -> None:
        async with asyncssh.connect(
            "127.0.0.1", st.port, username="ops", client_keys=[key],
            known_hosts=None, agent_path=None, password=None,
        ) as conn:  # fmt: skip
            _, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
            assert b"urn:ietf:params:netconf:base:1.1" in await reader.readuntil(b"]]>]]>")
        for name in ("root", USER, "alice"):  # ops's key is not anybody else's
            with pytest.raises(asyncssh.PermissionDenied):
                await asyncssh.connect("127.0.0.1", st.port, username=name, client_keys=[key],
                                       known_hosts=None, agent_path=None)  # fmt: skip
        other = asyncssh.generate_private_key("ssh-ed25519")
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", st.port, username="ops", client_keys=[other],
                                   known_hosts=None, agent_path=None)  # fmt: skip
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect("127.0.0.1", st.port, username=USER, password=PASSWORD,
                                   client_keys=None, known_hosts=None, agent_path=None)  # fmt: skip

    arun(body())
