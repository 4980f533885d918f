"""A set of real agents of one network, and orchestrators on them (``Fleet``).

Kept out of conftest.py so that tests can import the type by a module name no other
test directory uses (``from conftest import`` finds whichever conftest was imported
last when several test directories are collected together).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orch_support import PASSWORD, USER

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import Network
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
