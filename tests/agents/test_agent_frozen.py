"""A serving agent process keeps its startup objects out of later collections.

``qnms agent(s)`` freezes what it built before serving (``memory.freeze_startup``): in
one process of 500 agents every full collection otherwise walks ~160,000 long-lived
objects (~150 ms of the loop all of them share). The real command runs in a fresh
interpreter whose ``gc.freeze`` reports when it is called, and how much it froze.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.processes import stop_process

from qnms.network.inventory import DEFAULT_NETWORK

WRAPPER = """
import gc, sys
freeze = gc.freeze
def reporting_freeze():
    freeze()
    print(f"FROZEN {gc.get_freeze_count()}", file=sys.stderr, flush=True)
gc.freeze = reporting_freeze
from qnms.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_qnms_agent_freezes_its_startup_objects_before_it_serves(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", WRAPPER, "agent", "--stratum", "qfs", "--node", "madqci-r1"]
    cmd += ["--port", "0", "--state-dir", str(tmp_path), "--network", str(DEFAULT_NETWORK)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "agent(s) up" in line:
                break
    finally:
        stop_process(proc)
    frozen = [int(line.split()[1]) for line in lines if line.startswith("FROZEN")]
    assert frozen and frozen[0] > 10_000, "".join(lines)[-2000:]  # the schema, the server...
    assert "agent(s) up" in lines[-1]  # frozen before it said it serves
