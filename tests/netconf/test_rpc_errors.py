"""Byte-level protocol tests with a raw asyncssh client: rpc-error replies (RFC 6241
appendix A), exact tag, type and info, and nothing changed by a failed operation."""

from __future__ import annotations

from typing import Any

from lxml import etree
from support.servers import Q, ServerThread, arun, error_fields, raw_session

from qnms.netconf.protocol.with_defaults import WD_NS

NCM = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"


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
