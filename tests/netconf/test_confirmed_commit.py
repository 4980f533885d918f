"""RFC 6241 section 8.4 :confirmed-commit:1.1, driven with ncclient as a client would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ncclient.operations import RPCError
from support.polling import wait_until
from support.servers import ServerThread, connect, raw_session

from qnms.netconf.protocol.confirmed_commit import CAPABILITY

EX = "urn:example:net"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
BASE = f'<config xmlns="{NC}"><network xmlns="{EX}"><name>lab</name></network></config>'


def add_node(name: str) -> str:
    return (
        f'<config xmlns="{NC}"><network xmlns="{EX}"><node><name>{name}</name>'
        "<memory-count>4</memory-count></node></network></config>"
    )


def nodes(m: Any, source: str = "running") -> list[str]:
    data = m.get_config(source).data
    return [e.text for e in data.iterfind(f".//{{{EX}}}node/{{{EX}}}name")]


def error_tag(exc: pytest.ExceptionInfo[RPCError]) -> str:
    return exc.value.tag


@pytest.fixture
def server(nc_server: ServerThread) -> ServerThread:
    with connect(nc_server.port) as m:
        m.edit_config(target="running", config=BASE)
    return nc_server


def confirmed_commit_of(m: Any, node: str, **kwargs: Any) -> None:
    m.edit_config(target="candidate", config=add_node(node))
    m.commit(confirmed=True, **kwargs)


def test_confirmed_commit_is_advertised_with_its_feature(server: ServerThread) -> None:
    with connect(server.port) as m:
        assert CAPABILITY in list(m.server_capabilities)
        yl = m.get(filter=("xpath", "/yang-library/module-set/module[name='ietf-netconf']")).data
        assert "confirmed-commit" in [f.text for f in yl.iter("{*}feature")]


def test_confirmed_commit_reverts_when_timeout_expires(server: ServerThread) -> None:
    with connect(server.port) as m:
        confirmed_commit_of(m, "a", timeout="1")
        assert nodes(m) == ["a"]
        assert wait_until(lambda: nodes(m) == [], timeout=10)


def test_confirming_commit_keeps_the_change(server: ServerThread) -> None:
    with connect(server.port) as m:
        confirmed_commit_of(m, "a", timeout="1")
        m.commit()
        # the behaviour under test is that nothing happens: wait past the (cancelled)
        # timeout of 1 s, then check that the change is still there
        time.sleep(1.3)
        assert nodes(m) == ["a"]


def test_follow_up_confirmed_commit_reverts_to_the_first_point(server: ServerThread) -> None:
    with connect(server.port) as m:
        confirmed_commit_of(m, "a", timeout="600")
        confirmed_commit_of(m, "b", timeout="1")
        assert nodes(m) == ["a", "b"]
        assert wait_until(lambda: nodes(m) == [])


def test_confirmed_commit_reverts_when_its_session_drops(server: ServerThread) -> None:
    m = connect(server.port)
    confirmed_commit_of(m, "a")
    m.close_session()
    with connect(server.port) as other:
        assert wait_until(lambda: nodes(other) == [])


def test_confirmed_commit_reverts_when_its_connection_drops(server: ServerThread) -> None:
    async def commit_then_drop() -> None:
        c = await raw_session(server.port)
        await c.rpc(f"<edit-config><target><candidate/></target>{add_node('a')}</edit-config>")
        reply = await c.rpc("<commit><confirmed/></commit>")
        assert reply.find(f"{{{NC}}}ok") is not None
        c.conn.abort()  # no close-session: the transport just goes

    asyncio.run(asyncio.wait_for(commit_then_drop(), 30))
    with connect(server.port) as other:
        assert wait_until(lambda: nodes(other) == [])


def test_confirmed_commit_reverts_when_its_session_is_killed(server: ServerThread) -> None:
    m = connect(server.port)
    confirmed_commit_of(m, "a")
    with connect(server.port) as killer:
        killer.kill_session(m.session_id)
        assert wait_until(lambda: nodes(killer) == [])


def test_persistent_confirmed_commit_survives_its_session(server: ServerThread) -> None:
    with connect(server.port) as m:
        confirmed_commit_of(m, "a", persist="tok-1")
        first = int(m.session_id)
    with connect(server.port) as other:
        # the server has ended the first session (its close hooks ran) ...
        assert wait_until(lambda: server.call(lambda: first not in server.server.sessions))
        assert nodes(other) == ["a"]  # ... and the persistent commit survived it
        with pytest.raises(RPCError) as exc:
            other.commit(persist_id="wrong")
        assert error_tag(exc) == "invalid-value"
        with pytest.raises(RPCError) as exc:
            other.commit()
        assert error_tag(exc) == "operation-failed"
        other.commit(persist_id="tok-1")
    with connect(server.port) as third:
        with pytest.raises(RPCError) as exc:
            third.cancel_commit()
        assert error_tag(exc) == "operation-failed"  # nothing pending any more
        assert nodes(third) == ["a"]


def test_persistent_confirmed_commit_is_cancelled_with_its_persist_id(
    server: ServerThread,
) -> None:
    with connect(server.port) as m:
        confirmed_commit_of(m, "a", persist="tok-2")
    with connect(server.port) as other:
        with pytest.raises(RPCError) as exc:
            other.cancel_commit(persist_id="nope")
        assert error_tag(exc) == "invalid-value"
        assert nodes(other) == ["a"]
        other.cancel_commit(persist_id="tok-2")
        assert nodes(other) == []


def test_cancel_commit_reverts_and_needs_a_pending_commit(server: ServerThread) -> None:
    with connect(server.port) as m:
        with pytest.raises(RPCError) as exc:
            m.cancel_commit()
        assert error_tag(exc) == "operation-failed"
        confirmed_commit_of(m, "a")
        m.cancel_commit()
        assert nodes(m) == []
        assert nodes(m, "candidate") == []


def test_other_session_cannot_confirm_a_non_persistent_commit(server: ServerThread) -> None:
    with connect(server.port) as m, connect(server.port) as other:
        confirmed_commit_of(m, "a")
        for attempt in (other.commit, other.cancel_commit):
            with pytest.raises(RPCError) as exc:
                attempt()
            assert error_tag(exc) == "operation-failed"
        with pytest.raises(RPCError) as exc:
            other.commit(persist_id="x")
        assert error_tag(exc) == "invalid-value"
        m.commit()
        assert nodes(other) == ["a"]


def test_confirm_timeout_must_be_a_positive_integer(server: ServerThread) -> None:
    with connect(server.port) as m:
        m.edit_config(target="candidate", config=add_node("a"))
        for bad in ("0", "-1", "soon"):
            with pytest.raises(RPCError) as exc:
                m.commit(confirmed=True, timeout=bad)
            assert error_tag(exc) == "invalid-value"
        assert nodes(m) == []


def test_revert_emits_config_change_and_confirmed_commit_events(server: ServerThread) -> None:
    with connect(server.port) as listener, connect(server.port) as m:
        listener.create_subscription()
        confirmed_commit_of(m, "a")
        m.cancel_commit()
        seen: list[str] = []
        end = time.monotonic() + 5
        while time.monotonic() < end and "cancel" not in seen:
            note = listener.take_notification(timeout=1)
            if note is None:
                continue
            root = note.notification_ele
            event = root.find(f"{{{NCN}}}netconf-confirmed-commit")
            if event is not None:
                seen.append(event.findtext(f"{{{NCN}}}confirm-event") or "")
            elif root.find(f"{{{NCN}}}netconf-config-change") is not None:
                ops = [e.text for e in root.iter(f"{{{NCN}}}operation")]
                seen.append("config-change:" + ",".join(ops))
        assert seen == ["config-change:create", "start", "config-change:delete", "cancel"]
