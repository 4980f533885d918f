"""`qnms demo`, the main job: the whole system on the default network, and two service
units provisioned over the northbound NETCONF interface until they are active."""

from __future__ import annotations

import json
import re

import pytest

from qnms.app.cli import main

# the whole main job (start, two units, a fault and its restoration, a key over three
# hops) takes about a minute on a quiet machine; the suite's 120 s would cut it short
# on a loaded one
DEMO_TIMEOUT = pytest.mark.timeout(360)


@pytest.mark.slow
@DEMO_TIMEOUT
def test_demo_provisions_an_intra_and_an_inter_domain_unit_until_both_are_active(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for heading in ("Quantum Fabric Stratum", "Connectivity Stratum", "Service Stratum"):
        assert heading in out
    assert re.search(r"16 NETCONF agents up", out)
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
    # the ending: a key shared across the two domains over trusted nodes (ETSI 014)
    assert "service unit su-keys (qkd-key, ccips -> ipsec-controller): active" in out
    assert re.search(r"path\s+madqci-alice > madqci-r2 > quditto-r1 > quditto-charlie", out)
    assert len(re.findall(r"key ID\s+[0-9a-f-]{36} \(64 bits\)", out)) == 1
    assert "ccips (enc_keys) and ipsec-controller (dec_keys) hold the same key" in out
    qbers = [float(q) for q in re.findall(r"link\s+\S+: QBER (0\.\d+)", out)]
    assert len(qbers) == 3 and all(q < 0.1 for q in qbers)  # per hop: below the threshold
    assert re.search(r"key rate\s+application \d+\.\d+ bit/s, physics", out)


@pytest.mark.slow
@DEMO_TIMEOUT
def test_demo_json_lists_each_unit_with_its_identifier_and_path(capsys):
    assert main(["demo", "--json"]) == 0
    units = {u["name"]: u for u in json.loads(capsys.readouterr().out)}
    assert set(units) == {"su-intra", "su-inter", "su-keys"}
    intra = units["su-intra"]
    assert intra["state"] == "active"
    assert intra["path"][0] == "madqci-alice" and intra["path"][-1] == "madqci-bob"
    assert len(intra["identifier"]) == 3  # N+1 URNs for two endpoints (seed 5.3.1)
    assert any(urn.startswith("urn:qkd:lifecycle?=") for urn in intra["identifier"])
    keys = units["su-keys"]
    assert keys["state"] == "active" and keys["keys"]["same-key"] is True
    assert len(keys["keys"]["key-ids"]) == 1 and len(keys["keys"]["links"]) == 3
    for link in keys["keys"]["links"]:  # QBERs, counts and rates: never key bits
        assert set(link) == {"link", "qber", "producing", "secret-bits", "key-rate"}
        assert link["producing"] and link["qber"] < 0.1
