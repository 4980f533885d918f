"""The network's live topology on the northbound (RFC 8345 state with qnms-topology).

Real agents of the default network and an orchestrator on them, read only over its
NETCONF northbound: a ``<get>`` of ``/nw-s:networks`` holds every node and link with
roles, border flags and states (and libyang agrees it is valid data), netconf-console2
reads it, an application's user reads it, and a fault at an agent reaches an ncclient
subscriber as a push-change-update of the link's oper-state. The agents follow no
twin here: the test plays the twin's bus for the fault (as test_restoration does).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ncclient.xml_ import to_ele
from orch_fleet import Fleet
from orch_support import PASSWORD, USER, bus, connect, poll, yanglint_data

from qnms.orchestrator.discovery import Discovery
from qnms.orchestrator.southbound import AgentAddress
from qnms.orchestrator.telemetry import Facts, QuiFacts
from qnms.orchestrator.topology import NodeInfo
from qnms.orchestrator.topology_state import TopologyState

NW = "urn:ietf:params:xml:ns:yang:ietf-network-state"
NT = "urn:ietf:params:xml:ns:yang:ietf-network-topology-state"
QTP = "urn:qnms:yang:qnms-topology"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
N = {"nw": NW, "nt": NT, "q": QTP, "yp": YP}
FILTER = f'<networks xmlns="{NW}"/>'
TENANTS = {"ccips": "ccips-pw"}
TOPOLOGY_MODULES = (
    "ietf-network-state@2018-02-26.yang",
    "ietf-network-topology-state@2018-02-26.yang",
    "qnms-topology.yang",
)
CONSOLE = Path(sys.executable).parent / "netconf-console2"


@pytest.fixture(scope="module")
def orch(shared_fleet: Fleet) -> Iterator[Any]:
    orch = shared_fleet.start_orchestrator(users={USER: PASSWORD, **TENANTS}, admins=[USER])
    yield orch
    shared_fleet.stop_orchestrator(orch)


def networks(m) -> etree._Element:
    data = m.get(filter=("subtree", FILTER)).data_ele
    found = data.find(f"{{{NW}}}networks")
    assert found is not None, etree.tostring(data).decode()
    return found


def reported(m) -> etree._Element | None:
    """The map once telemetry reached every node and link (oper-state everywhere)."""
    top = networks(m)
    nodes = top.findall("nw:network/nw:node", N)
    links = top.findall("nw:network/nt:link", N)
    if len(nodes) < 8 or len(links) < 40:
        return None
    states = top.findall("nw:network/nw:node/q:quantum-node/q:oper-state", N)
    states += top.findall("nw:network/nt:link/q:quantum-link/q:oper-state", N)
    return top if len(states) == len(nodes) + len(links) else None


def q(el: etree._Element, path: str) -> str | None:
    return el.findtext(path, namespaces=N)


def link(top: etree._Element, link_id: str) -> etree._Element:
    found = top.find(f"nw:network/nt:link[nt:link-id='{link_id}']", N)
    assert found is not None, link_id
    return found


def in_state(m, link_id: str, state: str) -> etree._Element | None:
    """The map once ``link_id`` has oper-state ``state``."""
    top = networks(m)
    return top if q(link(top, link_id), "q:quantum-link/q:oper-state") == state else None


def test_get_returns_every_node_and_link_with_roles_and_border_flags(
    orch, network, tmp_path: Path
) -> None:
    with connect(orch.port) as m:
        top = poll(lambda: reported(m), 30, "telemetry on every node and link")
    net = top.find("nw:network", N)
    assert q(net, "nw:network-id") == "default"
    assert net.find("nw:network-types/q:quantum-network", N) is not None
    nodes = {q(n, "nw:node-id"): n.find("q:quantum-node", N) for n in net.iterfind("nw:node", N)}
    assert set(nodes) == {n["name"] for n in network.nodes}
    for spec in network.nodes:
        qn = nodes[spec["name"]]
        fabric = spec["quantum-fabric"]
        assert q(qn, "q:role").rpartition(":")[2] == network.role(spec)
        assert q(qn, "q:domain") == fabric["node"]["domain"]
        assert q(qn, "q:oper-state") == "up"
        sizes = {q(mem, "q:name"): int(q(mem, "q:size")) for mem in qn.iterfind("q:memory", N)}
        assert sizes == {mem["name"]: mem["size"] for mem in fabric["memories"]["memory"]}
        assert all(mem.find("q:occupancy", N) is not None for mem in qn.iterfind("q:memory", N))
        assert q(qn, "q:active-quis") == "0"
        urns = [e["urn"] for e in spec.get("service-stratum", {}).get("endpoints", {}).get(
            "endpoint", [])]  # fmt: skip
        assert [e.text for e in qn.iterfind("q:endpoint", N)] == urns
    borders = {name for name, qn in nodes.items() if q(qn, "q:border") == "true"}
    assert borders == {"madqci-r2", "quditto-r1"}  # the ends of the inter-domain link

    kinds: dict[str, set[str]] = {}
    for lk in net.iterfind("nt:link", N):
        kinds.setdefault(q(lk, "q:quantum-link/q:kind"), set()).add(q(lk, "nt:link-id"))
    expected = {
        f"{spec['name']}/{ql['name']}"
        for spec in network.nodes
        for ql in spec["quantum-fabric"]["quantum-links"]["quantum-link"]
    }
    assert kinds["quantum-link"] == expected and len(expected) == 20  # both directions
    assert kinds["quantum-channel"] == {f"{c['domain']}/{c['name']}" for c in network.channels()}
    assert kinds["classical-assist"] == {
        f"{c['domain']}/{c['name']}" for c in network.classical_channels()
    }
    one = link(top, "madqci-r2/f-r2-bob")
    assert q(one, "nt:source/nt:source-node") == "madqci-r2"
    assert q(one, "nt:destination/nt:dest-node") == "madqci-bob"
    assert q(one, "q:quantum-link/q:length") == "6.0"
    assert q(one, "q:quantum-link/q:channel") == "madqci/f-r2-bob"
    assert q(one, "q:quantum-link/q:classical-assist") == "madqci/c-r2-bob"
    back = link(top, "madqci-bob/f-r2-bob")
    assert q(back, "nt:source/nt:source-node") == "madqci-bob"
    yanglint_data(etree.tostring(top), tmp_path, TOPOLOGY_MODULES)


def test_an_application_user_reads_the_map(orch) -> None:
    with connect(orch.port, "ccips", TENANTS["ccips"]) as m:
        top = poll(lambda: reported(m), 30, "the map as seen by an application")
    assert len(top.findall("nw:network/nw:node", N)) == 8
    assert len(top.findall("nw:network/nt:link", N)) == 40


def test_netconf_console2_gets_the_map_and_its_modules(orch) -> None:
    cmd = [str(CONSOLE), "--host", "127.0.0.1", "--port", str(orch.port), "-u", USER]
    for module in ("qnms-topology", "ietf-network-topology-state"):
        got = subprocess.run([*cmd, "-p", PASSWORD, "--get-schema", module],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert got.returncode == 0 and f"module {module} {{" in got.stdout, got.stderr
    done = subprocess.run(
        [*cmd, "-p", PASSWORD, "--get", "-x", "/nw-s:networks", "--ns", f"nw-s={NW}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    data = etree.fromstring(done.stdout.encode())
    ids = data.xpath("//nt:link/nt:link-id/text()", namespaces=N)
    assert "quditto-r1/f-madqci-quditto" in ids and len(ids) == 40
    assert data.xpath("//nw:node[nw:node-id='madqci-r2']/q:quantum-node/q:border/text()",
                      namespaces=N) == ["true"]  # fmt: skip


def subscribe(m) -> None:
    m.dispatch(
        to_ele(
            f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" '
            'xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">'
            "<yp:datastore>ds:operational</yp:datastore>"
            f"<yp:datastore-subtree-filter>{FILTER}</yp:datastore-subtree-filter>"
            "<yp:on-change><yp:dampening-period>0</yp:dampening-period></yp:on-change>"
            "</establish-subscription>"
        )
    )


def patched(m, target: str, value: str, deadline: float) -> float:
    """Wait for a push-change-update whose patch sets ``target`` (an RFC 8072 edit
    target ending in ``oper-state``) to ``value``; the time it arrived."""
    while time.monotonic() < deadline:
        n = m.take_notification(block=True, timeout=0.5)
        if n is None:
            continue
        arrived = time.monotonic()
        root = etree.fromstring(n.notification_xml.encode())
        for edit in root.iterfind(".//yp:push-change-update//yp:edit", N):
            if target in (edit.findtext("yp:target", namespaces=N) or "") and value in (
                "".join(edit.find("yp:value", N).itertext()) if edit.find("yp:value", N)
                is not None else ""
            ):  # fmt: skip
                return arrived
    raise AssertionError(f"no push-change-update set {target} to {value}")


def test_a_cut_channel_turns_its_links_down_in_a_push_change_update(
    orch, shared_fleet: Fleet
) -> None:
    with connect(orch.port) as m:
        poll(lambda: reported(m), 30, "telemetry on every node and link")
        subscribe(m)
        first = m.take_notification(block=True, timeout=10)
        assert first is not None and "push-update" in first.notification_xml
        try:
            t0 = time.monotonic()
            bus(shared_fleet, "cs:madqci", {"type": "fault", "fault": "channel-cut",
                                             "channel": "f-r2-bob"})  # fmt: skip
            link_id = "link=madqci%2Ff-r2-bob"
            arrived = patched(m, link_id, "down", time.monotonic() + 20)
            print(f"channel cut at the CS agent -> northbound push: {arrived - t0:.3f} s")
            top = networks(m)
            assert q(link(top, "madqci/f-r2-bob"), "q:quantum-link/q:oper-state") == "down"
            assert q(link(top, "madqci/f-r1-bob"), "q:quantum-link/q:oper-state") == "up"
        finally:
            bus(shared_fleet, "cs:madqci", {"type": "fault", "fault": "channel-restored",
                                             "channel": "f-r2-bob"})  # fmt: skip
        patched(m, link_id, "up", time.monotonic() + 20)


def test_a_quantum_link_the_twin_reports_down_goes_down_with_its_telemetry(
    orch, shared_fleet: Fleet
) -> None:
    def report(state: str) -> None:
        for node in ("madqci-r1", "madqci-bob"):
            msg = {"type": "link-telemetry", "link": "f-r1-bob", "oper-state": state,
                   "generation-rate": 12.5, "success-probability": 0.05,
                   "mean-fidelity": 0.93, "last-fidelity": 0.91}  # fmt: skip
            bus(shared_fleet, f"qfs:{node}", msg)

    with connect(orch.port) as m:
        poll(lambda: reported(m), 30, "telemetry on every node and link")
        subscribe(m)
        assert m.take_notification(block=True, timeout=10) is not None  # the push-update
        try:
            report("down")
            patched(m, "link=madqci-r1%2Ff-r1-bob", "down", time.monotonic() + 20)
            top = poll(lambda: in_state(m, "madqci-bob/f-r1-bob", "down"), 20, "both down")
            tel = link(top, "madqci-r1/f-r1-bob").find("q:quantum-link/q:telemetry", N)
            assert q(tel, "q:mean-fidelity") == "0.93"
            assert q(tel, "q:generation-rate") == "12.5"
            assert q(link(top, "madqci/f-r1-bob"), "q:quantum-link/q:oper-state") == "up"
        finally:
            report("up")
        patched(m, "link=madqci-r1%2Ff-r1-bob", "up", time.monotonic() + 20)


def test_a_burst_of_telemetry_is_one_rebuild_and_an_unchanged_map_no_push() -> None:
    """Coalescing, on a loop of its own: a hundred notifications in one loop turn are
    one rebuild; notifications that change nothing the map shows (or come from SS
    agents) build nothing and do not wake the server."""
    disc = Discovery()
    disc.topology.nodes["n1"] = NodeInfo("n1", "d", "repeater", ())
    facts = Facts(nodes={"n1": "up"})
    told: list[int] = []
    topo = TopologyState("net", lambda: disc, lambda: facts, lambda: told.append(1))
    qfs = AgentAddress("qfs", "n1", "127.0.0.1", 1, "u", "p")
    ss = AgentAddress("ss", "n1", "127.0.0.1", 2, "u", "p")

    async def burst(n: int, addr: AgentAddress = qfs) -> None:
        for _ in range(n):
            topo.on_telemetry(addr, 0.0)
        await asyncio.sleep(0.2)

    asyncio.run(burst(100))
    assert (topo.rebuilds, len(told)) == (1, 1)
    facts = Facts(nodes={"n1": "up"}, quis={("n1", "q1"): QuiFacts("bound", 0.9, None)})
    asyncio.run(burst(100))  # one more active QUI: shown
    assert (topo.rebuilds, len(told)) == (2, 2)
    facts = Facts(nodes={"n1": "up"}, quis={("n1", "q1"): QuiFacts("bound", 0.8, None)})
    asyncio.run(burst(100))  # only its fidelity moved: not on the map
    assert (topo.rebuilds, len(told)) == (2, 2)
    facts = Facts(nodes={"n1": "down"}, quis=facts.quis)
    asyncio.run(burst(3, ss))  # SS telemetry is not on the map
    assert (topo.rebuilds, len(told)) == (2, 2)
    asyncio.run(burst(3))
    assert (topo.rebuilds, len(told)) == (3, 3)
    (tree,) = topo.state()
    assert tree.findtext(f".//{{{QTP}}}oper-state") == "down"
    assert tree.findtext(f".//{{{QTP}}}active-quis") == "1"
