"""Agents serve their stratum's device model over NETCONF: seeded from the network
file, edited by clients, with live state that follows the configuration."""

from __future__ import annotations

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCError
from support.agents import CS, QFS, SS, connect
from support.polling import poll


def q(ns: str, path: str) -> str:
    return "/".join(f"{{{ns}}}{p}" for p in path.split("/"))


NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
MEMORY_FILTER = f'<quantum-fabric xmlns="{QFS}"><memories/></quantum-fabric>'


def test_qfs_agent_serves_its_node_from_the_network_file(start_agent):
    agent = start_agent("qfs", "madqci-r1")
    with connect(agent) as m:
        data = m.get_config("running", filter=("subtree", MEMORY_FILTER)).data_ele
    mems = data.findall(q(QFS, "quantum-fabric/memories/memory"))
    assert [mem.findtext(q(QFS, "name")) for mem in mems] == ["mem0"]
    assert mems[0].findtext(q(QFS, "size")) == "20"
    assert mems[0].find(q(QFS, "state")) is None  # config only


def test_capabilities_announce_the_device_module(start_agent):
    agent = start_agent("qfs", "madqci-r1")
    with connect(agent) as m:
        caps = list(m.server_capabilities)
    assert any("module=qnms-quantum-fabric" in c and "revision=2026-11-30" in c for c in caps)
    assert any(c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1") for c in caps)


def test_memory_state_follows_the_qui_table(start_agent):
    agent = start_agent("qfs", "madqci-r1")
    qui = f"""<config><quantum-fabric xmlns="{QFS}"><qui-table><qui>
      <id>su1-madqci-1</id><scope>madqci</scope><service-unit>su1</service-unit>
      <nonce>177923</nonce><lifecycle><time-to-live>30</time-to-live></lifecycle>
      <local-handle><memory>mem0</memory><index>0</index></local-handle>
      <local-handle><memory>mem0</memory><index>1</index></local-handle>
    </qui></qui-table></quantum-fabric></config>"""
    with connect(agent) as m:
        m.edit_config(target="running", config=qui)
        data = m.get(filter=("subtree", MEMORY_FILTER)).data_ele
        state = data.find(q(QFS, "quantum-fabric/memories/memory/state"))
        assert state.findtext(q(QFS, "reserved")) == "2"
        assert state.findtext(q(QFS, "free")) == "18"
        assert state.findtext(q(QFS, "occupancy")) == "10"
        delete = qui.replace(
            "<qui>",
            '<qui xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete">',
        )
        m.edit_config(target="running", config=delete)
        data = m.get(filter=("subtree", MEMORY_FILTER)).data_ele
    assert data.findtext(q(QFS, "quantum-fabric/memories/memory/state/free")) == "20"


def test_qui_ages_and_reports_expiry(start_agent):
    agent = start_agent("qfs", "madqci-alice")
    qui = f"""<config><quantum-fabric xmlns="{QFS}"><qui-table><qui>
      <id>q-age</id><scope>madqci</scope><service-unit>su</service-unit><nonce>1</nonce>
      <lifecycle><time-to-live>0.2</time-to-live></lifecycle></qui></qui-table></quantum-fabric>
      </config>"""
    flt = f'<quantum-fabric xmlns="{QFS}"><qui-table/></quantum-fabric>'
    age = q(QFS, "quantum-fabric/qui-table/qui/lifecycle/age")
    state = q(QFS, "quantum-fabric/qui-table/qui/state")
    with connect(agent) as m:
        m.edit_config(target="running", config=qui)
        first = m.get(filter=("subtree", flt)).data_ele
        # the agent's clock is real time: poll until the 0.2 s time-to-live has run out
        later = poll(
            lambda: m.get(filter=("subtree", flt)).data_ele,
            lambda data: data.findtext(state) == "expired",
            interval=0.05,
        )
    assert float(later.findtext(age)) > float(first.findtext(age))
    assert later.findtext(state) == "expired"
    assert later.find(q(QFS, "quantum-fabric/qui-table/qui/lifecycle/expiry")) is not None


def test_out_of_range_fidelity_is_rejected_with_its_path(start_agent):
    agent = start_agent("qfs", "madqci-r1")
    bad = f"""<config><quantum-fabric xmlns="{QFS}"><memories><memory>
      <name>mem0</name><raw-fidelity>1.5</raw-fidelity></memory></memories></quantum-fabric>
      </config>"""
    with connect(agent) as m, pytest.raises(RPCError) as err:
        m.edit_config(target="running", config=bad)
    assert err.value.tag == "invalid-value"
    assert err.value.path.strip().endswith("qfs:memory[qfs:name='mem0']/qfs:raw-fidelity")
    with connect(agent) as m:
        data = m.get_config("running", filter=("subtree", MEMORY_FILTER)).data_ele
    assert data.findtext(q(QFS, "quantum-fabric/memories/memory/raw-fidelity")) == "0.94"


def test_cs_channel_disabled_is_down_with_its_paths(start_agent):
    agent = start_agent("cs", "madqci")
    edit = f"""<config><connectivity xmlns="{CS}"><channels><channel>
      <name>f-alice-r1</name><enabled>false</enabled></channel></channels></connectivity>
      </config>"""
    flt = f'<connectivity xmlns="{CS}"><channels/><optical-paths/></connectivity>'
    with connect(agent) as m:
        before = m.get(filter=("subtree", flt)).data_ele
        m.edit_config(target="running", config=edit)
        after = m.get(filter=("subtree", flt)).data_ele

    def oper(data: etree._Element, kind: str, name: str, leaf: str) -> str:
        for el in data.iter(f"{{{CS}}}{kind}"):
            if el.findtext(f"{{{CS}}}name") == name:
                return el.findtext(f"{{{CS}}}{leaf}")
        raise AssertionError(name)

    assert oper(before, "channel", "f-alice-r1", "oper-state") == "up"
    assert oper(after, "channel", "f-alice-r1", "oper-state") == "down"
    assert oper(after, "optical-path", "p-alice-r1", "state") == "down"
    assert oper(after, "channel", "f-r1-r2", "oper-state") == "up"
    loss = [c for c in after.iter(f"{{{CS}}}channel") if c.findtext(f"{{{CS}}}name") == "f-r1-r2"]
    assert loss[0].findtext(q(CS, "telemetry/loss")) == "1.8"  # 9 km x 0.2 dB/km


def test_ss_token_bucket_starts_full_and_is_reported(start_agent):
    agent = start_agent("ss", "madqci-alice")
    edit = f"""<config><service-stratum xmlns="{SS}"><sessions><session>
      <id>s1</id><endpoint>urn:qkd:madqci:ccips</endpoint>
      <token-bucket><rate>10</rate><burst>20</burst></token-bucket>
      </session></sessions></service-stratum></config>"""
    with connect(agent) as m:
        m.edit_config(target="running", config=edit)
        data = m.get(
            filter=("subtree", f'<service-stratum xmlns="{SS}"><sessions/></service-stratum>')
        ).data_ele
    assert data.findtext(q(SS, "service-stratum/sessions/session/token-bucket/level")) == "20"
    bucket = agent.live.bucket("s1")
    assert bucket is not None and bucket.take(bucket.stamp, 20) and not bucket.take(bucket.stamp)
    assert bucket.rejected == 1


def test_get_schema_returns_the_module_text(start_agent):
    agent = start_agent("cs", "quditto")
    with connect(agent) as m:
        reply = m.get_schema("qnms-connectivity", version="2026-11-26", format="yang")
    assert "module qnms-connectivity {" in reply.data
