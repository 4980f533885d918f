"""`qnms agent` as a user runs it: a process that keeps committed edits across a
SIGKILL, and refuses to listen beyond loopback without credentials."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support.agents import QFS, connect_port

from qnms.network.inventory import DEFAULT_NETWORK

QNMS = [sys.executable, "-m", "qnms.app.cli"]


@contextmanager
def agent_process(state_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen, int]]:
    cmd = [*QNMS, "agent", "--stratum", "qfs", "--node", "madqci-r2", "--port", "0"]
    cmd += ["--state-dir", str(state_dir), "--user", "admin", "--password", "pw", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = 0
        for line in proc.stdout:
            found = re.search(r"127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, proc.stderr.read()
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


EDIT = f"""<config><quantum-fabric xmlns="{QFS}"><memories><memory>
  <name>mem-added</name><size>4</size><coherence-time>0.5</coherence-time>
  <raw-fidelity>0.9</raw-fidelity></memory></memories></quantum-fabric></config>"""
FLT = (
    f'<quantum-fabric xmlns="{QFS}"><memories><memory><name/></memory></memories></quantum-fabric>'
)


def memory_names(port: int) -> set[str]:
    with connect_port(port, "admin", "pw") as m:
        data = m.get_config("running", filter=("subtree", FLT)).data_ele
    return {e.text for e in data.iter(f"{{{QFS}}}name")}


@pytest.mark.slow
def test_committed_edit_survives_sigkill(tmp_path):
    state = tmp_path / "agent"
    with agent_process(state, "--network", str(DEFAULT_NETWORK)) as (proc, port):
        with connect_port(port, "admin", "pw") as m:
            m.edit_config(target="running", config=EDIT)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with agent_process(state) as (_, port):
        assert memory_names(port) == {"mem0", "mem-added"}


@pytest.mark.slow
def test_sigterm_stops_the_agent_cleanly(tmp_path):
    with agent_process(tmp_path / "agent", "--network", str(DEFAULT_NETWORK)) as (proc, port):
        assert memory_names(port) == {"mem0"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_agent_refuses_other_addresses_without_credentials(tmp_path):
    cmd = [*QNMS, "agent", "--stratum", "cs", "--node", "madqci", "--host", "0.0.0.0"]
    result = subprocess.run(
        [*cmd, "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without credentials" in result.stderr


@pytest.mark.slow
def test_agent_for_unknown_node_names_it(tmp_path):
    cmd = [*QNMS, "agent", "--stratum", "qfs", "--node", "atlantis", "--port", "0"]
    cmd += ["--network", str(DEFAULT_NETWORK), "--state-dir", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no node named 'atlantis'" in result.stderr
