"""Constants and clients shared by the agent tests."""

from __future__ import annotations

import ncclient.transport.session
from ncclient import manager

from qnms_agents.base import Agent

ncclient.transport.session.TICK = 0.005  # STACK-NOTES: 0.1 s polling otherwise

USER, PASSWORD = "admin", "agent-test-pw"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
CS = "urn:qnms:yang:qnms-connectivity"
SS = "urn:qnms:yang:qnms-service-stratum"


def connect(agent: Agent) -> manager.Manager:
    return connect_port(agent.port, USER, PASSWORD)


def connect_port(port: int, user: str, password: str) -> manager.Manager:
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
