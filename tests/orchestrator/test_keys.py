"""The qkd-key service unit: provisioned over trusted nodes, active at its size, deleted.

Real agents of the default network with KMEs on their SS agents (agents/kme), the
orchestrator on them. The twin is played by hand: each hop's pair-delivered results go
to the SS agents of that hop's two nodes, exactly as the QNDT feed would deliver them,
so the link key is made by the KMEs from "pairs" and relayed hop by hop.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ncclient.operations import RPCError
from orch_support import (
    ALICE,
    NS,
    allocations,
    connect,
    delete_xml,
    poll,
    unit_state,
    unit_xml,
    wait_state,
)

from qnms.app.pki import make_pki, network_identities
from qnms.orchestrator.keys import hop_rates, path_key_rate
from qnms.orchestrator.transaction import Phase
from qnms_agents.kme.attach import KmeGroup
from qnms_agents.kme.kme import KmeLimits
from qnms_agents.kme.units import unit_key_ids

if TYPE_CHECKING:
    from orch_fleet import Fleet

CHARLIE = "urn:qkd:quditto:emulator:ipsec:controller"
PATH = ["madqci-alice", "madqci-r2", "quditto-r1", "quditto-charlie"]
KMES = ["kme-alice", "kme-madqci-r2", "kme-quditto-r1", "kme-charlie"]
LIMITS = KmeLimits(key_size=64, min_key_size=64, batch_bytes=8, chunk_bytes=8)


def key_unit(name: str, size: int = 128, qos: str = "") -> str:
    xml = unit_xml(name, endpoints=(ALICE, CHARLIE), service_type="qkd-key", qos=qos)
    return xml.replace("<size>10</size>", f"<size>{size}</size>")


@pytest.fixture
def kme_fleet(fleet: Fleet, tmp_path: Path):
    pki = tmp_path / "pki"
    make_pki(pki, *network_identities(fleet.network.source))
    group = KmeGroup(list(fleet.agents.values()), pki, network=fleet.network, limits=LIMITS)
    fleet.bg.run(group.start(say=lambda _line: None))
    yield fleet, group, pki
    fleet.bg.run(group.stop())


def deliver(fleet: Fleet, hops: list[tuple[str, str]], pairs: int, fidelity: float = 0.95):
    """What the QNDT feed does with one hop's pair-delivered results: both SS agents."""

    def feed() -> None:
        for i, (a, b) in enumerate(hops):
            for n in range(pairs):
                msg = {
                    "type": "pair-delivered",
                    "allocation": f"hop{i}",
                    "pair": n,
                    "fidelity": fidelity,
                    "endpoints": [a, b],
                }
                for node in (a, b):
                    fleet.agents[f"ss:{node}"].live.apply(msg)

    fleet.bg.call(feed)


def store_units(fleet: Fleet, node: str) -> list[str]:
    return allocations(fleet.agents[f"ss:{node}"].port)["store"]


