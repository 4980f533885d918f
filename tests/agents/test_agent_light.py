"""Agents stay light: following or driving the twin never loads the simulator.

An agent per node must not pay SeQUeNCe's ~150 MB and 2.5 s import (STACK-NOTES), so
the agent side of the bus imports only qnms.qndt.messages and qnms.qndt.client. Each
check runs a fresh interpreter, because this test process may well have imported
SeQUeNCe already.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import stop_process

from qnms.network.inventory import DEFAULT_NETWORK

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


# What `qnms agent` without --qndt must not load before it listens: the simulator and
# its numerical stack, the twin's bus service and ZeroMQ, and the pyangbind classes of
# its device module (built only when a datastore first needs its objects), and the
# orchestrator's NETCONF client (ncclient: the service commands' handlers).
NOT_AT_START = (
    *HEAVY,
    "zmq",
    "ncclient",
    "qnms.app.service_commands",
    "qnms.qndt.engine",
    "qnms.qndt.bus",
    "qnms_bindings.qnms_quantum_fabric",
)


def imports_until_listening(state: Path, env: dict[str, str] | None = None) -> set[str]:
    """Run the real command, as a user starts it, until it listens; ``-X importtime``
    lists every module it imported by then."""
    cmd = [sys.executable, "-X", "importtime", "-m", "qnms.app.cli", "agent"]
    cmd += ["--stratum", "qfs", "--node", "madqci-r1", "--port", "0"]
    cmd += ["--state-dir", str(state), "--network", str(DEFAULT_NETWORK)]
    state.mkdir(parents=True)
    log = state / "importtime.log"  # a file: a full stderr pipe would block the agent
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        try:
            assert proc.stdout is not None
            listening = any(re.search(r"127\.0\.0\.1:\d+", line) for line in proc.stdout)
        finally:
            stop_process(proc)
    err = log.read_text()
    imported = {line.rsplit("|", 1)[1].strip() for line in err.splitlines() if "|" in line}
    assert listening, err[-2000:]
    assert "qnms.netconf.protocol.server" in imported  # the log is what was imported
    return imported


@pytest.mark.slow
def test_qnms_agent_without_qndt_starts_light(tmp_path: Path) -> None:
    imported = imports_until_listening(tmp_path / "state")
    loaded = sorted(m for m in imported for h in NOT_AT_START if m == h or m.startswith(h + "."))
    assert loaded == []


# pyang (its package module too: the cache key reads its ``__init__.py`` as a file for
# the version), its parser and type modules, and the compiler that runs them: what a
# start with a warm schema cache must not need.
COMPILING = (
    "qnms.yang.schema_compile",
    "pyang",
    "pyang.context",
    "pyang.yang_parser",
    "pyang.types",
)


@pytest.mark.slow
def test_qnms_agent_with_a_warm_schema_cache_does_not_compile_yang(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = dict(os.environ, QNMS_CACHE_DIR=str(cache))
    cold = imports_until_listening(tmp_path / "cold", env)
    assert set(COMPILING) <= cold  # an empty cache: compiled, then stored
    # the network file's schema, the protocol state's and the QFS device module's
    assert len(list((cache / "schema").glob("*.pickle"))) == 3
    warm = imports_until_listening(tmp_path / "warm", env)  # a new datastore, seeded again
    assert "qnms.yang.schema_cache" in warm
    assert sorted(set(COMPILING) & warm) == []
