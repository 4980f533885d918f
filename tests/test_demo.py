"""`qnms demo`, the main job: the whole system on the default network, and two service
units provisioned over the northbound NETCONF interface until they are active."""

from __future__ import annotations

import json
import re

import pytest

from qnms.app.cli import main


@pytest.mark.slow
def test_demo_provisions_an_intra_and_an_inter_domain_unit_until_both_are_active(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for heading in ("Quantum Fabric Stratum", "Connectivity Stratum", "Service Stratum"):
        assert heading in out
    assert re.search(r"14 NETCONF agents up", out)
    assert "service unit su-intra: active" in out and "service unit su-inter: active" in out
    # the inter-domain unit crosses both domains, with one QUI per domain (seed 5.3.3)
    assert re.search(r"QUIs\s+su-inter\.madqci \(madqci\), su-inter\.quditto \(quditto\)", out)
    for achieved, target in re.findall(r"achieved (0\.\d+), target (0\.\d+)", out):
        assert float(achieved) >= float(target)
    assert re.search(r"delivered\s+10 pairs", out)
    # the fault step: a fibre under su-intra is cut in the twin, the unit re-routed
    assert re.search(r"restoration of su-intra after cutting \S+: active", out)
    assert re.search(r"push-change-update from cs:madqci at the orchestrator", out)
    assert re.search(r"notification: su-intra re-binding: re-route", out)


@pytest.mark.slow
def test_demo_json_lists_each_unit_with_its_identifier_and_path(capsys):
    assert main(["demo", "--json"]) == 0
    units = {u["name"]: u for u in json.loads(capsys.readouterr().out)}
    assert set(units) == {"su-intra", "su-inter"}
    intra = units["su-intra"]
    assert intra["state"] == "active"
    assert intra["path"][0] == "madqci-alice" and intra["path"][-1] == "madqci-bob"
    assert len(intra["identifier"]) == 3  # N+1 URNs for two endpoints (seed 5.3.1)
    assert any(urn.startswith("urn:qkd:lifecycle?=") for urn in intra["identifier"])
