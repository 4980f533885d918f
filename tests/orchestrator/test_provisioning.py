"""Provisioning service units end to end: northbound edit-config in, agent config out."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele
from orch_support import (
    ALICE,
    BOB,
    NS,
    allocations,
    connect,
    delete_xml,
    nothing_allocated,
    path_of,
    poll,
    unit_state,
    unit_xml,
    wait_state,
)

from qnms.orchestrator.intent import read_units
from qnms.orchestrator.reconcile import check_sync
from qnms.orchestrator.transaction import Phase
from qnms_agents.base import Agent, AgentConfig

if TYPE_CHECKING:  # the fixture's type
    from orch_fleet import Fleet

STATE_CHANGE = "{urn:qnms:yang:qnms-service}service-unit-state-change"


def test_a_unit_is_allocated_on_every_agent_of_its_path_and_released_on_delete(
    fleet: Fleet,
) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.create_subscription()
        t0 = time.perf_counter()
        m.edit_config(target="running", config=unit_xml("su1"))
        unit = wait_state(m, "su1", "establishing", "failed")
        elapsed = time.perf_counter() - t0
        assert unit.findtext("s:state", namespaces=NS) == "establishing", unit.findtext(
            "s:failure-reason", namespaces=NS
        )
        hops = path_of(unit)
        assert hops[0] == "madqci-alice" and hops[-1] == "madqci-bob" and len(hops) == 3
        assert unit.xpath("s:qui/s:id/text()", namespaces=NS) == ["su1.madqci"]
        urns = unit.xpath("s:identifier/s:urn/text()", namespaces=NS)
        assert urns[0].startswith(ALICE + "?=nonce=") and urns[1].startswith(BOB + "?=nonce=")
        assert urns[2].startswith("urn:qkd:lifecycle?=size=10&valid-until=")
        estimated = float(unit.findtext("s:qos/s:measured/s:estimated-fidelity", namespaces=NS))
        assert 0.8 <= estimated < 0.95
        for node in hops:
            got = allocations(fleet.agents[f"qfs:{node}"].port)
            assert got["qui"] == ["su1.madqci"] and got["forwarding"] == ["su1.madqci"], node
        for node in ("madqci-alice", "madqci-bob"):
            assert allocations(fleet.agents[f"ss:{node}"].port)["store"] == ["su1"]
        assert set(nothing_allocated(fleet.agents)) == {f"qfs:{n}" for n in hops} | {
            "ss:madqci-alice",
            "ss:madqci-bob",
        }
        states = []
        while (note := m.take_notification(timeout=2)) is not None:
            event = note.notification_ele.find(f".//{STATE_CHANGE}")
            if event is not None:
                states.append(event.findtext("{urn:qnms:yang:qnms-service}state"))
        assert states == ["requested", "admitted", "establishing"]
        print(f"provisioning latency (edit to establishing seen): {elapsed * 1000:.0f} ms")

        m.edit_config(target="running", config=delete_xml("su1"))
        poll(lambda: not nothing_allocated(fleet.agents) or None, 20, "release on every agent")
        assert unit_state(m, "su1") is None


def test_dry_run_returns_each_agents_edit_and_applies_nothing(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("probe"), test_option="test-only")
        running = m.get_config(source="running").data_ele
    from lxml import etree

    config = etree.fromstring(unit_xml("probe").encode())
    config.tag = "{urn:ietf:params:xml:ns:netconf:base:1.0}data"
    intent = read_units(config)["probe"]
    edits = fleet.bg.call(lambda: orch.controller.dry_run(intent))
    assert {k.split(":")[0] for k in edits} == {"qfs", "ss"} and len(edits) == 5
    assert all("probe.madqci" in xml for k, xml in edits.items() if k.startswith("qfs:"))
    assert running.find(".//s:service-unit", NS) is None
    assert nothing_allocated(fleet.agents) == {}


def test_an_agent_failing_mid_transaction_leaves_no_partial_allocation(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    victim: list[str] = []

    async def stop_the_repeater_before_commit(phase: Phase, agents: list[str]) -> None:
        """Every agent of the first path is locked and edited; its repeater then dies."""
        if phase == Phase.COMMIT and not victim:
            key = next(k for k in agents if k in ("qfs:madqci-r1", "qfs:madqci-r2"))
            victim.append(key)
            await fleet.agents[key].stop()

    orch.controller.phase_hook = stop_the_repeater_before_commit
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su-fault"))
        unit = wait_state(m, "su-fault", "establishing", "failed")
    assert victim, "the fault was injected"
    fleet.agents.pop(victim[0])  # already stopped
    hops = path_of(unit)
    assert unit.findtext("s:state", namespaces=NS) == "establishing"
    assert victim[0].split(":")[1] not in hops  # established on the alternative path
    expected = {f"qfs:{n}" for n in hops} | {"ss:madqci-alice", "ss:madqci-bob"}
    left = nothing_allocated(fleet.agents)
    assert set(left) == expected
    for key in expected:  # one allocation each: nothing left over from the failed path
        assert len(left[key]["qui"] + left[key]["store"]) == 1, (key, left[key])
    for key in ("qfs:madqci-alice", "qfs:madqci-bob"):
        with connect(fleet.agents[key].port) as agent:
            entry = agent.get_config(source="running").data_ele.find(".//q:entry", NS)
            neighbour = entry.findtext("q:upstream", namespaces=NS) or entry.findtext(
                "q:downstream", namespaces=NS
            )
            assert neighbour == hops[1]


def test_units_survive_an_orchestrator_restart_and_can_then_be_released(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su-keep"))
        before = wait_state(m, "su-keep", "establishing")
    state_dir = orch.config.state_dir
    fleet.stop_orchestrator(orch)
    again = fleet.start_orchestrator(state_dir)
    with connect(again.port) as m:
        after = wait_state(m, "su-keep", "establishing")
        ids = "s:identifier/s:urn/text()"
        assert after.xpath(ids, namespaces=NS) == before.xpath(ids, namespaces=NS)
        assert path_of(after) == path_of(before)
        m.edit_config(target="running", config=delete_xml("su-keep"))
        poll(lambda: not nothing_allocated(fleet.agents) or None, 20, "release after restart")


def test_an_expired_unit_releases_its_allocations(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su-short", valid_for=3))
        wait_state(m, "su-short", "establishing", "expired")
        wait_state(m, "su-short", "expired", timeout=15)
        assert nothing_allocated(fleet.agents) == {}


def test_a_unit_becomes_active_once_both_endpoint_stores_report_its_size(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su-deliver"))
        wait_state(m, "su-deliver", "establishing")
        delivered = {
            "type": "pair-delivered",
            "allocation": "su-deliver",
            "endpoints": ["madqci-alice", "madqci-bob"],
            "fidelity": 0.86,
            "held": True,
        }
        for node in ("madqci-alice", "madqci-bob"):  # what the twin's bus feed would do
            live = fleet.agents[f"ss:{node}"].live
            fleet.bg.call(lambda live=live: [live.apply(delivered) for _ in range(10)])
        unit = wait_state(m, "su-deliver", "active")
        assert unit.findtext("s:delivery/s:delivered-units", namespaces=NS) == "10"
        achieved = unit.findtext("s:qos/s:measured/s:achieved-fidelity", namespaces=NS)
        assert achieved == "0.860000"
        assert unit.findtext("s:timestamps/s:activated", namespaces=NS)


def test_check_sync_reports_missing_allocations_and_orphans_without_changing_them(
    fleet: Fleet,
) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su-sync"))
        wait_state(m, "su-sync", "establishing")
    records = orch.controller.records.values()
    assert fleet.bg.run(check_sync(orch.southbound, records)) == []
    qfs = "urn:qnms:yang:qnms-quantum-fabric"
    nc = "urn:ietf:params:xml:ns:netconf:base:1.0"
    with connect(fleet.agents["qfs:madqci-bob"].port) as bob:  # someone removes bob's part
        bob.edit_config(
            target="running",
            config=f"""<config xmlns="{nc}" xmlns:nc="{nc}">
          <quantum-fabric xmlns="{qfs}"><forwarding-table><entry nc:operation="delete">
          <qui>su-sync.madqci</qui></entry></forwarding-table><qui-table>
          <qui nc:operation="delete"><id>su-sync.madqci</id></qui></qui-table>
          </quantum-fabric></config>""",
        )
    with connect(fleet.agents["qfs:quditto-r1"].port) as r1:  # and leaves a stray QUI
        r1.edit_config(
            target="running",
            config=f"""<config xmlns="{nc}">
          <quantum-fabric xmlns="{qfs}"><qui-table><qui><id>stray</id><scope>quditto</scope>
          <service-unit>gone</service-unit><nonce>1</nonce></qui></qui-table>
          </quantum-fabric></config>""",
        )
    diffs = fleet.bg.run(check_sync(orch.southbound, records))
    assert [(d.agent, d.kind, d.id, d.problem) for d in diffs] == [
        ("qfs:madqci-bob", "qui", "su-sync.madqci", "missing"),
        ("qfs:quditto-r1", "qui", "stray", "orphan"),
    ]
    assert allocations(fleet.agents["qfs:quditto-r1"].port)["qui"] == ["stray"]


def test_an_allocation_interrupted_by_a_crash_is_cleaned_up_and_redone_on_restart(
    fleet: Fleet,
) -> None:
    orch = fleet.start_orchestrator()
    committed = fleet.bg.run(_event())

    async def hang_after_every_agent_committed(phase: Phase, agents: list[str]) -> None:
        if phase == Phase.CONFIRM:
            committed.set()
            await asyncio.Event().wait()  # the orchestrator "dies" here

    orch.controller.phase_hook = hang_after_every_agent_committed
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su-crash"))
    poll(lambda: committed.is_set() or None, 20, "all agents committed")
    assert orch.controller.records["su-crash"].state.value == "admitted"
    state_dir = orch.config.state_dir
    fleet.stop_orchestrator(orch)  # tasks cancelled mid-transaction: no rollback ran
    again = fleet.start_orchestrator(state_dir)
    with connect(again.port) as m:
        unit = wait_state(m, "su-crash", "establishing")
    assert fleet.bg.run(check_sync(again.southbound, again.controller.records.values())) == []
    left = nothing_allocated(fleet.agents)
    assert set(left) == {f"qfs:{n}" for n in path_of(unit)} | {"ss:madqci-alice", "ss:madqci-bob"}
    assert all(len(v["qui"] + v["store"]) == 1 for v in left.values())
    for i, node in enumerate(hops := path_of(unit)):  # no handles left over from the crash
        with connect(fleet.agents[f"qfs:{node}"].port) as agent:
            handles = agent.get_config(source="running").data_ele.findall(".//q:local-handle", NS)
        assert len(handles) == (1 if i in (0, len(hops) - 1) else 2), node


async def _event() -> asyncio.Event:
    return asyncio.Event()


def test_yang_push_on_change_follows_a_units_state(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    subscribe = """<establish-subscription
        xmlns="urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
        xmlns:yp="urn:ietf:params:xml:ns:yang:ietf-yang-push"
        xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">
      <yp:datastore>ds:operational</yp:datastore>
      <yp:datastore-subtree-filter>
        <service-units xmlns="urn:qnms:yang:qnms-service"/>
      </yp:datastore-subtree-filter>
      <yp:on-change/>
    </establish-subscription>"""
    with connect(orch.port) as m:
        m.dispatch(to_ele(subscribe))
        m.edit_config(target="running", config=unit_xml("su-push"))
        seen: set[str] = set()

        def pushed_establishing():
            note = m.take_notification(timeout=1)
            if note is not None:
                xml = note.notification_xml
                seen.update(s for s in ("admitted", "establishing") if f">{s}<" in xml)
            return "establishing" in seen or None

        poll(pushed_establishing, 20, "a push of state establishing")


def test_concurrent_units_on_shared_agents_are_all_established(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    names = [f"su-many-{i}" for i in range(4)]
    bodies = [unit_xml(n).split("<service-unit>", 1)[1].split("</service-units>")[0] for n in names]
    head = unit_xml(names[0]).split("<service-unit>", 1)[0]
    config = head + "".join(f"<service-unit>{b}" for b in bodies) + "</service-units></config>"
    with connect(orch.port) as m:
        m.edit_config(target="running", config=config)
        units = [wait_state(m, n, "establishing", "failed") for n in names]
    states = [u.findtext("s:state", namespaces=NS) for u in units]
    assert states == ["establishing"] * 4, [
        u.findtext("s:failure-reason", namespaces=NS) for u in units
    ]
    assert len(allocations(fleet.agents["qfs:madqci-alice"].port)["qui"]) == 4
    assert fleet.bg.run(check_sync(orch.southbound, orch.controller.records.values())) == []


def test_an_agent_that_comes_up_later_is_discovered_and_used(fleet: Fleet) -> None:
    inventory = fleet.inventory()
    late = fleet.agents.pop("qfs:quditto-r1")  # the only way into quditto
    port = late.port
    fleet.bg.run(late.stop())
    orch = fleet.start_orchestrator(inventory=inventory)
    orch.controller.upkeep_period = 0.2
    dave = "urn:qkd:quditto:sensing"
    with connect(orch.port) as m:
        with pytest.raises(RPCError) as info:
            m.edit_config(target="running", config=unit_xml("su-late", endpoints=(ALICE, dave)))
        assert info.value.app_tag == "no-path"
        config = AgentConfig(**{**late.config.__dict__, "port": port})
        again = fleet.bg.run(_agent(config, fleet.network))
        fleet.bg.run(again.start())
        fleet.agents["qfs:quditto-r1"] = again
        poll(lambda: "quditto-r1" in orch.controller.topology.nodes or None, 20, "rediscovery")
        m.edit_config(target="running", config=unit_xml("su-late", endpoints=(ALICE, dave)))
        unit = wait_state(m, "su-late", "establishing")
    assert "quditto-r1" in path_of(unit)


async def _agent(config: AgentConfig, network) -> Agent:
    return Agent(config, network)
