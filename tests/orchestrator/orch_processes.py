"""The twin, the agents and the orchestrator as separate processes, as a user runs them.

``python -m qnms.qndt`` on free TCP ports, ``qnms agents --base-port 0`` following it
(ports read from its table), and ``qnms orchestrator`` on an inventory file of those
ports. Every process started here is stopped by the ``ExitStack`` it was given.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from orch_support import PASSWORD, USER
from support.processes import stop_process

from qnms.app.stack import free_port_pair
from qnms.network.inventory import DEFAULT_NETWORK, load_network
from qnms.orchestrator.inventory import network_elements

CLI = [sys.executable, "-m", "qnms.app.cli"]


def start_twin(stack: ExitStack, speed: float = 0.1) -> str:
    bind = f"tcp://127.0.0.1:{free_port_pair()}"
    cmd = [sys.executable, "-m", "qnms.qndt", "--bind", bind, "--speed", str(speed)]
    cmd += ["--seed", "2", "--telemetry-period", "0.05", "--wall-duration", "600"]
    twin = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    stack.callback(stop_process, twin)
    line = twin.stderr.readline() if twin.stderr else ""
    assert "results on" in line, line
    return bind


def start_agents(
    stack: ExitStack, state: Path, qndt: str | None = None, network: Path = DEFAULT_NETWORK
) -> tuple[subprocess.Popen, dict[tuple[str, str], int]]:
    """``qnms agents`` for every element of ``network``; (process, ports by element)."""
    cmd = [*CLI, "agents", "--network", str(network), "--base-port", "0"]
    cmd += ["--state-dir", str(state), "--user", USER, "--password", PASSWORD]
    if qndt:
        cmd += ["--qndt", qndt]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stack.callback(stop_process, proc)
    expected = set(network_elements(load_network(network)))
    ports: dict[tuple[str, str], int] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.match(r"(\w+)\s+(\S+)\s+127\.0\.0\.1:(\d+)", line)
        if found:
            ports[(found.group(1), found.group(2))] = int(found.group(3))
        if set(ports) == expected:
            break
    assert set(ports) == expected, proc.stderr.read() if proc.stderr else ""
    return proc, ports


def write_inventory(path: Path, ports: dict[tuple[str, str], int]) -> Path:
    rows = [
        {
            "stratum": s,
            "name": n,
            "host": "127.0.0.1",
            "port": p,
            "username": USER,
            "password": PASSWORD,
        }
        for (s, n), p in ports.items()
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def orchestrator_cmd(inventory: Path, state: Path, *extra: str) -> list[str]:
    cmd = [*CLI, "orchestrator", "--agents", str(inventory), "--state-dir", str(state)]
    return [*cmd, "--user", USER, "--password", PASSWORD, "--wait", "10", *extra]


def start_orchestrator(inventory: Path, state: Path, timeout: float = 60.0):
    """``qnms orchestrator`` on a free port; (process, northbound port) once it serves.
    Its log goes to ``orchestrator.log`` beside ``state``, appended on every start."""
    state.parent.mkdir(parents=True, exist_ok=True)
    with open(state.parent / "orchestrator.log", "a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            orchestrator_cmd(inventory, state, "--port", "0"),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.match(r"orchestrator\s+127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1))
        if time.monotonic() > deadline:
            break
    stop_process(proc)
    raise AssertionError("the orchestrator did not start serving")
