"""One agent's southbound session: kept open, reopened after the agent restarts, and
closed without hanging when the agent is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.processes import PASSWORD, USER, AgentThread, start_agent

from qnms.orchestrator.southbound import AgentAddress, AgentSession, SouthboundError


def node_id(m: object) -> str:
    """The node id the agent's running datastore holds."""
    reply = m.get_config(source="running").data_ele  # type: ignore[attr-defined]
    return reply.findtext(".//{*}node/{*}id")


def _agent_and_session(tmp_path: Path) -> tuple[AgentThread, AgentSession]:
    """A QFS agent and an orchestrator session to it (not opened yet)."""
    agent = start_agent(tmp_path)
    address = AgentAddress("qfs", "madqci-r1", "127.0.0.1", agent.port, USER, PASSWORD)
    return agent, AgentSession(address, timeout=5.0)


def test_the_session_survives_an_agent_restart(tmp_path: Path) -> None:
    agent, session = _agent_and_session(tmp_path)
    try:
        assert session.call("get-config", node_id) == "madqci-r1"
        first = session.manager()
        agent.stop()
        # the same port again, the state the agent left (its running survived the stop)
        agent = start_agent(tmp_path, port=session.address.port)
        assert session.call("get-config", node_id) == "madqci-r1"  # reopened once
        assert session.manager() is not first and first.connected is False
    finally:
        session.close_quietly()
        agent.stop()


def test_a_gone_agent_is_a_southbound_error_and_closing_does_not_hang(tmp_path: Path) -> None:
    agent, session = _agent_and_session(tmp_path)
    try:
        assert session.call("get-config", node_id) == "madqci-r1"
        agent.stop()
        with pytest.raises(SouthboundError) as err:
            session.call("get-config", node_id)
        assert err.value.agent == "qfs:madqci-r1" and err.value.step == "get-config"
        session.close_quietly()  # nothing left to close: returns at once
        session.close_quietly()
    finally:
        agent.stop()
