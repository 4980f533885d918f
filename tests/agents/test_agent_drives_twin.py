"""End to end: a QUI configured over NETCONF makes the head-end agent drive the twin.

Two real processes on 127.0.0.1 (the QNDT service on free TCP ports, and `qnms agents`
for every element of the default network following it), driven only as an orchestrator
would: ncclient edit-configs on the agents, reads of their operational state, and
queries to the twin to check what it was asked. Every wait polls with a deadline.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from ncclient import manager
from support import polling
from support.agents import QFS, SS, connect_port
from support.processes import stop_process as stop

from qnms.app.stack import free_port_pair
from qnms.network.inventory import DEFAULT_NETWORK, load_network
from qnms.qndt.client import BusClient
from qnms_agents.base import elements

# the twin and every agent of the network, as processes, once for the module; starting
# them all took 45 s on a busy two-core machine: more than the default timeout leaves
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PATH = ("madqci-alice", "madqci-r1", "madqci-bob")
USER, PASSWORD = "admin", "drive-pw"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


def poll[T](read: Callable[[], T], check: Callable[[T], bool], timeout: float = 90.0) -> T:
    """``support.polling.poll`` with the patience of two processes on a busy machine."""
    return polling.poll(read, check, timeout=timeout, interval=0.2)


class Fabric:
    """The twin and the agents of the default network, with clients for both."""

    def __init__(self, bind: str, ports: dict[tuple[str, str], int], agents: Any) -> None:
        self.bind = bind
        self.ports = ports
        self.agents = agents
        self.twin = BusClient(bind, topics=())

    def session(self, stratum: str, node: str) -> manager.Manager:
        return connect_port(self.ports[(stratum, node)], USER, PASSWORD)

    def reserved(self) -> dict[str, int]:
        """Qubits the twin holds reserved on each node of PATH."""
        reply = self.twin.request({"type": "query", "what": "telemetry"})
        nodes = reply["telemetry"]["nodes"]
        return {n: sum(b["reserved"] for b in nodes[n]["memories"].values()) for n in PATH}

    def allocation_state(self, name: str) -> str | None:
        reply = self.twin.request({"type": "query", "what": "allocation", "allocation": name})
        return reply.get("state") if reply["ok"] else reply["error"]["code"]


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fabric]:
    tmp = tmp_path_factory.mktemp("drive")
    bind = f"tcp://127.0.0.1:{free_port_pair()}"
    with ExitStack() as stack:
        cmd = [sys.executable, "-m", "qnms.qndt", "--bind", bind, "--speed", "0.1"]
        cmd += ["--seed", "2", "--telemetry-period", "0.05", "--wall-duration", "600"]
        twin = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        stack.callback(stop, twin)
        assert "results on" in twin.stderr.readline()
        cmd = [sys.executable, "-m", "qnms.app.cli", "agents", "--base-port", "0", "--qndt", bind]
        cmd += ["--state-dir", str(tmp / "state"), "--user", USER, "--password", PASSWORD]
        agents = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stack.callback(stop, agents)
        expected = set(elements(load_network()))
        ports: dict[tuple[str, str], int] = {}
        for line in agents.stdout:
            found = re.match(r"(\w+)\s+(\S+)\s+127\.0\.0\.1:(\d+)", line)
            if found:
                ports[(found.group(1), found.group(2))] = int(found.group(3))
            if set(ports) == expected:
                break
        assert set(ports) == expected, agents.stderr.read()
        fab = Fabric(bind, ports, agents)
        stack.callback(fab.twin.close)
        yield fab


def qui_xml(qui: str, unit: str, *, path: tuple[str, ...] = (), extra: str = "") -> str:
    hops = "".join(f"<path>{n}</path>" for n in path)
    return f"""<config><quantum-fabric xmlns="{QFS}"><qui-table><qui>
      <id>{qui}</id><scope>madqci</scope><service-unit>{unit}</service-unit><nonce>n1</nonce>
      {hops}{extra}<local-handle><memory>mem0</memory><index>0</index></local-handle>
      </qui></qui-table></quantum-fabric></config>"""


def delete_qui(m: manager.Manager, qui: str) -> None:
    m.edit_config(
        target="running",
        config=f"""<config><quantum-fabric xmlns="{QFS}"><qui-table>
          <qui xmlns:nc="{NC}" nc:operation="delete"><id>{qui}</id></qui>
          </qui-table></quantum-fabric></config>""",
    )


def qui_state(m: manager.Manager, qui: str) -> dict[str, str | None]:
    entry = f"<qui-table><qui><id>{qui}</id></qui></qui-table>"
    flt = f'<quantum-fabric xmlns="{QFS}">{entry}</quantum-fabric>'
    data = m.get(filter=("subtree", flt)).data_ele
    el = data.find(f".//{{{QFS}}}qui")
    if el is None:
        return {}

    def text(path: str) -> str | None:
        return el.findtext("/".join(f"{{{QFS}}}{p}" for p in path.split("/")))

    return {
        k: text(k) for k in ("generation/twin-state", "generation/delivered", "state", "fidelity")
    }


def store_of(m: manager.Manager, unit: str) -> dict[str, int]:
    data = m.get(
        filter=("subtree", f'<service-stratum xmlns="{SS}"><service-units/></service-stratum>')
    ).data_ele
    for su in data.iter(f"{{{SS}}}service-unit"):
        if su.findtext(f"{{{SS}}}name") == unit:
            return {
                k: int(su.findtext(f"{{{SS}}}store/{{{SS}}}{k}") or 0)
                for k in ("delivered-units", "stored-units")
            }
    return {}


def ss_unit_xml(unit: str, endpoint: str) -> str:
    return f"""<config><service-stratum xmlns="{SS}"><service-units><service-unit>
      <name>{unit}</name>
      <service-type xmlns:t="urn:qnms:yang:qnms-types">t:bipartite-entanglement</service-type>
      <local-endpoint>{endpoint}</local-endpoint></service-unit></service-units>
      </service-stratum></config>"""


ENDPOINTS = {"madqci-alice": "urn:qkd:madqci:ccips", "madqci-bob": "urn:qkd:madqci:teleport"}


def configure_path(fabric: Fabric, stack: ExitStack, qui: str, unit: str, extra: str) -> Any:
    """QUIs on every node of PATH (the route and request on the head-end only)."""
    sessions = {n: stack.enter_context(fabric.session("qfs", n)) for n in PATH}
    sessions[PATH[0]].edit_config(
        target="running", config=qui_xml(qui, unit, path=PATH, extra=extra)
    )
    for node in PATH[1:]:
        sessions[node].edit_config(target="running", config=qui_xml(qui, unit))
    return sessions


def test_head_end_qui_drives_deliveries_into_both_endpoint_stores(fabric: Fabric) -> None:
    unit, qui = "su-drive", "q-drive"
    gen = "<generation><target-fidelity>0.8</target-fidelity><hold>true</hold></generation>"
    with ExitStack() as stack:
        stores = {n: stack.enter_context(fabric.session("ss", n)) for n in ENDPOINTS}
        for node, urn in ENDPOINTS.items():
            stores[node].edit_config(target="running", config=ss_unit_xml(unit, urn))
        sessions = configure_path(fabric, stack, qui, unit, gen)
        head = sessions[PATH[0]]
        state = poll(
            lambda: qui_state(head, qui), lambda s: int(s["generation/delivered"] or 0) > 0
        )
        assert int(state["generation/delivered"]) > 0, state
        assert state["generation/twin-state"] == "active"
        assert state["state"] == "bound"
        assert float(state["fidelity"]) >= 0.8
        for node in ENDPOINTS:
            store = poll(
                lambda n=node: store_of(stores[n], unit), lambda s: s.get("delivered-units", 0) > 0
            )
            assert store["delivered-units"] > 0 and store["stored-units"] > 0, (node, store)
        # the other nodes of the path hold their share; they do not drive the twin
        assert qui_state(sessions["madqci-r1"], qui)["generation/twin-state"].startswith("no path")
        for m in sessions.values():
            delete_qui(m, qui)
        assert poll(lambda: fabric.allocation_state(unit), lambda s: s == "released") == "released"


def test_deleting_head_end_qui_releases_twin_allocation(fabric: Fabric) -> None:
    unit, qui = "su-release", "q-release"
    before = fabric.reserved()
    with ExitStack() as stack:
        head = configure_path(fabric, stack, qui, unit, "")[PATH[0]]
        state = poll(lambda: qui_state(head, qui), lambda s: s["generation/twin-state"] == "active")
        assert state["generation/twin-state"] == "active", state
        held = fabric.reserved()
        assert all(held[n] > before[n] for n in PATH), (before, held)
        delete_qui(head, qui)
        assert poll(lambda: fabric.allocation_state(unit), lambda s: s == "released") == "released"
        assert poll(fabric.reserved, lambda r: r == before) == before
        assert qui_state(head, qui) == {}


def test_bad_path_shows_the_twins_error_and_the_agent_keeps_serving(fabric: Fabric) -> None:
    qui = "q-bad"
    with fabric.session("qfs", PATH[0]) as head:
        head.edit_config(
            target="running",
            config=qui_xml(qui, "su-bad", path=(PATH[0], "nowhere-node")),
        )
        state = poll(
            lambda: qui_state(head, qui), lambda s: "error" in (s["generation/twin-state"] or "")
        )
        assert state["generation/twin-state"].startswith("error unknown-node"), state
        assert state["generation/delivered"] == "0"
        delete_qui(head, qui)
        assert qui_state(head, qui) == {}
    assert fabric.agents.poll() is None
    assert fabric.allocation_state("su-bad") == "unknown-allocation"


def test_changing_the_generation_request_reallocates_in_the_twin(fabric: Fabric) -> None:
    unit, qui = "su-change", "q-change"

    def requested() -> tuple[str | None, int | None]:
        reply = fabric.twin.request({"type": "query", "what": "allocation", "allocation": unit})
        return (reply.get("state"), reply.get("requested"))

    with ExitStack() as stack:
        gen = "<generation><pairs>3</pairs></generation>"
        head = configure_path(fabric, stack, qui, unit, gen)[PATH[0]]
        assert poll(requested, lambda r: r == ("active", 3)) == ("active", 3)
        edit = qui_xml(qui, unit, path=PATH, extra="<generation><pairs>50</pairs></generation>")
        head.edit_config(target="running", config=edit)
        assert poll(requested, lambda r: r == ("active", 50)) == ("active", 50)
        delete_qui(head, qui)
        assert poll(requested, lambda r: r[0] == "released")[0] == "released"


def test_an_inter_domain_path_is_driven_by_its_head_end_alone(fabric: Fabric) -> None:
    path = ("madqci-alice", "madqci-r2", "quditto-r1", "quditto-charlie")
    with fabric.session("qfs", path[0]) as head:
        head.edit_config(target="running", config=qui_xml("q-inter", "su-inter", path=path))
        state = poll(
            lambda: qui_state(head, "q-inter"),
            lambda s: s["generation/twin-state"] == "active",
        )
        assert state["generation/twin-state"] == "active", state
        delete_qui(head, "q-inter")
    assert (
        poll(lambda: fabric.allocation_state("su-inter"), lambda s: s == "released") == "released"
    )


def test_restarted_head_end_adopts_the_allocation_the_twin_still_runs(
    fabric: Fabric, tmp_path: Path
) -> None:
    """SIGKILL loses nothing committed; on restart the agent finds the QUI in running
    and the allocation in the twin, and takes it over instead of reporting a clash."""
    unit, qui = "su-restart", "q-restart"
    cmd = [sys.executable, "-m", "qnms.app.cli", "agent", "--stratum", "qfs", "--node", PATH[0]]
    cmd += ["--port", "0", "--network", str(DEFAULT_NETWORK), "--qndt", fabric.bind]
    cmd += ["--state-dir", str(tmp_path), "--user", USER, "--password", PASSWORD]

    def started() -> tuple[subprocess.Popen, int]:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in proc.stdout:
            found = re.search(r"127\.0\.0\.1:(\d+)", line)
            if found:
                return proc, int(found.group(1))
        raise AssertionError(proc.stderr.read())

    def active(port: int) -> dict[str, str | None]:
        with connect_port(port, USER, PASSWORD) as m:
            return poll(lambda: qui_state(m, qui), lambda s: s["generation/twin-state"] == "active")

    proc, port = started()
    try:
        with connect_port(port, USER, PASSWORD) as m:
            m.edit_config(target="running", config=qui_xml(qui, unit, path=PATH))
        assert active(port)["generation/twin-state"] == "active"
        proc.kill()
        proc.wait(10)
        stop(proc)
        proc, port = started()
        assert active(port)["generation/twin-state"] == "active"
        assert fabric.allocation_state(unit) == "active"
        with connect_port(port, USER, PASSWORD) as m:
            delete_qui(m, qui)
        assert poll(lambda: fabric.allocation_state(unit), lambda s: s == "released") == "released"
    finally:
        stop(proc)
