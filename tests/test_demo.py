"""`qnms demo`, the main job: inventory, live agents over NETCONF, QNDT emulation."""

from __future__ import annotations

import re

import pytest

from qnms.app.cli import main


@pytest.mark.slow
def test_demo_runs_the_whole_chain_on_the_default_network(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for heading in ("Quantum Fabric Stratum", "Connectivity Stratum", "Service Stratum"):
        assert heading in out
    assert "inter-domain" in out
    assert len(re.findall(r"^\s+(qfs|ss|cs)\s+\S+\s+127\.0\.0\.1:\d+$", out, re.M)) == 14
    assert "get: mem0 free=18 reserved=2 occupancy=10%" in out
    delivered = re.search(r"(\d+)/10 pairs", out)
    assert delivered and int(delivered.group(1)) > 0
    fidelity = re.search(r"fidelity mean (0\.\d+)", out)
    assert fidelity and float(fidelity.group(1)) >= 0.8
