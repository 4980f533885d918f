"""kill -9 of the orchestrator process during establishment, and check-sync.

``qnms agents`` and ``qnms orchestrator`` run as processes. The orchestrator is killed
(SIGKILL: no cleanup of any kind) right after it accepted three units, while their
network-wide transactions run; started again on the same state directory it must
show every unit and bring the agents in line with its store. ``--check-sync`` lists
differences and changes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from orch_processes import orchestrator_cmd, start_agents, start_orchestrator, write_inventory
from orch_support import (
    ALICE,
    BOB,
    NC,
    NS,
    QFS,
    allocations,
    connect,
    poll,
    unit_xml,
)
from support.processes import stop_process as stop

SENSING = "urn:qkd:quditto:sensing"
UNITS = {"c1": (ALICE, BOB), "c2": (BOB, ALICE), "c3": (ALICE, SENSING)}


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[tuple[Path, dict[tuple[str, str], int]]]:
    with ExitStack() as es:
        _proc, ports = start_agents(es, tmp_path / "agents")
        yield write_inventory(tmp_path / "inventory.json", ports), ports


def check_sync(inventory: Path, state: Path) -> subprocess.CompletedProcess:
    cmd = orchestrator_cmd(inventory, state, "--check-sync")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def states(port: int) -> dict[str, str]:
    with connect(port) as m:
        data = m.get().data_ele
    return {
        u.findtext("s:name", namespaces=NS): u.findtext("s:state", namespaces=NS)
        for u in data.iterfind(".//s:service-units/s:service-unit", NS)
    }


def held_quis(ports: dict[tuple[str, str], int]) -> dict[str, list[str]]:
    found = {n: allocations(p)["qui"] for (s, n), p in ports.items() if s == "qfs"}
    return {n: q for n, q in found.items() if q}


def test_a_killed_orchestrator_restarts_with_every_unit_and_the_agents_in_line(
    agents, tmp_path: Path
) -> None:
    inventory, ports = agents
    state = tmp_path / "orch"
    proc, port = start_orchestrator(inventory, state)
    try:
        with connect(port) as m:
            for name, eps in UNITS.items():
                m.edit_config(target="running", config=unit_xml(name, endpoints=eps))
        proc.kill()  # SIGKILL while the transactions run
        proc.wait(10)
    finally:
        stop(proc)
    proc, port = start_orchestrator(inventory, state)
    try:
        assert set(states(port)) == set(UNITS), "every unit survives the crash"
        poll(
            lambda: all(s == "establishing" for s in states(port).values()),
            60,
            "every unit established again",
        )
    finally:
        stop(proc)
    result = check_sync(inventory, state)
    assert result.returncode == 0, result.stdout
    assert "in sync" in result.stdout
    quis = held_quis(ports)
    assert {q.partition(".")[0] for qs in quis.values() for q in qs} == set(UNITS)


ORPHAN = f"""<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><qui-table><qui>
 <id>stray.madqci</id><scope>madqci</scope><service-unit>stray</service-unit><nonce>n</nonce>
 </qui></qui-table></quantum-fabric></config>"""


def test_check_sync_reports_missing_and_orphan_allocations_without_changing_them(
    agents, tmp_path: Path
) -> None:
    inventory, ports = agents
    state = tmp_path / "orch"
    proc, port = start_orchestrator(inventory, state)
    try:
        with connect(port) as m:
            m.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
        poll(lambda: states(port).get("c1") == "establishing", 30, "c1 establishing")
    finally:
        stop(proc)
    before = held_quis(ports)
    node, (qui,) = next(iter(before.items()))
    remove = f"""<config xmlns="{NC}" xmlns:nc="{NC}"><quantum-fabric xmlns="{QFS}">
      <forwarding-table><entry nc:operation="remove"><qui>{qui}</qui></entry>
      </forwarding-table><qui-table><qui nc:operation="remove"><id>{qui}</id></qui>
      </qui-table></quantum-fabric></config>"""
    with connect(ports[("qfs", node)]) as m:
        m.edit_config(target="running", config=remove)
    with connect(ports[("qfs", "madqci-bob")]) as m:
        m.edit_config(target="running", config=ORPHAN)
    tampered = held_quis(ports)

    result = check_sync(inventory, state)
    assert result.returncode == 1, result.stdout
    assert f"missing     qfs:{node}" in result.stdout
    assert "orphan      qfs:madqci-bob" in result.stdout and "stray.madqci" in result.stdout
    assert held_quis(ports) == tampered, "check-sync changed nothing"

    # a restart reconciles: the orphan is gone and the missing QUI is back
    proc, port = start_orchestrator(inventory, state)
    stop(proc)
    assert held_quis(ports) == before
    assert check_sync(inventory, state).returncode == 0
