"""Real agents of the default network over SSH on 127.0.0.1, and orchestrators on them.

Everything runs on one background event loop in this process, on free ports, exactly
as separate processes would: the orchestrator reaches the agents only over NETCONF.
Every agent and orchestrator started here is stopped at teardown. ``fleet`` is one
set per test (tests that change or break agents); ``shared_fleet`` one per module
(tests whose requests are refused and so change nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from orch_support import PASSWORD, USER

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import Network, load_network
from qnms.orchestrator.northbound import Orchestrator, OrchestratorConfig
from qnms.orchestrator.southbound import AgentAddress
from qnms_agents.base import Agent
from qnms_agents.runner import network_agents


@dataclass
class Fleet:
    """A background loop, the default network's agents, and orchestrators on them."""

    bg: BackgroundLoop
    root: Path
    network: Network
    agents: dict[str, Agent] = field(default_factory=dict)  # "stratum:name"
    orchestrators: list[Orchestrator] = field(default_factory=list)

    def start_agents(self) -> None:
        for agent in network_agents(
            self.network,
            base_port=0,
            host="127.0.0.1",
            users={USER: PASSWORD},
            authorized_keys=None,
            state_root=self.root / "agents",
        ):
            self.bg.run(agent.start())
            self.agents[f"{agent.config.stratum}:{agent.config.name}"] = agent

    def inventory(self) -> list[AgentAddress]:
        return [
            AgentAddress(a.config.stratum, a.config.name, "127.0.0.1", a.port, USER, PASSWORD)
            for a in self.agents.values()
        ]

    def start_orchestrator(
        self,
        state_dir: Path | None = None,
        inventory: list[AgentAddress] | None = None,
        **options: Any,
    ) -> Orchestrator:
        inventory = inventory if inventory is not None else self.inventory()
        options.setdefault("users", {USER: PASSWORD})
        config = OrchestratorConfig(
            agents=inventory,
            state_dir=state_dir or self.root / "orchestrator",
            applications=self.network.applications,
            **options,
        )
        orch = self.bg.run(_build(config))
        self.bg.run(orch.start())
        self.orchestrators.append(orch)
        return orch

    def stop_orchestrator(self, orch: Orchestrator) -> None:
        if orch in self.orchestrators:
            self.orchestrators.remove(orch)
            self.bg.run(orch.stop())

    def stop_agent(self, key: str) -> None:
        agent = self.agents.pop(key)
        self.bg.run(agent.stop())

    def close(self) -> None:
        for orch in list(self.orchestrators):
            self.stop_orchestrator(orch)
        for agent in reversed(list(self.agents.values())):
            self.bg.run(agent.stop())
        self.agents.clear()


async def _build(config: OrchestratorConfig) -> Orchestrator:
    return Orchestrator(config)


@pytest.fixture(scope="session")
def network() -> Network:
    return load_network()


def _fleet(root: Path, network: Network) -> Iterator[Fleet]:
    with BackgroundLoop() as bg:
        fleet = Fleet(bg, root, network)
        try:
            fleet.start_agents()
            yield fleet
        finally:
            fleet.close()


@pytest.fixture
def fleet(tmp_path: Path, network: Network) -> Iterator[Fleet]:
    yield from _fleet(tmp_path, network)


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory, network: Network) -> Iterator[Fleet]:
    yield from _fleet(tmp_path_factory.mktemp("fleet"), network)
