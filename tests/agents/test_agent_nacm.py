"""NACM (RFC 8341) on real agents: two users logged in over SSH, an administrator
(group admin, permit-all) and alice (no group until the administrator adds one)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from ncclient.xml_ import to_ele
from support.agents import CS, QFS, SS, connect_port
from test_agent_telemetry import notifications, subscribe

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import Network
from qnms_agents.base import Agent, AgentConfig

NACM = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
AUDIT = "urn:qnms:yang:qnms-audit"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
USERS = {"admin": "admin-pw", "alice": "alice-pw", "root": "root-pw"}
TOP = {"qfs": ("madqci-r1", QFS, "quantum-fabric"), "cs": ("madqci", CS, "connectivity"),
       "ss": ("madqci-alice", SS, "service-stratum")}  # fmt: skip
QUI = f"""<config><quantum-fabric xmlns="{QFS}"><qui-table><qui>
  <id>q1</id><scope>madqci</scope><service-unit>su1</service-unit><nonce>7</nonce>
  <lifecycle><time-to-live>300</time-to-live></lifecycle>
  <local-handle><memory>mem0</memory><index>0</index></local-handle>
</qui></qui-table></quantum-fabric></config>"""
QUI_FILTER = f'<quantum-fabric xmlns="{QFS}"><qui-table/></quantum-fabric>'
OPERATORS = f"""<config><nacm xmlns="{NACM}">
  <groups><group><name>operators</name><user-name>alice</user-name></group></groups>
  <rule-list><name>operators</name><group>operators</group>
    <rule><name>no-config-events</name><module-name>ietf-netconf-notifications</module-name>
      <notification-name>netconf-config-change</notification-name>
      <access-operations>read</access-operations><action>deny</action></rule>
    <rule><name>tune-memories</name><module-name>qnms-quantum-fabric</module-name>
      <path xmlns:qfs="{QFS}">/qfs:quantum-fabric/qfs:memories</path>
      <access-operations>create update</access-operations><action>permit</action></rule>
  </rule-list></nacm></config>"""


@pytest.fixture
def secure_agent(
    bg: BackgroundLoop, tmp_path: Path, network: Network
) -> Iterator[Callable[..., Agent]]:
    started: list[Agent] = []

    def start(stratum: str, **extra: object) -> Agent:
        config = AgentConfig(stratum=stratum, name=TOP[stratum][0],
                             state_dir=tmp_path / stratum, users=dict(USERS), **extra)  # type: ignore[arg-type]  # fmt: skip
        agent = bg.run(_build(config, network))
        bg.run(agent.start())
        started.append(agent)
        return agent

    yield start
    for agent in started:
        bg.run(agent.stop())


async def _build(config: AgentConfig, network: Network) -> Agent:
    return Agent(config, network)


def login(agent: Agent, user: str):
    return connect_port(agent.port, user, USERS[user])


def counters(m) -> dict[str, int]:
    data = m.get(filter=("subtree", f'<nacm xmlns="{NACM}"/>')).data_ele
    return {etree.QName(c).localname: int(c.text) for c in data.iterfind(f".//{{{NACM}}}*")
            if etree.QName(c).localname.startswith("denied")}  # fmt: skip


def error(exc: pytest.ExceptionInfo[RPCError]) -> tuple[str, str]:
    return exc.value.tag, exc.value.type


@pytest.mark.parametrize("stratum", ["qfs", "cs", "ss"])
def test_non_admin_cannot_delete_the_device_tree(secure_agent, stratum):
    agent = secure_agent(stratum)
    _, ns, top = TOP[stratum]
    delete = f'<config><{top} xmlns="{ns}" xmlns:nc="{NC}" nc:operation="delete"/></config>'
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        before = counters(admin)["denied-data-writes"]
        with pytest.raises(RPCError) as exc:
            alice.edit_config(target="running", config=delete)
        assert error(exc) == ("access-denied", "application")
        assert admin.get_config("running").data_ele.find(f"{{{ns}}}{top}") is not None
        assert counters(admin)["denied-data-writes"] == before + 1


@pytest.mark.parametrize("stratum", ["qfs", "cs", "ss"])
def test_non_admin_cannot_delete_startup_or_read_nacm(secure_agent, stratum):
    agent = secure_agent(stratum)
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.copy_config(source="running", target="startup")
        with pytest.raises(RPCError) as exc:
            alice.delete_config(target="startup")
        assert error(exc) == ("access-denied", "protocol")
        assert counters(admin)["denied-operations"] == 1
        assert len(admin.get_config("startup").data_ele)  # still there
        # /nacm is default-deny-all; the audit log too: alice sees neither
        assert alice.get().data_ele.find(f"{{{NACM}}}nacm") is None
        assert alice.get().data_ele.find(f"{{{AUDIT}}}audit") is None
        assert admin.get().data_ele.find(f"{{{AUDIT}}}audit") is not None
        admin.delete_config(target="startup")


def test_default_deny_all_hides_local_handles_from_a_non_admin(secure_agent):
    agent = secure_agent("qfs")
    handle = f".//{{{QFS}}}qui/{{{QFS}}}local-handle"
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.edit_config(target="running", config=QUI)
        for m, visible in ((admin, True), (alice, False)):
            got = m.get(filter=("subtree", QUI_FILTER)).data_ele
            cfg = m.get_config("running", filter=("xpath", "//qui")).data_ele
            assert got.find(f".//{{{QFS}}}qui/{{{QFS}}}nonce") is not None  # the rest stays
            assert (got.find(handle) is not None) is visible
            assert (cfg.find(handle) is not None) is visible
        # an XPath predicate on hidden data cannot probe it either
        probe = alice.get(filter=("xpath", "//qui[local-handle/memory='mem0']")).data_ele
        assert probe.find(f".//{{{QFS}}}qui") is None


def test_yang_push_updates_are_pruned_per_receiver(secure_agent):
    agent = secure_agent("qfs")
    periodic = "<yp:periodic><yp:period>10</yp:period></yp:periodic>"
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.edit_config(target="running", config=QUI)
        subscribe(admin, QUI_FILTER, periodic)
        subscribe(alice, QUI_FILTER, periodic)
        seen = {}
        for name, m in (("admin", admin), ("alice", alice)):
            notes = notifications(m, lambda ns: len(ns) >= 2)
            assert notes, f"{name} got no push-update"
            seen[name] = notes[-1]
    assert seen["admin"].find(f".//{{{QFS}}}local-handle") is not None
    assert seen["alice"].find(f".//{{{QFS}}}qui/{{{QFS}}}nonce") is not None
    assert seen["alice"].find(f".//{{{QFS}}}local-handle") is None


def test_on_change_updates_never_show_hidden_nodes(secure_agent):
    agent = secure_agent("qfs")
    on_change = ("<yp:on-change><yp:dampening-period>0</yp:dampening-period>"
                 "<yp:sync-on-start>false</yp:sync-on-start></yp:on-change>")  # fmt: skip
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.edit_config(target="running", config=QUI)  # in alice's baseline, pruned
        subscribe(alice, QUI_FILTER, on_change)
        admin.edit_config(target="running", config=QUI.replace("<nonce>7", "<nonce>9"))
        admin.edit_config(target="running", config=QUI.replace("q1", "q2"))
        notes = notifications(alice, lambda ns: b"q2" in b"".join(map(etree.tostring, ns)))
    text = b"".join(etree.tostring(n) for n in notes)
    assert b"q2" in text and b">9<" in text, text
    assert b"local-handle" not in text


def test_non_admin_cannot_kill_another_users_session(secure_agent):
    agent = secure_agent("qfs")
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.lock("candidate")
        with pytest.raises(RPCError) as exc:
            alice.kill_session(admin.session_id)
        assert error(exc) == ("access-denied", "protocol")
        admin.unlock("candidate")  # still alive, still holding its lock
        other = login(agent, "alice")
        admin.kill_session(other.session_id)  # an administrator may
        deadline = time.monotonic() + 5
        while other.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not other.connected


def kill_subscription(m, sub_id: int):
    kill = f'<kill-subscription xmlns="{SN}"><id>{sub_id}</id></kill-subscription>'
    return m.dispatch(to_ele(kill))


def test_non_admin_cannot_kill_another_users_subscription(secure_agent):
    agent = secure_agent("cs")
    stream = f'<establish-subscription xmlns="{SN}"><stream>NETCONF</stream>'
    stream += "</establish-subscription>"
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        reply = to_ele(admin.dispatch(to_ele(stream)).xml)
        admin_sub = int(reply.xpath("//*[local-name()='id']")[0].text)
        with pytest.raises(RPCError) as exc:
            kill_subscription(alice, admin_sub)
        assert error(exc) == ("access-denied", "protocol")
        assert admin_sub in agent.server.subscriptions.subs
        reply = to_ele(alice.dispatch(to_ele(stream)).xml)
        alice_sub = int(reply.xpath("//*[local-name()='id']")[0].text)
        kill_subscription(admin, alice_sub)  # the administrator may
        assert alice_sub not in agent.server.subscriptions.subs


def test_rules_added_by_the_admin_grant_writes_and_filter_notifications(secure_agent):
    agent = secure_agent("qfs")
    size = f'<config><quantum-fabric xmlns="{QFS}"><memories><memory><name>mem0</name><size>{{}}</size></memory></memories></quantum-fabric></config>'  # noqa: E501
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        with pytest.raises(RPCError):
            alice.edit_config(target="running", config=size.format(24))
        admin.edit_config(target="running", config=OPERATORS)
        path = admin.get_config("running").data_ele.find(f".//{{{NACM}}}path")
        assert path.text == "/qfs:quantum-fabric/qfs:memories" and path.nsmap["qfs"] == QFS
        alice.edit_config(target="running", config=size.format(24))  # now permitted
        with pytest.raises(RPCError) as exc:  # writes outside that path are not
            alice.edit_config(target="running", config=QUI)
        assert error(exc) == ("access-denied", "application")
        admin.create_subscription()
        alice.create_subscription()
        before = counters(admin)["denied-notifications"]
        admin.edit_config(target="running", config=size.format(22))
        assert admin.take_notification(timeout=5) is not None
        assert alice.take_notification(timeout=0.5) is None
        assert counters(admin)["denied-notifications"] == before + 1
    audit = agent.server.audit.entries
    assert [e["user"] for e in audit][-3:] == ["admin", "alice", "admin"]


def test_recovery_user_bypasses_nacm(secure_agent):
    agent = secure_agent("qfs", recovery_user="root")
    with login(agent, "admin") as admin, login(agent, "root") as root:
        admin.edit_config(target="running", config=QUI)
        # root is in no group: write-default deny and default-deny-all do not apply
        got = root.get(filter=("subtree", QUI_FILTER)).data_ele
        assert got.find(f".//{{{QFS}}}local-handle") is not None
        root.edit_config(target="running", config=QUI.replace("<nonce>7", "<nonce>8"))
        root.delete_config(target="startup")


def test_audit_log_survives_a_restart_and_only_admins_read_it(secure_agent, bg, tmp_path):
    agent = secure_agent("ss")
    group = f"""<config><nacm xmlns="{NACM}"><groups><group><name>g</name>
      <user-name>alice</user-name></group></groups></nacm></config>"""
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.edit_config(target="candidate", config=group)
        admin.commit()
        with pytest.raises(RPCError) as exc:  # test-only is checked too
            alice.edit_config(target="running", config=group.replace(">g<", ">h<"),
                              test_option="test-only")  # fmt: skip
        assert error(exc) == ("access-denied", "application")
    bg.run(agent.stop())
    log_file = tmp_path / "ss" / "audit.log"
    assert log_file.stat().st_mode & 0o777 == 0o600
    again = secure_agent("ss")
    flt = ("subtree", f'<audit xmlns="{AUDIT}"/>')
    with login(again, "admin") as admin, login(again, "alice") as alice:
        entries = admin.get(filter=flt).data_ele
        users = [e.text for e in entries.iterfind(f".//{{{AUDIT}}}user-name")]
        assert users == ["(server)", "admin"]  # the bootstrap /nacm, then the commit
        targets = [e.text for e in entries.iterfind(f".//{{{AUDIT}}}target")]
        assert "/nacm:nacm/nacm:groups/nacm:group[nacm:name='g']" in targets
        assert alice.get(filter=flt).data_ele.find(f"{{{AUDIT}}}audit") is None


def test_a_path_rule_with_a_key_predicate_hides_one_list_entry(secure_agent):
    agent = secure_agent("qfs")
    hide_q1 = f"""<config><nacm xmlns="{NACM}">
      <groups><group><name>operators</name><user-name>alice</user-name></group></groups>
      <rule-list><name>operators</name><group>operators</group>
        <rule><name>hide-q1</name><module-name>*</module-name>
          <path xmlns:qfs="{QFS}">/qfs:quantum-fabric/qfs:qui-table/qfs:qui[qfs:id='q1']</path>
          <access-operations>read</access-operations><action>deny</action></rule>
      </rule-list></nacm></config>"""
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        admin.edit_config(target="running", config=QUI)
        admin.edit_config(target="running", config=QUI.replace("q1", "q2"))
        admin.edit_config(target="running", config=hide_q1)
        ids = {m: [e.text for e in m.get_config("running").data_ele.iterfind(
            f".//{{{QFS}}}qui/{{{QFS}}}id")] for m in (admin, alice)}  # fmt: skip
    assert ids[admin] == ["q1", "q2"] and ids[alice] == ["q2"]


def test_config_change_events_never_name_nodes_the_receiver_cannot_read(secure_agent):
    agent = secure_agent("qfs")
    ncn = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
    group = f"""<config><nacm xmlns="{NACM}"><groups><group><name>g</name>
      <user-name>bob</user-name></group></groups></nacm></config>"""
    size = f"""<config><quantum-fabric xmlns="{QFS}"><memories><memory><name>mem0</name>
      <size>21</size></memory></memories></quantum-fabric></config>"""
    with login(agent, "admin") as admin, login(agent, "alice") as alice:
        alice.create_subscription()
        admin.edit_config(target="running", config=group)  # /nacm: default-deny-all
        admin.edit_config(target="running", config=size)
        note = alice.take_notification(timeout=5)
        assert note is not None
        targets = [t.text for t in to_ele(note.notification_xml).iter(f"{{{ncn}}}target")]
        assert targets and all("memories" in t for t in targets), targets
        assert alice.take_notification(timeout=0.3) is None
        assert counters(admin)["denied-notifications"] == 1
