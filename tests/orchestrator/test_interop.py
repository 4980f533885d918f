"""Interop: netconf-console2, a client qnms did not write, provisions a service unit.

The request is an XML file, exactly what the README shows a user; the orchestrator
answers with a plain ``<ok/>`` and the unit is read back with an XPath ``<get>``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lxml import etree
from orch_fleet import Fleet
from orch_support import NS, PASSWORD, USER, poll, unit_xml

CONSOLE = Path(sys.executable).parent / "netconf-console2"


def console(port: int, *args: str) -> str:
    cmd = [str(CONSOLE), "--host", "127.0.0.1", "--port", str(port), "-u", USER, "-p", PASSWORD]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_netconf_console2_creates_a_service_unit_from_an_xml_file_and_reads_it_back(
    fleet: Fleet, tmp_path: Path
) -> None:
    orch = fleet.start_orchestrator()
    request = tmp_path / "unit.xml"
    # the file holds what goes inside <config>: netconf-console2 adds the wrapper
    (units,) = etree.fromstring(unit_xml("nc2").encode())
    request.write_bytes(etree.tostring(units))
    reply = etree.fromstring(console(orch.port, "--edit-config", str(request)).encode())
    assert reply.tag == "{urn:ietf:params:xml:ns:netconf:base:1.0}ok"

    def read() -> etree._Element | None:
        out = console(orch.port, "--get", "-x", "/service-units")
        unit = etree.fromstring(out.encode()).find(".//s:service-unit[s:name='nc2']", NS)
        state = unit.findtext("s:state", namespaces=NS) if unit is not None else None
        return unit if state in ("establishing", "active") else None

    unit = poll(read, 30, "nc2 established, read by netconf-console2")
    assert unit.findtext("s:originator", namespaces=NS) == "urn:qkd:madqci:ccips"
    assert unit.find("s:path/s:hop", NS) is not None
