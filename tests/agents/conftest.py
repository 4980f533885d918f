"""Agents of the default network, running on a background loop, and clients for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_support import PASSWORD, USER

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import Network, load_network
from qnms_agents.base import Agent, AgentConfig


@pytest.fixture(scope="session")
def network() -> Network:
    return load_network()


@pytest.fixture
def bg() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


@pytest.fixture
def start_agent(
    bg: BackgroundLoop, tmp_path: Path, network: Network
) -> Iterator[Callable[..., Agent]]:
    started: list[Agent] = []

    def start(stratum: str, name: str, state_dir: Path | None = None) -> Agent:
        config = AgentConfig(
            stratum=stratum,
            name=name,
            state_dir=state_dir or tmp_path / f"{stratum}-{name}",
            users={USER: PASSWORD},
        )
        agent = bg.run(_build(config, network))
        bg.run(agent.start())
        started.append(agent)
        return agent

    yield start
    for agent in started:
        bg.run(agent.stop())


async def _build(config: AgentConfig, network: Network) -> Agent:
    return Agent(config, network)