def test_a_key_unit_is_provisioned_over_trusted_nodes_active_at_size_and_deleted(
    kme_fleet,
) -> None:
    fleet, group, _pki = kme_fleet
    orch = fleet.start_orchestrator()
    with connect(orch.port) as m:
        m.edit_config(target="running", config=key_unit("su-key"))
        unit = poll(
            lambda: (
                (u := unit_state(m, "su-key")) is not None
                and u.findtext("s:state", namespaces=NS) == "establishing"
                and u
            ),
            what="su-key establishing",
        )
        path = unit.xpath("s:path/s:hop/s:node/text()", namespaces=NS)
        assert path == PATH
        ident = unit.xpath("s:identifier/s:urn/text()", namespaces=NS)
        assert ident[0].startswith(ALICE + "?=")  # the originator first: the master
        # every QUI the unit holds, per domain: a trusted node holds one for each hop
        assert published_quis(unit) == {
            ("madqci", "su-key.h0.madqci"),
            ("madqci", "su-key.h1.madqci"),  # madqci-r2's QUI of the inter-domain hop
            ("quditto", "su-key.h1.quditto"),
            ("quditto", "su-key.h2.quditto"),  # quditto-r1's QUI of the last hop
        }
        # one QUI per hop and node, generating on its link only; stores at the ends
        for i, (a, b) in enumerate(itertools.pairwise(PATH)):
            for node in (a, b):
                quis = allocations(fleet.agents[f"qfs:{node}"].port)["qui"]
                assert any(q.startswith(f"su-key.h{i}.") for q in quis), (node, quis)
        assert store_units(fleet, PATH[0]) == ["su-key"]
        assert store_units(fleet, PATH[-1]) == ["su-key"]
        assert store_units(fleet, PATH[1]) == []  # trusted nodes only relay
        kme_routes = {n: group_routes(group, kme) for n, kme in zip(PATH, KMES, strict=True)}
        assert kme_routes == {
            PATH[0]: {"kme-charlie": "kme-madqci-r2"},
            PATH[1]: {"kme-charlie": "kme-quditto-r1"},
            PATH[2]: {"kme-charlie": "kme-charlie"},
            PATH[3]: {},
        }
        # no key yet: the unit waits; then each hop's link makes key from its own pairs
        time.sleep(0.3)
        assert unit_state(m, "su-key").findtext("s:state", namespaces=NS) == "establishing"
        deliver(fleet, list(itertools.pairwise(PATH)), pairs=3000)
        unit = poll(
            lambda: (
                (u := unit_state(m, "su-key")) is not None
                and u.findtext("s:state", namespaces=NS) == "active"
                and u
            ),
            timeout=30,
            what="su-key active",
        )
        assert int(unit.findtext("s:delivery/s:delivered-units", namespaces=NS) or 0) >= 128
        # the unit's keys: IDs tied to its identifier, the same key at both ends
        ids = unit_key_ids(ident, 2)
        master, slave = kme(group, "kme-alice"), kme(group, "kme-charlie")
        got = master.enc_keys("ccips", ["ipsec-controller"], 1, 64)
        assert [k for k, _ in got] == ids[:1]
        back = fleet.bg.run(slave.dec_keys("ipsec-controller", "ccips", ids[:1]))
        assert back == got
        assert ids[1] in slave.assignments  # reserved for the unit, not yet taken

        m.edit_config(target="running", config=delete_xml("su-key"))
        poll(lambda: unit_state(m, "su-key") is None, what="su-key gone")
    poll(lambda: fleet.bg.run(orch.controller.idle()) or not orch.controller.records)
    for node in PATH:
        assert not any(allocations(fleet.agents[f"qfs:{node}"].port).values())
        assert store_units(fleet, node) == []
        assert group_routes(group, kme_of(group, node)) == {}
    # the key nobody took is gone at both ends
    assert ids[1] not in slave.assignments
    assert not any(u.held for u in group.books["kme-alice"].units.values())


def test_deleting_one_of_two_key_units_towards_one_kme_leaves_the_others_relay_working(
    kme_fleet,
) -> None:
    fleet, group, _pki = kme_fleet
    orch = fleet.start_orchestrator()
    routed = {
        PATH[0]: {"kme-charlie": "kme-madqci-r2"},
        PATH[1]: {"kme-charlie": "kme-quditto-r1"},
        PATH[2]: {"kme-charlie": "kme-charlie"},
        PATH[3]: {},
    }
    with connect(orch.port) as m:
        for name in ("su-k1", "su-k2"):
            m.edit_config(target="running", config=key_unit(name))
            wait_state(m, name, "establishing")
        assert {n: group_routes(group, kme) for n, kme in zip(PATH, KMES, strict=True)} == routed
        m.edit_config(target="running", config=delete_xml("su-k1"))
        poll(lambda: unit_state(m, "su-k1") is None, what="su-k1 gone")
        poll(lambda: fleet.bg.run(orch.controller.idle()) or "su-k1" not in orch.controller.records)
        # su-k2 still routes on every KME of its path ...
        assert {n: group_routes(group, kme) for n, kme in zip(PATH, KMES, strict=True)} == routed
        # ... so the relay still fills its store and it becomes active with its keys
        deliver(fleet, list(itertools.pairwise(PATH)), pairs=3000)
        unit = wait_state(m, "su-k2", "active", timeout=30)
        ident = unit.xpath("s:identifier/s:urn/text()", namespaces=NS)
        got = kme(group, "kme-alice").enc_keys("ccips", ["ipsec-controller"], 1, 64)
        assert [k for k, _ in got] == unit_key_ids(ident, 1)
        ids = [k for k, _ in got]
        back = fleet.bg.run(kme(group, "kme-charlie").dec_keys("ipsec-controller", "ccips", ids))
        assert back == got
        m.edit_config(target="running", config=delete_xml("su-k2"))
        poll(lambda: unit_state(m, "su-k2") is None, what="su-k2 gone")
    poll(lambda: fleet.bg.run(orch.controller.idle()) or not orch.controller.records)
    for node in PATH:  # the last unit's routes go with it
        assert group_routes(group, kme_of(group, node)) == {}


