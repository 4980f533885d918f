"""The built-in default network and `qnms validate` / `qnms demo`."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest

from qnms.app.cli import main
from qnms.network.inventory import DEFAULT_NETWORK, NetworkError, load_network, validate_network
from qnms.yang.catalog import IETF_DIR, MODULES, YANG_DIR


@pytest.fixture
def data() -> dict:
    return json.loads(DEFAULT_NETWORK.read_text())


def body(d: dict) -> dict:
    return d["qnms-network:network"]


def node(d: dict, name: str) -> dict:
    return next(n for n in body(d)["node"] if n["name"] == name)


def problems_of(d: dict) -> list[str]:
    with pytest.raises(NetworkError) as err:
        validate_network(d)
    return [str(p) for p in err.value.problems]


def test_default_network_loads():
    net = load_network()
    assert net.name == "default"
    assert {d["name"] for d in net.domains} == {"madqci", "quditto"}
    assert len(net.nodes) == 8
    assert {net.role(n) for n in net.nodes} == {"end-node", "repeater"}
    assert len(net.applications) >= 2


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("yanglint") is None, reason="yanglint (libyang2-tools) missing")
def test_default_network_is_valid_for_yanglint():
    files = [str(YANG_DIR / f"{m}.yang") for m in MODULES]
    cmd = ["yanglint", "-p", str(YANG_DIR), "-p", str(IETF_DIR), "-t", "config", *files]
    result = subprocess.run([*cmd, str(DEFAULT_NETWORK)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_default_network_has_realistic_physics():
    net = load_network()
    lengths = [float(ch["length-km"]) for ch in net.channels()]
    assert min(lengths) >= 5 and max(lengths) <= 30
    assert all(ch["attenuation-db-per-km"] == "0.2" for ch in net.channels())
    for n in net.nodes:
        for mem in n["quantum-fabric"]["memories"]["memory"]:
            assert 0.93 <= float(mem["raw-fidelity"]) <= 0.95
            assert 0.5 <= float(mem["coherence-time"]) <= 2
    crossing = [
        ch
        for ch in net.channels()
        if net.node(ch["node-a"])["quantum-fabric"]["node"]["domain"]
        != net.node(ch["node-b"])["quantum-fabric"]["node"]["domain"]
    ]
    assert len(crossing) == 1


def test_fidelity_out_of_range_is_named_with_its_path(data):
    node(data, "madqci-r1")["quantum-fabric"]["memories"]["memory"][0]["raw-fidelity"] = "1.3"
    assert problems_of(data) == [
        "/qnms-network:network/node[name='madqci-r1']/quantum-fabric/memories/"
        "memory[name='mem0']/raw-fidelity: invalid value for raw-fidelity: '1.3' violates "
        "qt:fidelity: decimal64 range 0..1 fraction-digits 6"
    ]


def test_detector_efficiency_out_of_range_is_named_with_its_path(data):
    caps = node(data, "madqci-bob")["quantum-fabric"]["node"]["capabilities"]
    caps["detector-efficiency"] = "1.2"
    assert problems_of(data) == [
        "/qnms-network:network/node[name='madqci-bob']/quantum-fabric/node/capabilities/"
        "detector-efficiency: invalid value for detector-efficiency: '1.2' violates "
        "qt:probability: decimal64 range 0..1 fraction-digits 6"
    ]
    caps["detector-efficiency"] = "0.85"
    assert validate_network(data).node("madqci-bob") is not None


def test_every_problem_is_reported_not_only_the_first(data):
    node(data, "madqci-r1")["quantum-fabric"]["memories"]["memory"][0]["size"] = 0
    node(data, "madqci-bob")["quantum-fabric"]["node"]["role"] = "qnms-types:wizard"
    body(data)["domain"][0]["connectivity"]["channels"]["channel"][0]["colour"] = "blue"
    found = problems_of(data)
    assert len(found) == 3
    assert any("memory[name='mem0']/size" in p for p in found)
    assert any("node[name='madqci-bob']/quantum-fabric/node/role" in p for p in found)
    assert any(p.endswith("/colour: unknown node: not in the model") for p in found)


@pytest.mark.slow
def test_duplicate_node_is_rejected(data):
    body(data)["node"].append(copy.deepcopy(node(data, "madqci-r1")))
    assert problems_of(data) == [
        "/qnms-network:network/node[name='madqci-r1']: duplicate list entry node"
    ]


def test_link_over_a_channel_joining_other_nodes_is_rejected(data):
    link = node(data, "madqci-alice")["quantum-fabric"]["quantum-links"]["quantum-link"][0]
    link["channel"] = "f-r2-bob"
    (problem,) = problems_of(data)
    assert "quantum-link[name='f-alice-r1']/channel" in problem
    assert "joins madqci-r2 and madqci-bob" in problem


def test_link_to_unknown_node_is_rejected(data):
    link = node(data, "madqci-alice")["quantum-fabric"]["quantum-links"]["quantum-link"][0]
    link["remote-node"] = "nowhere"
    assert any("remote-node: no node named 'nowhere'" in p for p in problems_of(data))


def test_per_agent_instance_data_is_the_node_subtree():
    net = load_network()
    qfs = net.qfs_data("madqci-r1")
    assert list(qfs) == ["qnms-quantum-fabric:quantum-fabric"]
    assert qfs["qnms-quantum-fabric:quantum-fabric"]["node"]["id"] == "madqci-r1"
    assert net.ss_data("madqci-r1") is None
    assert net.ss_data("madqci-alice") is not None
    assert "channels" in net.cs_data("madqci")["qnms-connectivity:connectivity"]


@pytest.mark.slow
def test_cli_validate_names_the_bad_node_and_value(tmp_path, data, capsys):
    node(data, "quditto-r2")["quantum-fabric"]["memories"]["memory"][0]["efficiency"] = "2"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    assert main(["validate", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "node[name='quditto-r2']" in err
    assert "efficiency: invalid value for efficiency: '2' violates" in err


def test_cli_validate_reports_json_syntax_errors_with_position(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"qnms-network:network": {"name": }')
    assert main(["validate", str(bad)]) == 1
    assert "line 1 column" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_validate_accepts_the_default_network(capsys):
    assert main(["validate", str(DEFAULT_NETWORK)]) == 0
    assert "valid network 'default' (8 nodes)" in capsys.readouterr().out


@pytest.mark.slow
def test_missing_mandatory_leaf_is_named(data):
    del node(data, "madqci-r1")["quantum-fabric"]["memories"]["memory"][0]["raw-fidelity"]
    (problem,) = problems_of(data)
    assert problem.startswith(
        "/qnms-network:network/node[name='madqci-r1']/quantum-fabric/memories/memory[name='mem0']"
    )
    assert "raw-fidelity" in problem and "missing" in problem


def test_network_without_nodes_is_rejected():
    found = problems_of({"qnms-network:network": {"name": "empty"}})
    assert any(p.startswith("/qnms-network:network/node:") for p in found)


@pytest.mark.slow
def test_link_on_unknown_memory_bank_is_rejected(data):
    link = node(data, "madqci-r1")["quantum-fabric"]["quantum-links"]["quantum-link"][0]
    link["local-memory"] = "mem9"
    assert any("local-memory" in p and "mem9" in p for p in problems_of(data))
