"""End to end on the twin: one northbound edit-config, and pairs arrive at both ends.

Three processes as a user runs them: the QNDT service, ``qnms agents`` for the default
network following it, and ``qnms orchestrator`` on those agents. The orchestrator
never talks to the twin: the head-end QFS agent drives it because the QUI carries
``path`` and ``generation``, the SS agents count deliveries per service-unit name, and
the orchestrator's monitor reads those counts. Deleting the unit must leave nothing
on any agent and nothing reserved in the twin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from orch_processes import start_agents, start_orchestrator, start_twin, write_inventory
from orch_support import ALICE, BOB, NS, allocations, connect, delete_xml, poll, unit_state
from orch_support import unit_xml as base_unit_xml
from support.processes import stop_process

from qnms.qndt.client import BusClient

SENSING = "urn:qkd:quditto:sensing"


@dataclass
class Stack:
    twin: BusClient
    ports: dict[tuple[str, str], int]
    northbound: int

    def leftovers(self) -> dict[str, dict[str, list[str]]]:
        found = {f"{s}:{n}": allocations(p) for (s, n), p in self.ports.items()}
        return {k: v for k, v in found.items() if any(v.values())}

    def reserved(self) -> dict[str, int]:
        """Memory qubits the twin holds reserved, per node."""
        nodes = self.twin.request({"type": "query", "what": "telemetry"})["telemetry"]["nodes"]
        return {n: sum(b["reserved"] for b in v["memories"].values()) for n, v in nodes.items()}

    def allocation_state(self, unit: str) -> str | None:
        reply = self.twin.request({"type": "query", "what": "allocation", "allocation": unit})
        return reply.get("state") if reply["ok"] else reply["error"]["code"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("e2e")
    with ExitStack() as es:
        bind = start_twin(es)
        _agents, ports = start_agents(es, tmp / "agents", qndt=bind)
        orch, port = start_orchestrator(write_inventory(tmp / "inv.json", ports), tmp / "orch")
        es.callback(stop_process, orch)
        twin = BusClient(bind, topics=())
        es.callback(twin.close)
        yield Stack(twin, ports, port)


def unit_xml(name: str, endpoints: tuple[str, str]) -> str:
    return base_unit_xml(name, endpoints=endpoints, qos="<target-fidelity>0.7</target-fidelity>")


def establish_and_release(stack: Stack, name: str, endpoints: tuple[str, str]) -> None:
    before = stack.reserved()
    with connect(stack.northbound) as m:
        m.edit_config(target="running", config=unit_xml(name, endpoints))

        def active():
            unit = unit_state(m, name)
            state = unit.findtext("s:state", namespaces=NS) if unit is not None else None
            assert state != "failed", unit.findtext("s:failure-reason", namespaces=NS)
            return unit if state == "active" else None

        unit = poll(active, 180, f"{name} active")
        delivered = int(unit.findtext("s:delivery/s:delivered-units", namespaces=NS))
        achieved = float(unit.findtext("s:qos/s:measured/s:achieved-fidelity", namespaces=NS))
        assert delivered >= 10
        assert achieved >= 0.7
        assert unit.findtext("s:timestamps/s:activated", namespaces=NS)
        assert stack.allocation_state(name) in ("active", "completed")  # size pairs made

        m.edit_config(target="running", config=delete_xml(name))
        assert poll(lambda: unit_state(m, name) is None, 30, f"{name} gone") is True
    assert poll(lambda: stack.leftovers() == {}, 30, "no allocation left on any agent")
    # released, or completed (size pairs made, none held): either way nothing reserved
    final = ("released", "completed")
    assert poll(lambda: stack.allocation_state(name) in final, 30, "twin allocation over")
    assert poll(lambda: stack.reserved() == before, 30, "no qubit reserved in the twin")


def test_one_edit_config_makes_an_intra_domain_unit_active_and_delete_releases_all(
    stack: Stack,
) -> None:
    establish_and_release(stack, "alice-bob", (ALICE, BOB))


def test_an_inter_domain_unit_becomes_active_and_is_released_too(stack: Stack) -> None:
    establish_and_release(stack, "alice-dave", (ALICE, SENSING))
