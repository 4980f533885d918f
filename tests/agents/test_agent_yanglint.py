"""yanglint, a third-party validator, judges the data our agents return: get-config
must be valid configuration and get valid operational data of the device model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from support.agents import connect

from qnms.yang.catalog import IETF_DIR, STRATUM_MODULES, YANG_DIR

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("yanglint") is None, reason="needs yanglint"),
]

ELEMENTS = [("qfs", "madqci-r1"), ("qfs", "madqci-alice"), ("cs", "madqci"), ("ss", "madqci-bob")]


def yanglint(kind: str, module: str, data: Path) -> subprocess.CompletedProcess[str]:
    files = [YANG_DIR / "qnms-types.yang", YANG_DIR / f"{module}.yang"]
    cmd = ["yanglint", "-p", str(YANG_DIR), "-p", str(IETF_DIR), "-t", kind, *map(str, files)]
    return subprocess.run([*cmd, str(data)], capture_output=True, text=True, timeout=60)


def only_module(data: etree._Element, module: str) -> bytes:
    """The device module's top-level container (get also returns monitoring state)."""
    (top,) = [el for el in data if etree.QName(el).namespace == f"urn:qnms:yang:{module}"]
    return etree.tostring(top)


@pytest.mark.parametrize(("stratum", "name"), ELEMENTS)
def test_get_config_is_valid_configuration(start_agent, tmp_path, stratum, name):
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        data = m.get_config("running").data_ele
    out = tmp_path / "config.xml"
    out.write_bytes(only_module(data, STRATUM_MODULES[stratum]))
    result = yanglint("config", STRATUM_MODULES[stratum], out)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("stratum", "name"), ELEMENTS)
def test_get_is_valid_operational_data(start_agent, tmp_path, stratum, name):
    agent = start_agent(stratum, name)
    with connect(agent) as m:
        data = m.get().data_ele
    module = STRATUM_MODULES[stratum]
    out = tmp_path / "data.xml"
    out.write_bytes(only_module(data, module))
    result = yanglint("data", module, out)
    assert result.returncode == 0, result.stderr
