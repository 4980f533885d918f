"""Byte-level protocol tests with a raw asyncssh client: hello, framing, rpc errors."""

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
    error_fields,
    raw_session,
)

from qnms.netconf.protocol.framing import EOM, encode_message
from qnms.netconf.protocol.with_defaults import WD_NS
from qnms.yang.errors import NC_NS

NCM = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
CAP = "urn:ietf:params:netconf:capability:"


def arun(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


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


# rpc body | error-tag | error-type | error-info as name=value pairs
ERROR_TABLE = """
<get-config/> | missing-element | protocol | bad-element=source
<get-config><source/></get-config> | missing-element | protocol | bad-element=source
<get-config><source><foo/></source></get-config> | bad-element | protocol | bad-element=source
<get-config><source><url>file:///x</url></source></get-config> | operation-not-supported \
    | protocol | bad-element=url
<get-config><source><running/></source><bogus/></get-config> | unknown-element | protocol \
    | bad-element=bogus
<get-config><source><running/></source><x xmlns="urn:other"/></get-config> | unknown-namespace \
    | protocol | bad-element=x bad-namespace=urn:other
<edit-config><config/></edit-config> | missing-element | protocol | bad-element=target
<edit-config><target><running/></target></edit-config> | missing-element | protocol \
    | bad-element=config
<edit-config><target><startup/></target><config/></edit-config> | bad-element | protocol \
    | bad-element=target
<edit-config><target><running/></target><default-operation>foo</default-operation><config/>\
</edit-config> | invalid-value | protocol | bad-element=default-operation
<edit-config><target><running/></target><test-option>maybe</test-option><config/></edit-config>\
 | invalid-value | protocol | bad-element=test-option
<edit-config><target><running/></target><error-option>x</error-option><config/></edit-config>\
 | invalid-value | protocol | bad-element=error-option
<edit-config><target><running/></target><url>file:///x</url></edit-config> \
    | operation-not-supported | protocol | bad-element=url
<copy-config><target><startup/></target></copy-config> | missing-element | protocol \
    | bad-element=source
<copy-config><target><url>ftp://x</url></target><source><running/></source></copy-config> \
    | operation-not-supported | protocol | bad-element=url
<delete-config><target><running/></target></delete-config> | bad-element | protocol \
    | bad-element=target
<lock/> | missing-element | protocol | bad-element=target
<lock><target><nowhere/></target></lock> | bad-element | protocol | bad-element=target
<validate/> | missing-element | protocol | bad-element=source
<commit><confirmed/><confirm-timeout>0</confirm-timeout></commit> | invalid-value | protocol \
    | bad-element=confirm-timeout
<commit><persist>p</persist></commit> | invalid-value | protocol | bad-element=persist
<commit><persist-id>p</persist-id></commit> | invalid-value | protocol | bad-element=persist-id
<commit><bogus/></commit> | unknown-element | protocol | bad-element=bogus
<cancel-commit/> | operation-failed | protocol |
<get><with-defaults xmlns="$WD">everything</with-defaults></get> | invalid-value | protocol \
    | bad-element=with-defaults
<discard-changes><x/></discard-changes> | unknown-element | protocol | bad-element=x
<kill-session/> | missing-element | protocol | bad-element=session-id
<kill-session><session-id>abc</session-id></kill-session> | invalid-value | protocol \
    | bad-element=session-id
<kill-session><session-id>0</session-id></kill-session> | invalid-value | protocol \
    | bad-element=session-id
<kill-session><session-id>9999</session-id></kill-session> | invalid-value | protocol \
    | bad-element=session-id
<bogus/> | operation-not-supported | protocol | bad-element=bogus
<bogus xmlns="urn:nowhere"/> | unknown-namespace | protocol \
    | bad-element=bogus bad-namespace=urn:nowhere
<get-schema xmlns="$NCM"/> | missing-element | protocol | bad-element=identifier
<get-schema xmlns="$NCM"><identifier>no-such-module</identifier></get-schema> | invalid-value \
    | application | bad-element=identifier
<get-schema xmlns="$NCM"><identifier>ietf-yang-types</identifier><version>1999-01-01</version>\
</get-schema> | invalid-value | application | bad-element=identifier
<get-schema xmlns="$NCM"><identifier>ietf-yang-types</identifier><format>yin</format>\
</get-schema> | invalid-value | application | bad-element=format
<get><filter type="xpath"/></get> | missing-attribute | protocol \
    | bad-attribute=select bad-element=filter
<get><filter type="regex"/></get> | bad-attribute | protocol | bad-attribute=type bad-element=filter
<create-subscription xmlns="$NOTIF"><stream>NOPE</stream></create-subscription> \
    | invalid-value | application | bad-element=stream
<create-subscription xmlns="$NOTIF"><startTime>2020-01-01T00:00:00Z</startTime>\
</create-subscription> | operation-failed | protocol |
<create-subscription xmlns="$NOTIF"><stopTime>2020-01-01T00:00:00Z</stopTime>\
</create-subscription> | missing-element | protocol | bad-element=startTime
<create-subscription xmlns="$NOTIF"><startTime>2020-01-02T00:00:00Z</startTime>\
<stopTime>2020-01-01T00:00:00Z</stopTime></create-subscription> | bad-element | protocol \
    | bad-element=stopTime
<create-subscription xmlns="$NOTIF"><startTime>2999-01-01T00:00:00Z</startTime>\
</create-subscription> | bad-element | protocol | bad-element=startTime
<create-subscription xmlns="$NOTIF"><startTime>yesterday</startTime></create-subscription> \
    | bad-element | protocol | bad-element=startTime
 | missing-element | rpc | bad-element=rpc
<get/><get/> | unknown-element | rpc | bad-element=get
"""


def _cases() -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    text = ERROR_TABLE.replace("\\\n    ", " ").replace("\\\n", "")
    text = text.replace("$NCM", NCM).replace("$NOTIF", NOTIF).replace("$WD", WD_NS)
    out = []
    for line in filter(None, text.strip().splitlines()):
        rpc, tag, etype, info = (part.strip() for part in line.split("|"))
        out.append((rpc, tag, etype, [tuple(kv.split("=", 1)) for kv in info.split()]))
    return out  # type: ignore[return-value]


ERROR_CASES = _cases()


def test_error_replies_are_exact_and_leave_state_unchanged(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port)
        edit = (
            '<edit-config><target><running/></target><config><network xmlns="urn:example:net">'
            "<name>keep</name></network></config></edit-config>"
        )
        assert (await c.rpc(edit)).find(Q + "ok") is not None
        get = "<get-config><source><running/></source></get-config>"
        before = etree.tostring((await c.rpc(get))[0], method="c14n")
        for i, (rpc, tag, etype, info) in enumerate(ERROR_CASES):
            reply = await c.rpc(rpc, message_id=str(i))
            assert reply.get("message-id") == str(i)
            errs = error_fields(reply)
            assert len(errs) == 1, (rpc, etree.tostring(reply))
            (err,) = errs
            assert (err["tag"], err["type"], err["info"]) == (tag, etype, info), rpc
            assert err["severity"] == "error"
            assert reply.find(Q + "ok") is None
        assert etree.tostring((await c.rpc(get))[0], method="c14n") == before
        await c.close()

    arun(body())


def test_get_schema_ambiguous_and_by_version(server_factory: Any) -> None:
    """Two revisions of one module: no version -> operation-failed/data-not-unique."""
    from qnms.netconf.protocol.monitoring import ietf_modules

    yl = next(m for m in ietf_modules() if m.name == "ietf-yang-types")
    older = type(yl)(
        name=yl.name,
        revision="2010-09-24",
        namespace=yl.namespace,
        prefix=yl.prefix,
        path=yl.path,
        conformance="import",
    )
    st = server_factory()
    st.server.monitoring.modules.append(older)

    async def body() -> None:
        c = await raw_session(st.port)
        reply = await c.rpc(
            f'<get-schema xmlns="{NCM}"><identifier>ietf-yang-types</identifier></get-schema>'
        )
        (err,) = error_fields(reply)
        assert (err["tag"], err["type"], err["app_tag"]) == (
            "operation-failed",
            "application",
            "data-not-unique",
        )
        reply = await c.rpc(
            f'<get-schema xmlns="{NCM}"><identifier>ietf-yang-types</identifier>'
            "<version>2013-07-15</version><format xmlns:ncm='"
            + NCM
            + "'>ncm:yang</format></get-schema>"
        )
        data = reply.find(f"{{{NCM}}}data")
        assert data is not None and data.text == yl.path.read_text()
        await c.close()

    arun(body())


def test_kill_own_session_is_invalid(nc_server: ServerThread) -> None:
    async def body() -> None:
        c = await raw_session(nc_server.port)
        sid = c.server_hello.findtext(Q + "session-id")  # type: ignore[union-attr]
        reply = await c.rpc(f"<kill-session><session-id>{sid}</session-id></kill-session>")
        (err,) = error_fields(reply)
        assert (err["tag"], err["type"], err["info"]) == (
            "invalid-value",
            "protocol",
            [("bad-element", "session-id")],
        )
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


def test_lock_denied_names_holder(nc_server: ServerThread) -> None:
    async def body() -> None:
        a = await raw_session(nc_server.port)
        b = await raw_session(nc_server.port)
        sid_a = a.server_hello.findtext(Q + "session-id")  # type: ignore[union-attr]
        assert (await a.rpc("<lock><target><running/></target></lock>")).find(Q + "ok") is not None
        (err,) = error_fields(await b.rpc("<lock><target><running/></target></lock>"))
        assert (err["tag"], err["type"], err["info"]) == (
            "lock-denied",
            "protocol",
            [("session-id", sid_a)],
        )
        # unlocking a lock one does not hold fails; the holder can unlock
        (err,) = error_fields(await b.rpc("<unlock><target><running/></target></unlock>"))
        assert err["tag"] == "operation-failed"
        assert (await a.rpc("<unlock><target><running/></target></unlock>")).find(
            Q + "ok"
        ) is not None
        assert (await b.rpc("<lock><target><running/></target></lock>")).find(Q + "ok") is not None
        await a.close()
        await b.close()

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