def test_what_a_key_unit_interrupted_by_a_crash_left_is_found_and_released_on_resume(
    kme_fleet,
) -> None:
    fleet, _group, _pki = kme_fleet
    orch = fleet.start_orchestrator()
    committed = fleet.bg.run(_event())

    async def die_once_every_agent_confirmed(phase: Phase, agents: list[str]) -> None:
        if phase == Phase.UNLOCK:  # all applied and confirmed, nothing recorded yet
            committed.set()
            await asyncio.Event().wait()

    orch.controller.phase_hook = die_once_every_agent_confirmed
    with connect(orch.port) as m:
        m.edit_config(target="running", config=key_unit("su-kc"))
    poll(lambda: committed.is_set() or None, 20, "every agent confirmed")
    assert orch.controller.records["su-kc"].state.value == "admitted"
    state_dir = orch.config.state_dir
    fleet.stop_orchestrator(orch)
    left = held_by(fleet, "su-kc")
    assert {k for k, v in left.items() if v["qui"]} == {f"qfs:{n}" for n in PATH}
    assert {k for k, v in left.items() if v["route"]} == {f"ss:{n}" for n in PATH[:-1]}
    # the network changed meanwhile: no trusted-node path any more, so the resumed unit
    # fails and must leave nothing (its hop QUIs, store, sessions and routes) behind
    fleet.stop_agent("ss:madqci-r2")
    again = fleet.start_orchestrator(state_dir)
    with connect(again.port) as m:
        wait_state(m, "su-kc", "failed")
    assert held_by(fleet, "su-kc") == {}


def test_a_key_rate_the_slowest_hop_cannot_make_is_refused_with_the_field_at_fault(
    kme_fleet,
) -> None:
    fleet, _group, _pki = kme_fleet
    orch = fleet.start_orchestrator()
    topo = orch.controller.topology
    best = path_key_rate(hop_rates(topo, PATH))
    assert best > 0
    with connect(orch.port) as m:
        with pytest.raises(RPCError) as err:
            qos = f"<generation-rate>{best * 2:.1f}</generation-rate>"
            m.edit_config(target="running", config=key_unit("su-fast", qos=qos))
        e = err.value
        assert e.tag == "invalid-value" and "key rate" in e.message
        assert "madqci-r2-quditto-r1" in e.message  # the slowest hop is named
        assert e.path.endswith("svc:qos/svc:generation-rate")
        assert unit_state(m, "su-fast") is None
        # a rate the path can make is admitted
        qos = f"<generation-rate>{best / 2:.1f}</generation-rate>"
        m.edit_config(target="running", config=key_unit("su-slow", qos=qos))
        poll(lambda: unit_state(m, "su-slow") is not None, what="su-slow admitted")


def group_routes(group: KmeGroup, kme_id: str) -> dict[str, str]:
    return kme(group, kme_id).routes()


def kme(group: KmeGroup, kme_id: str):
    return next(s.kme for s in group.servers if s.kme.kme_id == kme_id)


def kme_of(group: KmeGroup, node: str) -> str:
    return KMES[PATH.index(node)]


def published_quis(unit) -> set[tuple[str, str]]:
    return {
        (q.findtext("s:domain", namespaces=NS), q.findtext("s:id", namespaces=NS))
        for q in unit.iterfind("s:qui", NS)
    }


def held_by(fleet: Fleet, unit: str) -> dict[str, dict[str, list[str]]]:
    """What each running agent holds for ``unit`` (its hops' QUIs too), non-empty only."""
    mine = re.compile(rf"{re.escape(unit)}(\.h\d+)?")
    out = {}
    for key, agent in fleet.agents.items():
        with connect(agent.port) as m:
            data = m.get_config(source="running").data_ele
        quis = data.xpath("//q:qui-table/q:qui", namespaces=NS)
        owner = f"[ss:service-unit='{unit}']"
        found = {
            "qui": [
                q.findtext("q:id", namespaces=NS)
                for q in quis
                if mine.fullmatch(q.findtext("q:service-unit", namespaces=NS) or "")
            ],
            "store": data.xpath(
                f"//ss:service-unit[ss:name='{unit}']/ss:name/text()", namespaces=NS
            ),
            "session": data.xpath(f"//ss:session{owner}/ss:id/text()", namespaces=NS),
            "route": data.xpath(f"//ss:route{owner}/ss:destination/text()", namespaces=NS),
        }
        if any(found.values()):
            out[key] = found
    return out


async def _event() -> asyncio.Event:
    return asyncio.Event()
