"""Real agents of the default network over SSH on 127.0.0.1, and an orchestrator on them.

Everything runs on one background event loop in this process, on free ports, exactly
as separate processes would: the orchestrator reaches the agents only over NETCONF.
Every agent and orchestrator started here is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from orch_support import PASSWORD, USER

from qnms.background import BackgroundLoop
from qnms.network.inventory import Network, load_network
from qnms.orchestrator.northbound import Orchestrator, OrchestratorConfig
from qnms.orchestrator.southbound import AgentAddress
from qnms_agents.base import Agent
from qnms_agents.runner import network_agents


@pytest.fixture(scope="session")
def network() -> Network:
    return load_network()


@pytest.fixture
def bg() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


@pytest.fixture
def agents(bg: BackgroundLoop, tmp_path: Path, network: Network) -> Iterator[dict[str, Agent]]:
    """Every agent of the default network, by "stratum:name"."""
    built = network_agents(
        network,
        base_port=0,
        host="127.0.0.1",
        users={USER: PASSWORD},
        authorized_keys=None,
        state_root=tmp_path / "agents",
    )
    started: list[Agent] = []
    try:
        for agent in built:
            bg.run(agent.start())
            started.append(agent)
        yield {f"{a.config.stratum}:{a.config.name}": a for a in started}
    finally:
        for agent in reversed(started):
            bg.run(agent.stop())


@pytest.fixture
def start_orchestrator(
    bg: BackgroundLoop, tmp_path: Path, network: Network, agents: dict[str, Agent]
) -> Iterator[Callable[..., Orchestrator]]:
    running: list[Orchestrator] = []

    def start(state_dir: Path | None = None) -> Orchestrator:
        inventory = [
            AgentAddress(a.config.stratum, a.config.name, "127.0.0.1", a.port, USER, PASSWORD)
            for a in agents.values()
        ]
        config = OrchestratorConfig(
            agents=inventory,
            state_dir=state_dir or tmp_path / "orchestrator",
            users={USER: PASSWORD},
            applications=network.applications,
        )
        orch = bg.run(_build(config))
        bg.run(orch.start())
        running.append(orch)
        return orch

    yield start
    for orch in running:
        stop(bg, orch)


def stop(bg: BackgroundLoop, orch: Orchestrator) -> None:
    if orch.server._acceptor is not None:
        bg.run(orch.stop())


async def _build(config: OrchestratorConfig) -> Orchestrator:
    return Orchestrator(config)
