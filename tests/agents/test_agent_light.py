"""Agents stay light: following or driving the twin never loads the simulator.

An agent per node must not pay SeQUeNCe's ~150 MB and 2.5 s import (STACK-NOTES), so
the agent side of the bus imports only qnms.qndt.messages and qnms.qndt.client. Each
check runs a fresh interpreter, because this test process may well have imported
SeQUeNCe already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sequence", "numpy", "scipy", "qutip", "networkx", "pandas")

SCRIPT = """
import asyncio, json, sys
from pathlib import Path

import qnms.app.cli
from qnms.network.inventory import load_network
from qnms.qndt.client import BusClient
from qnms_agents.base import Agent, AgentConfig
from qnms_agents.qndt_feed import follow_twin

async def main(state: str, qndt: str) -> None:
    qnms.app.cli.build_parser()  # what `qnms agent(s)` builds before serving
    network = load_network()
    agents = [
        Agent(AgentConfig(stratum=s, name="madqci-alice", state_dir=Path(state) / s), network)
        for s in ("qfs", "ss")
    ]
    for agent in agents:
        await agent.start()
    tasks = follow_twin(agents, qndt) if qndt else []
    await asyncio.sleep(0)  # let the feed and head-end tasks start (no wait for arrivals)
    if qndt:
        BusClient(qndt, timeout=0.1).close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for agent in agents:
        await agent.stop()
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[3])))
    print(json.dumps({"heavy": heavy, "driving": bool(tasks)}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("qndt", ["", "tcp://127.0.0.1:1"], ids=["alone", "with-qndt"])
def test_agent_process_never_imports_the_simulator(tmp_path: Path, qndt: str) -> None:
    cmd = [sys.executable, "-c", SCRIPT, str(tmp_path), qndt, json.dumps(HEAVY)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"heavy": [], "driving": bool(qndt)}
