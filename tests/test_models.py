"""The YANG modules: lint-clean, the node names tools rely on, and generated bindings
that enforce the model (ranges, enumerations, identities, keys)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pyangbind.lib.pybindJSON as pybind_json
import pytest
from pyangbind.lib.serialise import pybindJSONDecoder as pybind_json_decoder

import qnms_bindings.qnms_quantum_fabric as qfs_mod
import qnms_bindings.qnms_service as svc_mod
from qnms.network.inventory import load_network
from qnms.yang.catalog import IETF_DIR, YANG_DIR

REQUIRED_NODES = [
    "service-unit",
    "endpoint",
    "lifecycle",
    "target-fidelity",
    "achieved-fidelity",
    "generation-rate",
    "success-probability",
    "establishment-latency",
    "swapping-depth-cap",
    "coherence-window",
    "time-to-live",
    "qui",
    "nonce",
    "memory",
    "quantum-link",
    "channel",
    "classical-channel",
    "token-bucket",
    "purification",
]


def pyang(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pyang", "-p", str(YANG_DIR), "-p", str(IETF_DIR), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_modules_pass_pyang_strict_lint_without_warnings(yang_files):
    result = pyang("--strict", "--lint", *map(str, yang_files))
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


@pytest.mark.parametrize("node", REQUIRED_NODES)
def test_required_node_names_are_data_nodes(yang_files, node):
    trees = pyang("-f", "tree", *map(str, yang_files[1:-1])).stdout
    rows = [line.split("+--", 1)[1].split() for line in trees.splitlines() if "+--" in line]
    names = {row[1].rstrip("*?!") for row in rows}
    assert node in names


def test_device_modules_share_the_quantum_qos_grouping():
    trees = pyang("-f", "tree", str(YANG_DIR / "qnms-service.yang")).stdout
    assert "+--rw qos" in trees and "+--ro measured" in trees


def fabric() -> qfs_mod.qnms_quantum_fabric:
    return qfs_mod.qnms_quantum_fabric()


def test_binding_rejects_fidelity_above_one():
    mem = fabric().quantum_fabric.memories.memory.add("mem0")
    with pytest.raises(ValueError):
        mem.raw_fidelity = Decimal("1.01")
    mem.raw_fidelity = Decimal("0.95")
    assert mem.raw_fidelity == Decimal("0.95")


def test_binding_rejects_memory_size_zero():
    mem = fabric().quantum_fabric.memories.memory.add("mem0")
    with pytest.raises(ValueError):
        mem.size = 0


def test_binding_rejects_unknown_enumeration_value():
    link = fabric().quantum_fabric.forwarding_table.entry
    entry = link.add("qui-1")
    with pytest.raises(ValueError):
        entry.action = "teleport"
    entry.action = "swap"


def test_binding_rejects_identity_outside_its_base():
    node = fabric().quantum_fabric.node
    with pytest.raises(ValueError):
        node.role = "qnms-types:fibre"
    node.role = "qnms-types:repeater"


def test_binding_rejects_duplicate_list_key():
    units = svc_mod.qnms_service().service_units.service_unit
    units.add("su-1")
    with pytest.raises(KeyError):
        units.add("su-1")


def test_binding_rejects_malformed_urn():
    app = svc_mod.qnms_service().applications.application.add("ccips")
    with pytest.raises(ValueError):
        app.endpoint = "qkd:madqci:ccips"
    app.endpoint = "urn:qkd:madqci:ccips"


def test_node_instance_data_round_trips_json_through_bindings():
    data = load_network().qfs_data("madqci-r1")
    obj = pybind_json_decoder.load_ietf_json(data, None, None, obj=fabric())
    assert json.loads(pybind_json.dumps(obj, mode="ietf")) == data


@pytest.mark.slow
def test_instance_data_round_trips_xml_bindings_json_unchanged():
    from lxml import etree

    from qnms.network.inventory import network_schema
    from qnms.yang.binding_classes import binding_classes
    from qnms.yang.bindings import BindingValidator
    from qnms.yang.codec import json_to_xml

    schema = network_schema()
    data = load_network().data
    xml = json_to_xml(data, schema)
    binder = BindingValidator(schema, binding_classes("qnms_bindings", ["qnms-network"]))
    roots, problems = binder.decode(xml)
    assert problems == []
    as_json = json.loads(pybind_json.dumps(roots["qnms-network"], mode="ietf"))
    assert as_json == data
    assert etree.tostring(json_to_xml(as_json, schema), method="c14n2") == etree.tostring(
        xml, method="c14n2"
    )
