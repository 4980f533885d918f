"""Agents follow the QNDT: what the emulation does shows up in their NETCONF state."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from support.agents import CS, QFS, SS, connect
from support.polling import poll, wait_until

from qnms.qndt.client import BusClient
from qnms_agents.qndt_feed import QndtFeed

pytestmark = pytest.mark.slow  # follows an emulation at half speed

PATH = ["madqci-alice", "madqci-r1", "madqci-bob"]
WAIT = {"timeout": 30.0, "interval": 0.2}  # emulated time runs at half speed: be patient


@pytest.fixture
def qndt(tmp_path: Path) -> Iterator[tuple[str, BusClient]]:
    bind = f"ipc://{tmp_path}/qndt"
    cmd = [sys.executable, "-m", "qnms.qndt", "--bind", bind, "--speed", "0.5", "--seed", "2"]
    cmd += ["--telemetry-period", "0.02", "--wall-duration", "120"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    client = None
    try:
        assert "results on" in proc.stderr.readline()
        client = BusClient(bind)
        yield bind, client
    finally:
        if client is not None:
            client.close()
        proc.kill()
        proc.wait(10)
        proc.stderr.close()


def find(data: etree._Element, ns: str, kind: str, name: str) -> etree._Element:
    for el in data.iter(f"{{{ns}}}{kind}"):
        if el.findtext(f"{{{ns}}}name") == name:
            return el
    raise AssertionError(f"no {kind} {name}")


def test_emulated_generation_swaps_and_deliveries_reach_the_agents(bg, start_agent, qndt):
    bind, client = qndt
    r1 = start_agent("qfs", "madqci-r1")
    alice_ss = start_agent("ss", "madqci-alice")
    domain = start_agent("cs", "madqci")
    feed = bg.call(lambda: QndtFeed([r1, alice_ss, domain], bind))
    feed_task = bg.call(feed.start)
    try:
        # the feed's subscription has reached the engine once periodic telemetry arrives
        assert wait_until(lambda: feed.received > 0, timeout=30), "no QNDT result reached the feed"
        follow_the_emulation(client, r1, alice_ss, domain)
    finally:
        bg.call(feed_task.cancel)


def follow_the_emulation(client: BusClient, r1, alice_ss, domain) -> None:
    reply = client.request(
        {"type": "allocate", "allocation": "su-demo", "path": PATH, "pairs": 5,
         "target-fidelity": 0.8, "duration": 5}
    )  # fmt: skip
    assert reply["ok"], reply

    with connect(r1) as m:
        flt = f'<quantum-fabric xmlns="{QFS}"><node/><quantum-links/></quantum-fabric>'

        def swapped(data: etree._Element) -> bool:
            return int(data.findtext(f".//{{{QFS}}}swaps-succeeded") or 0) > 0

        data = poll(lambda: m.get(filter=("subtree", flt)).data_ele, swapped, **WAIT)
    assert swapped(data)
    link = find(data, QFS, "quantum-link", "f-alice-r1")
    assert int(link.findtext(f"{{{QFS}}}telemetry/{{{QFS}}}successes")) > 0
    assert link.findtext(f"{{{QFS}}}telemetry/{{{QFS}}}loss") == "2.4"

    with connect(alice_ss) as m:
        flt = f'<service-stratum xmlns="{SS}"><service-units/></service-stratum>'
        m.edit_config(
            target="running",
            config=f"""<config><service-stratum xmlns="{SS}"><service-units><service-unit>
              <name>su-demo</name>
              <service-type xmlns:t="urn:qnms:yang:qnms-types"
                >t:bipartite-entanglement</service-type>
              <local-endpoint>urn:qkd:madqci:ccips</local-endpoint>
              </service-unit></service-units></service-stratum></config>""",
        )
        data = poll(
            lambda: m.get(filter=("subtree", flt)).data_ele,
            lambda d: d.findtext(f".//{{{SS}}}delivered-units") not in (None, "0"),
            **WAIT,
        )
    assert int(data.findtext(f".//{{{SS}}}delivered-units")) > 0
    assert float(data.findtext(f".//{{{SS}}}achieved-fidelity")) >= 0.8

    assert client.request({"type": "fault", "fault": "channel-cut", "channel": "f-r2-bob"})["ok"]
    with connect(domain) as m:
        flt = f'<connectivity xmlns="{CS}"><channels/></connectivity>'
        data = poll(
            lambda: m.get(filter=("subtree", flt)).data_ele,
            lambda d: find(d, CS, "channel", "f-r2-bob").findtext(f"{{{CS}}}oper-state") == "down",
            **WAIT,
        )
    assert find(data, CS, "channel", "f-r2-bob").findtext(f"{{{CS}}}oper-state") == "down"
