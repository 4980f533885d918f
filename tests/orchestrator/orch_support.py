"""Clients, request documents and polling shared by the orchestrator tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ncclient.transport.session
from lxml import etree
from ncclient import manager

if TYPE_CHECKING:
    from orch_fleet import Fleet

ncclient.transport.session.TICK = 0.005  # STACK-NOTES: 0.1 s polling otherwise

USER, PASSWORD = "admin", "orch-test-pw"
SVC = "urn:qnms:yang:qnms-service"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
SS = "urn:qnms:yang:qnms-service-stratum"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
ALICE, BOB = "urn:qkd:madqci:ccips", "urn:qkd:madqci:teleport"
NS = {"s": SVC, "q": QFS, "ss": SS}
ROOT = Path(__file__).parents[2]
YANGLINT = shutil.which("yanglint")


def connect(port: int, user: str = USER, password: str = PASSWORD) -> manager.Manager:
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )


def unit_xml(
    name: str = "su1",
    *,
    endpoints: tuple[str, str] = (ALICE, BOB),
    service_type: str = "bipartite-entanglement",
    valid_for: int = 3600,
    qos: str = "<target-fidelity>0.8</target-fidelity>",
    operation: str | None = None,
) -> str:
    op = f' nc:operation="{operation}"' if operation else ""
    eps = "".join(f"<endpoint><urn>{u}</urn></endpoint>" for u in endpoints)
    return f"""<config xmlns="{NC}" xmlns:nc="{NC}"><service-units xmlns="{SVC}"
 xmlns:qt="urn:qnms:yang:qnms-types"><service-unit{op}><name>{name}</name>
 <service-type>qt:{service_type}</service-type><originator>{endpoints[0]}</originator>{eps}
 <lifecycle><size>10</size><valid-until>{int(time.time()) + valid_for}</valid-until></lifecycle>
 <qos>{qos}</qos></service-unit></service-units></config>"""


def delete_xml(name: str) -> str:
    return f"""<config xmlns="{NC}" xmlns:nc="{NC}"><service-units xmlns="{SVC}">
 <service-unit nc:operation="delete"><name>{name}</name></service-unit></service-units></config>"""


def unit_state(m: manager.Manager, name: str) -> etree._Element | None:
    unit = f"<service-unit><name>{name}</name></service-unit>"
    flt = f'<service-units xmlns="{SVC}">{unit}</service-units>'
    data = m.get(filter=("subtree", flt)).data_ele
    return data.find(f".//s:service-unit[s:name='{name}']", NS)


def poll[T](fn: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    """Call ``fn`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def allocations(port: int) -> dict[str, list[str]]:
    """QUI ids, forwarding entries and SS service units in one agent's running config."""
    with connect(port) as m:
        data = m.get_config(source="running").data_ele
    return {
        "qui": data.xpath("//q:qui-table/q:qui/q:id/text()", namespaces=NS),
        "forwarding": data.xpath("//q:forwarding-table/q:entry/q:qui/text()", namespaces=NS),
        "store": data.xpath("//ss:service-units/ss:service-unit/ss:name/text()", namespaces=NS),
    }


def wait_state(m: manager.Manager, name: str, *states: str, timeout: float = 20.0):
    """The unit's state element once it is in one of ``states``."""

    def ready():
        unit = unit_state(m, name)
        if unit is not None and unit.findtext("s:state", namespaces=NS) in states:
            return unit
        return None

    return poll(ready, timeout, f"{name} in {states}")


def path_of(unit: etree._Element) -> list[str]:
    return unit.xpath("s:path/s:hop/s:node/text()", namespaces=NS)


def nothing_allocated(agents: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Every agent's allocations that are not empty (so {} means a clean network);
    ``agents``: {key: agent with a ``port``}, e.g. ``fleet.agents``."""
    found = {k: allocations(a.port) for k, a in agents.items()}
    return {k: v for k, v in found.items() if any(v.values())}


def bus(fleet: Fleet, key: str, msg: dict[str, Any]) -> None:
    """Hand one QNDT result to an agent, as its bus feed would (qndt_feed.py)."""
    agent = fleet.agents[key]

    def deliver() -> None:
        if agent.live.apply(msg):
            agent.state_changed()

    fleet.bg.call(deliver)


def yanglint_data(
    xml: str | bytes, tmp: Path, modules: Sequence[str] = ("qnms-service.yang",)
) -> None:
    """The northbound's state is valid data of ``modules`` (files under yang/ or the
    package's IETF modules; qnms-types comes first), as libyang sees it."""
    if YANGLINT is None:
        return
    doc = tmp / f"state-{time.monotonic_ns()}.xml"
    doc.write_bytes(xml.encode() if isinstance(xml, str) else xml)
    yang, ietf = ROOT / "yang", ROOT / "src" / "qnms" / "yang" / "ietf"
    mods = [yang / "qnms-types.yang"]
    mods += [yang / m if (yang / m).exists() else ietf / m for m in modules]
    cmd = [YANGLINT, "-p", str(yang), "-p", str(ietf), "-t", "data", *map(str, mods), str(doc)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
