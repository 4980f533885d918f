"""The closed loop on real agents: faults in, re-route / re-bind / degraded out.

The agents here follow no twin, so the test plays the twin's bus: it hands the agents
exactly the results the QNDT would publish (a channel-cut fault to the CS agent, pairs
delivered to the SS agents of the endpoints) and the agents' live state, NETCONF
datastores and YANG-Push subscriptions do the rest. The orchestrator learns of every
fault only through its YANG-Push subscriptions to the agents.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from orch_support import (
    ALICE,
    BOB,
    NC,
    NS,
    SVC,
    allocations,
    bus,
    connect,
    nothing_allocated,
    path_of,
    poll,
    unit_state,
    wait_state,
    yanglint_data,
)

from qnms.orchestrator.damping import DampingParams

if TYPE_CHECKING:
    from orch_fleet import Fleet

    from qnms.orchestrator.northbound import Orchestrator

SENSING = "urn:qkd:quditto:sensing"


def unit_xml(
    name: str,
    *,
    endpoints: tuple[str, str] = (ALICE, BOB),
    restoration: str = "",
    activation: str = "",
    target: str = "0.8",
    qos: str = "",
) -> str:
    eps = "".join(f"<endpoint><urn>{u}</urn></endpoint>" for u in endpoints)
    return f"""<config xmlns="{NC}"><service-units xmlns="{SVC}"
 xmlns:qt="urn:qnms:yang:qnms-types"><service-unit><name>{name}</name>
 <service-type>qt:bipartite-entanglement</service-type><originator>{endpoints[0]}</originator>
 {eps}<lifecycle><size>10</size><valid-until>{int(time.time()) + 3600}</valid-until></lifecycle>
 <qos><target-fidelity>{target}</target-fidelity>{qos}</qos>
 <restoration>{restoration}</restoration><activation>{activation}</activation>
 </service-unit></service-units></config>"""


def activate_xml(name: str) -> str:
    return f"""<config xmlns="{NC}"><service-units xmlns="{SVC}"><service-unit>
 <name>{name}</name><activation><activate>true</activate></activation>
 </service-unit></service-units></config>"""


def channel(fleet: Fleet, name: str, *, cut: bool, domain: str = "madqci") -> None:
    fault = "channel-cut" if cut else "channel-restored"
    bus(fleet, f"cs:{domain}", {"type": "fault", "fault": fault, "channel": name})


def deliver(fleet: Fleet, unit: str, ends: tuple[str, str], count: int, fidelity: float):
    for _ in range(count):
        msg = {"type": "pair-delivered", "allocation": unit, "endpoints": list(ends)}
        for node in ends:
            bus(fleet, f"ss:{node}", {**msg, "fidelity": fidelity})


def field(unit, path: str) -> str | None:
    return unit.findtext("/".join(f"s:{p}" for p in path.split("/")), namespaces=NS)


def edges_of(path: list[str]) -> set[frozenset[str]]:
    return {frozenset(p) for p in itertools.pairwise(path)}


def first_channel(orch: Orchestrator, path: list[str]) -> str:
    edge = orch.controller.topology.edge(path[0], path[1])
    assert edge.channel is not None
    return edge.channel


def make_active(fleet: Fleet, m, name: str, ends=("madqci-alice", "madqci-bob")):
    wait_state(m, name, "establishing")
    deliver(fleet, name, ends, 10, 0.9)
    return wait_state(m, name, "active")


def test_a_cut_channel_on_the_path_re_routes_the_unit_keeping_its_identifier(
    fleet: Fleet, tmp_path: Path
) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("su1"))
        unit = make_active(fleet, m, "su1")
        old_path, ident = path_of(unit), unit.xpath("s:identifier/s:urn/text()", namespaces=NS)
        cut = first_channel(orch, old_path)
        telemetry = orch.restoration.telemetry
        assert telemetry is not None and len(telemetry.mode) == len(fleet.agents)
        assert set(telemetry.mode.values()) == {"on-change"}
        channel(fleet, cut, cut=True)
        unit = poll(
            lambda: (
                (u := wait_state(m, "su1", "establishing", "degraded", "re-binding")) is not None
                and path_of(u) != old_path
                and field(u, "state") == "establishing"
                and u
            ),
            20,
            "re-routed",
        )
        new_path = path_of(unit)
        assert frozenset(old_path[:2]) not in edges_of(new_path)
        assert unit.xpath("s:identifier/s:urn/text()", namespaces=NS) == ident
        assert field(unit, "restoration/counters/reroute-count") == "1"
        deliver(fleet, "su1", ("madqci-alice", "madqci-bob"), 10, 0.9)
        unit = wait_state(m, "su1", "active")
        assert int(field(unit, "restoration/counters/last-restoration-time") or -1) >= 0
        flt = f'<service-units xmlns="{SVC}"/>'
        (top,) = m.get(filter=("subtree", flt)).data_ele
        yanglint_data(etree.tostring(top).decode(), tmp_path)
        # the old path's interior nodes hold nothing any more
        for node in set(old_path) - set(new_path):
            assert allocations(fleet.agents[f"qfs:{node}"].port)["qui"] == []
    events = [e.what for e in orch.restoration.events if e.subject in ("su1", f"channel:{cut}")]
    assert events[:2] == ["element-down", "degraded"]
    assert "re-route" in events and events[-1] == "restored"


def test_no_alternative_path_degrades_releases_everything_and_recovers(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("inter", endpoints=(ALICE, SENSING),
                                                         target="0.6"))  # fmt: skip
        wait_state(m, "inter", "establishing")
        channel(fleet, "f-madqci-quditto", cut=True)
        unit = wait_state(m, "inter", "degraded", timeout=20)
        unit = poll(
            lambda: (
                "resources released" in (field(unit_state(m, "inter"), "failure-reason") or "")
                and unit_state(m, "inter")
            ),
            20,
            "degraded with resources released",
        )
        assert "no quantum path" in field(unit, "failure-reason") or ""
        assert poll(lambda: nothing_allocated(fleet.agents) == {}, 20, "nothing left on agents")
        assert "inter" not in orch.controller.ledger.held
        channel(fleet, "f-madqci-quditto", cut=False)
        unit = wait_state(m, "inter", "establishing", timeout=20)
        assert field(unit, "failure-reason") is None
        assert "quditto-r1" in path_of(unit)
        assert nothing_allocated(fleet.agents) != {}


def test_manual_policy_reports_the_fault_without_re_routing_and_recovers_in_place(
    fleet: Fleet,
) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("man", restoration="<mode>manual</mode>"))
        unit = make_active(fleet, m, "man")
        path = path_of(unit)
        cut = first_channel(orch, path)
        channel(fleet, cut, cut=True)
        unit = wait_state(m, "man", "degraded")
        assert "manual" in (field(unit, "failure-reason") or "")
        time.sleep(1.0)  # time enough to have re-routed were it automatic
        unit = unit_state(m, "man")
        assert field(unit, "state") == "degraded" and path_of(unit) == path
        assert allocations(fleet.agents[f"qfs:{path[1]}"].port)["qui"] != []
        channel(fleet, cut, cut=False)
        unit = wait_state(m, "man", "active")
        assert path_of(unit) == path
        assert field(unit, "restoration/counters/reroute-count") == "0"


def test_a_flapping_link_does_not_make_the_unit_oscillate(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator(damping=DampingParams(half_life_s=60.0))
    with connect(orch.port) as m:
        m.edit_config(
            target="running",
            config=unit_xml("flap", restoration="<hold-off>1500</hold-off>"),
        )
        unit = make_active(fleet, m, "flap")
        path = path_of(unit)
        cut = first_channel(orch, path)
        # one short cut, shorter than the hold-off: degraded, then active in place
        channel(fleet, cut, cut=True)
        wait_state(m, "flap", "degraded")
        channel(fleet, cut, cut=False)
        unit = wait_state(m, "flap", "active", timeout=10)
        assert path_of(unit) == path
        assert field(unit, "restoration/counters/reroute-count") == "0"
        # then it flaps: five cuts in a second
        for _ in range(5):
            channel(fleet, cut, cut=True)
            time.sleep(0.1)
            channel(fleet, cut, cut=False)
            time.sleep(0.1)
        unit = poll(
            lambda: (
                (u := unit_state(m, "flap")) is not None
                and field(u, "state") == "establishing"
                and u
            ),
            15,
            "re-routed off the flapping link",
        )
        deliver(fleet, "flap", ("madqci-alice", "madqci-bob"), 10, 0.9)
        unit = wait_state(m, "flap", "active")
        time.sleep(1.0)  # the link is up again: a damped unit stays where it is
        unit = unit_state(m, "flap")
        assert field(unit, "state") == "active"
        assert field(unit, "restoration/counters/reroute-count") == "1"
        assert frozenset(path[:2]) not in edges_of(path_of(unit))
    events = orch.restoration.events
    degraded = [e for e in events if e.subject == "flap" and e.what == "degraded"]
    assert len(degraded) == 2  # the short cut, then the flapping: once, not five times
    assert orch.restoration.elements.effective_down(f"channel:{cut}", time.monotonic())


def test_low_fidelity_re_binds_the_unit_under_the_same_identifier(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=unit_xml("fid"))
        unit = make_active(fleet, m, "fid")
        ident = unit.xpath("s:identifier/s:urn/text()", namespaces=NS)
        deliver(fleet, "fid", ("madqci-alice", "madqci-bob"), 1, 0.6)
        unit = wait_state(m, "fid", "establishing", "re-binding", timeout=10)
        unit = poll(
            lambda: field(u := unit_state(m, "fid"), "rebinding-count") == "1" and u,
            10,
            "rebinding-count 1",
        )
        assert unit.xpath("s:identifier/s:urn/text()", namespaces=NS) == ident
        deliver(fleet, "fid", ("madqci-alice", "madqci-bob"), 10, 0.9)
        wait_state(m, "fid", "active")
    assert any(e.what == "re-bind" for e in orch.restoration.events)


def test_an_on_demand_unit_is_reserved_and_generated_only_when_activated(
    fleet: Fleet,
) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(
            target="running", config=unit_xml("later", activation="<mode>on-demand</mode>")
        )
        unit = wait_state(m, "later", "admitted")
        time.sleep(0.5)
        assert field(unit_state(m, "later"), "state") == "admitted"
        assert nothing_allocated(fleet.agents) == {}
        held = orch.controller.ledger.held.get("later")
        assert held, "its memory qubits are reserved in the capacity ledger"
        m.edit_config(target="running", config=activate_xml("later"))
        unit = wait_state(m, "later", "establishing")
        assert path_of(unit)
        assert nothing_allocated(fleet.agents) != {}


def test_a_qui_close_to_its_time_to_live_is_refreshed_before_it_expires(fleet: Fleet) -> None:
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(
            target="running", config=unit_xml("ttl", qos="<time-to-live>4</time-to-live>")
        )
        unit = make_active(fleet, m, "ttl")
        path = path_of(unit)
        qui = f"ttl.{unit.findtext('s:qui/s:domain', namespaces=NS)}"
        # refreshed with about max(1 s, ttl/5) left: after ~3 s, before the QUI expires
        unit = poll(
            lambda: (
                field(u := unit_state(m, "ttl"), "restoration/counters/refresh-count") == "1" and u
            ),
            10,
            "refresh-count 1",
        )
        assert "refresh" in (field(unit, "restoration/counters/last-action") or "")
        assert path_of(unit) == path
        assert qui in allocations(fleet.agents[f"qfs:{path[0]}"].port)["qui"]
        deliver(fleet, "ttl", ("madqci-alice", "madqci-bob"), 10, 0.9)
        wait_state(m, "ttl", "active")
    refreshes = [e for e in orch.restoration.events if e.what == "refresh"]
    assert refreshes and "expires in" in refreshes[0].detail
