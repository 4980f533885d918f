"""Byte-level protocol tests with a raw asyncssh client: hello, framing, sessions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lxml import etree
from support.servers import (
    CLIENT_HELLO,
    Q,
    RawClient,
    ServerThread,
    arun,
    error_fields,
    raw_session,
)

from qnms.netconf.protocol.framing import EOM, encode_message
from qnms.yang.errors import NC_NS

NCM = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
CAP = "urn:ietf:params:netconf:capability:"


def test_server_hello_capabilities(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await RawClient(nc_server.port).open()
        hello = c.server_hello
        assert hello is not None and hello.tag == Q + "hello"
        caps = [e.text for e in hello.iterfind(f"{Q}capabilities/{Q}capability")]
        for cap in (
            "urn:ietf:params:netconf:base:1.0",
            "urn:ietf:params:netconf:base:1.1",
            CAP + "candidate:1.0",
            CAP + "validate:1.1",
            CAP + "rollback-on-error:1.0",
            CAP + "startup:1.0",
            CAP + "xpath:1.0",
            CAP + "notification:1.0",
            CAP + "interleave:1.0",
            CAP + "writable-running:1.0",
        ):
            assert cap in caps
        assert f"{NCM}?module=ietf-netconf-monitoring&revision=2010-10-04" in caps
        assert any(c.startswith("urn:example:net?module=example-net&revision=") for c in caps)
        assert any(
            c.startswith("urn:ietf:params:xml:ns:netconf:base:1.0?module=ietf-netconf&")
            and "features=" in c
            and "candidate" in c
            for c in caps
        )
        yl = [c for c in caps if c.startswith(CAP + "yang-library:1.1?revision=2019-01-04")]
        assert len(yl) == 1
        content_id = yl[0].split("content-id=")[1]
        sid = hello.findtext(Q + "session-id")
        assert sid is not None and int(sid) >= 1
        await c.hello()
        reply = await c.rpc(
            '<get><filter type="subtree"><yang-library '
            'xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-library"><content-id/>'
            "</yang-library></filter></get>"
        )
        assert reply.findtext(".//{urn:ietf:params:xml:ns:yang:ietf-yang-library}content-id") == (
            content_id
        )
        await c.close()

    arun(body())


def test_session_ids_increase_from_one(nc_server: ServerThread) -> None:
    async def body() -> None:
        ids = []
        for _ in range(3):
            c = await raw_session(nc_server.port)
            ids.append(int(c.server_hello.findtext(Q + "session-id")))  # type: ignore[union-attr]
            await c.close()
        assert ids == [1, 2, 3]

    arun(body())


@pytest.mark.parametrize("base11", [False, True])
def test_framing_follows_negotiated_base(nc_server: ServerThread, base11: bool) -> None:
    async def body() -> None:
        c = await RawClient(nc_server.port).open()
        raw: list[bytes] = []
        orig = c.decoder.feed

        def spy(data: bytes) -> None:
            raw.append(data)
            orig(data)

        c.decoder.feed = spy  # type: ignore[method-assign]
        await c.hello(base11)
        reply = await c.rpc("<get-config><source><running/></source></get-config>")
        assert reply.find(Q + "data") is not None
        wire = b"".join(raw)
        if base11:
            assert wire.startswith(b"\n#") and wire.endswith(b"\n##\n") and EOM not in wire
        else:
            assert wire.endswith(EOM) and b"\n##\n" not in wire
        await c.close()

    arun(body())


def test_hello_and_first_rpc_in_one_packet(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await RawClient(nc_server.port).open()
        hello = CLIENT_HELLO.format(
            extra="<capability>urn:ietf:params:netconf:base:1.1</capability>"
        ).encode()
        rpc = f'<rpc message-id="7" xmlns="{NC_NS}"><get-config><source><running/></source>'
        c.send_raw(
            encode_message(hello, False)
            + encode_message((rpc + "</get-config></rpc>").encode(), True)
        )
        c.chunked = True
        c.decoder.set_chunked()
        reply = etree.fromstring(await c.recv())
        assert reply.get("message-id") == "7" and reply.find(Q + "data") is not None
        await c.close()

    arun(body())


def test_rpc_attributes_echoed(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port)
        c.send(
            f'<rpc message-id="101" xmlns="{NC_NS}" xmlns:ex="http://example.net/1.0" '
            'ex:user-id="fred" other="x"><get-config><source><running/></source>'
            "</get-config></rpc>"
        )
        reply = etree.fromstring(await c.recv())
        assert reply.get("message-id") == "101"
        assert reply.get("{http://example.net/1.0}user-id") == "fred"
        assert reply.get("other") == "x"
        await c.close()

    arun(body())


def test_missing_message_id(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port)
        c.send(f'<rpc xmlns="{NC_NS}"><get-config><source><running/></source></get-config></rpc>')
        reply = etree.fromstring(await c.recv())
        assert reply.get("message-id") is None
        (err,) = error_fields(reply)
        assert err["tag"] == "missing-attribute" and err["type"] == "rpc"
        assert err["info"] == [("bad-attribute", "message-id"), ("bad-element", "rpc")]
        # the session goes on
        assert (await c.rpc("<get-config><source><running/></source></get-config>")).find(
            Q + "data"
        ) is not None
        await c.close()

    arun(body())


def test_close_session_replies_ok_then_closes(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port)
        assert (await c.rpc("<close-session/>")).find(Q + "ok") is not None
        assert await c.closed()
        await c.close()

    arun(body())
    stats = nc_server.call(lambda: nc_server.server.monitoring.dropped_sessions)
    assert stats == 0  # a close-session is not a dropped session (RFC 6022)


@pytest.mark.parametrize(
    "hello",
    [
        CLIENT_HELLO.replace("urn:ietf:params:netconf:base:1.0", "urn:x:base:9").format(extra=""),
        CLIENT_HELLO.format(extra="").replace("</hello>", "<session-id>4</session-id></hello>"),
        f'<rpc message-id="1" xmlns="{NC_NS}"><get/></rpc>',
        "<hello><capabilities>",
        '<hello xmlns="urn:other"/>',
    ],
)
def test_bad_hello_closes_session(nc_server: ServerThread, hello: str) -> None:
    async def body() -> None:
        c = await RawClient(nc_server.port).open()
        c.send_raw(encode_message(hello.encode(), False))
        assert await c.closed()
        await c.close()

    arun(body())
    assert nc_server.call(lambda: nc_server.server.monitoring.in_bad_hellos) == 1


def test_hello_timeout(server_factory: Any) -> None:
    st = server_factory(hello_timeout=0.2)

    async def body() -> None:
        c = await RawClient(st.port).open()
        assert await c.closed(timeout=3)
        await c.close()

    arun(body())


def test_kill_session_releases_locks(nc_server: ServerThread) -> None:
    async def body() -> None:
        a = await raw_session(nc_server.port)
        b = await raw_session(nc_server.port)
        watcher = await raw_session(nc_server.port)
        await watcher.rpc(f'<create-subscription xmlns="{NOTIF}"/>')
        sid_a = a.server_hello.findtext(Q + "session-id")  # type: ignore[union-attr]
        sid_b = b.server_hello.findtext(Q + "session-id")  # type: ignore[union-attr]
        assert (await a.rpc("<lock><target><candidate/></target></lock>")).find(
            Q + "ok"
        ) is not None
        reply = await b.rpc(f"<kill-session><session-id>{sid_a}</session-id></kill-session>")
        assert reply.find(Q + "ok") is not None
        assert await a.closed()
        assert (await b.rpc("<lock><target><candidate/></target></lock>")).find(
            Q + "ok"
        ) is not None
        ncn = "{urn:ietf:params:xml:ns:yang:ietf-netconf-notifications}"
        while True:
            n = etree.fromstring(await watcher.recv())
            end = n.find(ncn + "netconf-session-end")
            if end is not None:
                break
        assert end.findtext(ncn + "session-id") == sid_a
        assert end.findtext(ncn + "killed-by") == sid_b
        assert end.findtext(ncn + "termination-reason") == "killed"
        await b.close()
        await watcher.close()
        await a.close()

    arun(body())


def test_base10_message_after_trailing_newline(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port, base11=False)
        c.send_raw(b'\n<?xml version="1.0" encoding="UTF-8"?>\n<rpc message-id="5" xmlns="'
                   + NC_NS.encode() + b'"><get-config><source><running/></source></get-config>'
                   b"</rpc>]]>]]>\n")  # fmt: skip
        reply = etree.fromstring(await c.recv())
        assert reply.get("message-id") == "5" and reply.find(Q + "data") is not None
        await c.close()

    arun(body())


def test_registered_async_operation_and_threadsafe_publish(nc_server: ServerThread) -> None:
    """Agents add RPCs (sync or async) and publish events from other threads."""

    async def ping(session: Any, op: etree._Element) -> list[etree._Element]:
        await asyncio.sleep(0.01)  # behaviour under test: an RPC handler that really awaits
        out = etree.Element("{urn:x}pong")
        out.text = op.findtext("{urn:x}payload")
        return [out]

    nc_server.call(lambda: nc_server.server.register_operation("urn:x", "ping", ping))

    async def body() -> None:
        c = await raw_session(nc_server.port)
        await c.rpc(f'<create-subscription xmlns="{NOTIF}"/>')
        reply = await c.rpc('<ping xmlns="urn:x"><payload>42</payload></ping>')
        assert reply.findtext("{urn:x}pong") == "42"
        (err,) = error_fields(await c.rpc('<pong xmlns="urn:x"/>'))
        assert (err["tag"], err["info"]) == ("operation-not-supported", [("bad-element", "pong")])
        nc_server.server.hub.publish_threadsafe(
            etree.fromstring('<alarm xmlns="urn:x">hot</alarm>')
        )
        while True:
            n = etree.fromstring(await c.recv())
            if n.find("{urn:x}alarm") is not None:
                break
        assert n.tag == f"{{{NOTIF}}}notification" and n.findtext(f"{{{NOTIF}}}eventTime")
        await c.close()

    arun(body())
