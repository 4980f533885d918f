"""Interop with ncclient 0.7.1, the southbound client of the orchestrator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from lxml import etree
from ncclient.operations import RPCError
from ncclient.transport.errors import AuthenticationError
from support.polling import wait_until
from support.servers import PASSWORD, USER, ServerThread, connect

from qnms.netconf.protocol.ssh import ENCRYPTION_ALGS

EX = "urn:example:net"
NCM = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
CONFIG = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <network xmlns="{EX}"><name>lab</name>
    <node><name>a</name><memory-count>4</memory-count></node>
    <node><name>b</name><memory-count>8</memory-count></node>
  </network></config>"""
DELETE_B = f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"
  xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"><network xmlns="{EX}">
  <node nc:operation="delete"><name>b</name></node></network></config>"""


def nodes(data: Any) -> list[str]:
    return [e.text for e in data.iterfind(f".//{{{EX}}}node/{{{EX}}}name")]


def test_hello_and_capabilities(nc_server: ServerThread) -> None:
    with connect(nc_server.port) as m:
        caps = list(m.server_capabilities)
        assert ":candidate" in m.server_capabilities and ":validate" in m.server_capabilities
        assert ":notification" in m.server_capabilities and ":interleave" in m.server_capabilities
        assert "urn:ietf:params:netconf:base:1.1" in caps
        assert int(m.session_id) >= 1


def test_wrong_password_is_refused(nc_server: ServerThread) -> None:
    with pytest.raises(AuthenticationError):
        connect(nc_server.port, password="nope")
    with pytest.raises(AuthenticationError):
        connect(nc_server.port, user="nobody", password=PASSWORD)


def test_edit_get_config_filters(nc_server: ServerThread) -> None:
    with connect(nc_server.port) as m:
        m.edit_config(target="running", config=CONFIG)
        assert nodes(m.get_config("running").data) == ["a", "b"]
        sub = f'<network xmlns="{EX}"><node><name>b</name></node></network>'
        assert nodes(m.get_config("running", filter=("subtree", sub)).data) == ["b"]
        xp = m.get_config("running", filter=("xpath", ({"en": EX}, "/en:network/en:node")))
        assert nodes(xp.data) == ["a", "b"]
        m.edit_config(target="running", config=DELETE_B)
        assert nodes(m.get_config("running").data) == ["a"]
        with pytest.raises(RPCError) as exc:
            m.edit_config(target="running", config=DELETE_B)
        assert exc.value.tag == "data-missing"
        # test-only leaves running unchanged
        m.edit_config(target="running", config=CONFIG, test_option="test-only")
        assert nodes(m.get_config("running").data) == ["a"]


def test_candidate_validate_commit_discard(nc_server: ServerThread) -> None:
    with connect(nc_server.port) as m:
        m.edit_config(target="candidate", config=CONFIG)
        assert nodes(m.get_config("running").data) == []
        m.validate(source="candidate")
        m.commit()
        assert nodes(m.get_config("running").data) == ["a", "b"]
        m.edit_config(target="candidate", config=DELETE_B)
        m.discard_changes()
        assert nodes(m.get_config("candidate").data) == ["a", "b"]


def test_copy_and_delete_startup(nc_server: ServerThread) -> None:
    with connect(nc_server.port) as m:
        m.edit_config(target="running", config=CONFIG)
        m.copy_config(source="running", target="startup")
        assert nodes(m.get_config("startup").data) == ["a", "b"]
        m.delete_config(target="startup")
        assert nodes(m.get_config("startup").data) == []


def test_locks_and_monitoring(nc_server: ServerThread) -> None:
    with (
        connect(nc_server.port) as a,
        connect(nc_server.port, user="oper", password="oper-pw") as b,
    ):
        a.lock("running")
        with pytest.raises(RPCError) as exc:
            b.lock("running")
        assert exc.value.tag == "lock-denied"
        assert exc.value.info and f"<session-id>{a.session_id}</session-id>" in exc.value.info
        flt = (
            f'<netconf-state xmlns="{NCM}"><datastores/>'
            "<sessions><session><username/></session></sessions></netconf-state>"
        )  # keys come along with a partial selection of list entries
        state = b.get(filter=("subtree", flt)).data
        q = f"{{{NCM}}}"
        holder = state.findtext(
            f".//{q}datastore[{q}name='running']/{q}locks/{q}global-lock/{q}locked-by-session"
        )
        assert holder == a.session_id
        users = {
            s.findtext(q + "session-id"): s.findtext(q + "username")
            for s in state.iterfind(f".//{q}session")
        }
        assert users == {a.session_id: USER, b.session_id: "oper"}
        assert state.find(f".//{q}session/{q}login-time") is None
        a.unlock("running")
        b.lock("running")
        b.unlock("running")


def test_yang_library_and_get_schema(nc_server: ServerThread) -> None:
    with connect(nc_server.port) as m:
        data = m.get(filter=("subtree", f'<yang-library xmlns="{YL}"/>')).data
        mods = {
            e.findtext(f"{{{YL}}}name"): e.findtext(f"{{{YL}}}revision")
            for e in data.iterfind(f".//{{{YL}}}module")
        }
        for name in (
            "ietf-netconf",
            "ietf-netconf-monitoring",
            "ietf-netconf-notifications",
            "ietf-yang-library",
            "ietf-datastores",
            "example-net",
        ):
            assert name in mods
        imports = [
            e.findtext(f"{{{YL}}}name") for e in data.iterfind(f".//{{{YL}}}import-only-module")
        ]
        assert "ietf-yang-types" in imports and "ietf-inet-types" in imports
        dss = [e.text for e in data.iterfind(f".//{{{YL}}}datastore/{{{YL}}}name")]
        assert dss == ["ds:running", "ds:candidate", "ds:startup"]
        cid = data.findtext(f".//{{{YL}}}content-id")
        assert any(c.endswith(f"content-id={cid}") for c in m.server_capabilities)
        schemas = m.get(
            filter=("subtree", f'<netconf-state xmlns="{NCM}"><schemas/></netconf-state>')
        )
        q = f"{{{NCM}}}"
        listed = {
            (s.findtext(q + "identifier"), s.findtext(q + "version"))
            for s in schemas.data.iterfind(f".//{q}schema")
        }
        server_mods = nc_server.server.modules
        assert listed == {(mod.name, mod.revision) for mod in server_mods}
        for mod in server_mods:
            text = m.get_schema(mod.name, version=mod.revision).data
            assert text == mod.path.read_text(encoding="utf-8")


def test_notifications_interleave_with_replies(nc_server: ServerThread) -> None:
    with (
        connect(nc_server.port) as sub,
        connect(nc_server.port, user="oper", password="oper-pw") as ed,
    ):
        sub.create_subscription()
        ed.edit_config(target="running", config=CONFIG)
        sub.get_config("running")  # rpcs keep working on the subscribed session (:interleave)
        n = sub.take_notification(timeout=5)
        assert n is not None
        root = etree.fromstring(n.notification_xml.encode())
        change = root.find(f"{{{NCN}}}netconf-config-change")
        assert change is not None
        assert root.findtext("{urn:ietf:params:xml:ns:netconf:notification:1.0}eventTime")
        q = f"{{{NCN}}}"
        assert change.findtext(f"{q}changed-by/{q}username") == "oper"
        assert change.findtext(f"{q}changed-by/{q}session-id") == ed.session_id
        assert change.findtext(f"{q}changed-by/{q}source-host") == "127.0.0.1"
        assert change.findtext(q + "datastore") == "running"
        assert change.find(f"{q}edit/{q}target") is not None
        # a burst of edits while replies and notifications share the channel
        for i in range(30):
            cfg = CONFIG.replace("<name>lab</name>", f"<name>lab{i}</name>")
            sub.edit_config(target="running", config=cfg)
        seen = 0
        while sub.take_notification(timeout=2) is not None:
            seen += 1
            if seen == 30:
                break
        assert seen == 30


def test_subscription_filter(nc_server: ServerThread) -> None:
    with connect(nc_server.port) as sub, connect(nc_server.port) as other:
        flt = f'<netconf-session-start xmlns="{NCN}"/>'
        sub.create_subscription(filter=("subtree", flt))
        other.edit_config(target="running", config=CONFIG)  # filtered out
        with connect(nc_server.port) as third:
            n = sub.take_notification(timeout=5)
            root = etree.fromstring(n.notification_xml.encode())
            start = root.find(f"{{{NCN}}}netconf-session-start")
            assert start is not None and start.findtext(f"{{{NCN}}}session-id") == third.session_id


def test_kill_session(nc_server: ServerThread) -> None:
    victim = connect(nc_server.port)
    victim.lock("candidate")
    with connect(nc_server.port) as m:
        m.kill_session(victim.session_id)
        assert wait_until(lambda: not victim.connected, timeout=5)
        m.lock("candidate")


def test_get_config_round_trip_time(nc_server: ServerThread) -> None:
    """~10 ms with TICK = 0.005 (STACK-NOTES); printed for the report."""
    with connect(nc_server.port) as m:
        m.edit_config(target="running", config=CONFIG)
        m.get_config("running")
        n = 50
        t0 = time.perf_counter()
        for _ in range(n):
            m.get_config("running")
        rtt = (time.perf_counter() - t0) / n
        print(f"\nget-config round trip via ncclient: {rtt * 1000:.1f} ms")
        assert rtt < 0.05


def test_replies_go_without_cbc_ignore_packets(nc_server: ServerThread) -> None:
    """The server sends no empty SSH_MSG_IGNORE before its packets (RFC 4251 9.3.1's
    countermeasure, for CBC only; ssh.ENCRYPTION_ALGS has none), and ncclient still reads
    every reply. asyncssh logs each packet it sends on its handler: the connection for
    its own packets (SSH_MSG_IGNORE among them), the channel for the channel's data."""
    with connect(nc_server.port) as m:
        (conn,) = nc_server.server.connections
        sent: list[int] = []
        for handler in (conn, *conn._channels.values()):
            log_sent = handler.log_sent_packet

            def record(pkttype: int, seq: int, payload: bytes, _log: Any = log_sent) -> None:
                sent.append(pkttype)
                _log(pkttype, seq, payload)

            handler.log_sent_packet = record
        m.edit_config(target="running", config=CONFIG)
        assert nodes(m.get_config("running").data) == ["a", "b"]
    assert 94 in sent  # SSH_MSG_CHANNEL_DATA: the replies went through the recorders
    assert 2 not in sent  # SSH_MSG_IGNORE
    assert not [alg for alg in ENCRYPTION_ALGS if "cbc" in alg]  # else it is needed
