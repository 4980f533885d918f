"""What the restoration bench's two parts share: qnms-service units over NETCONF.

The edit-config bodies that create and delete a unit, the ncclient connection to an
orchestrator's northbound, its units by name, and the polling wait both parts use.
"""

from __future__ import annotations

import time

from lxml import etree
from ncclient import manager

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
SVC = "urn:qnms:yang:qnms-service"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
SS = "urn:qnms:yang:qnms-service-stratum"
NS = {"s": SVC, "q": QFS, "ss": SS}
USER, PASSWORD = "bench", "bench-pw"


def unit_xml(name: str, a: str, b: str, size: int, target: float = 0.8) -> str:
    return (
        f'<config xmlns="{NC}"><service-units xmlns="{SVC}" '
        f'xmlns:qt="urn:qnms:yang:qnms-types"><service-unit><name>{name}</name>'
        f"<service-type>qt:bipartite-entanglement</service-type><originator>{a}</originator>"
        f"<endpoint><urn>{a}</urn></endpoint><endpoint><urn>{b}</urn></endpoint>"
        f"<lifecycle><size>{size}</size><valid-until>{int(time.time()) + 3600}</valid-until>"
        f"</lifecycle><qos><target-fidelity>{target}</target-fidelity></qos>"
        "</service-unit></service-units></config>"
    )


def delete_xml(name: str) -> str:
    return (
        f'<config xmlns="{NC}" xmlns:nc="{NC}"><service-units xmlns="{SVC}"><service-unit '
        f'nc:operation="delete"><name>{name}</name></service-unit></service-units></config>'
    )


def connect(port: int, user: str, password: str) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username=user, password=password,
                           hostkey_verify=False, allow_agent=False, look_for_keys=False,
                           timeout=30)  # fmt: skip


def units(m: manager.Manager) -> dict[str, etree._Element]:
    data = m.get(filter=("subtree", f'<service-units xmlns="{SVC}"/>')).data_ele
    return {u.findtext("s:name", namespaces=NS): u for u in data.iterfind(".//s:service-unit", NS)}


def wait(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    raise TimeoutError(what)
