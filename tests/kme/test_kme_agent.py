"""KMEs on live SS agents: configuration and counts over NETCONF, key bits nowhere in it.

madqci-alice (kme-alice, SAE ccips) and quditto-charlie (kme-charlie, SAE
ipsec-controller) of the default network, with a key-forwarding route and an
application session configured over NETCONF, link key made from pair-delivered results
as the twin publishes them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kme_support import call, sae_client
from lxml import etree

from qnms.app.background import BackgroundLoop
from qnms.app.pki import make_pki
from qnms.network.inventory import load_network
from qnms.yang.catalog import IETF_DIR, YANG_DIR
from qnms_agents.base import Agent, AgentConfig
from qnms_agents.kme.attach import KmeGroup

sys.path.insert(0, str(Path(__file__).parent.parent / "agents"))
from support.agents import PASSWORD, SS, USER, connect

SESSION = f"""<config><service-stratum xmlns="{SS}">
  <sessions><session><id>ccips-s1</id><endpoint>urn:qkd:madqci:ccips</endpoint>
    <token-bucket><rate>0</rate><burst>2</burst></token-bucket></session></sessions>
  <key-forwarding><route><destination>kme-charlie</destination>
    <service-unit>static</service-unit><next-hop>kme-charlie</next-hop></route>
  </key-forwarding>
</service-stratum></config>"""


@pytest.fixture
def kmes(tmp_path: Path) -> Iterator[tuple[BackgroundLoop, list[Agent], KmeGroup, Path]]:
    pki = tmp_path / "pki"
    make_pki(pki, ["kme-alice", "kme-charlie"], ["ccips", "ipsec-controller"])
    net = load_network()

    async def build() -> tuple[list[Agent], KmeGroup]:
        agents = [
            Agent(AgentConfig("ss", n, tmp_path / n, users={USER: PASSWORD}), net)
            for n in ("madqci-alice", "quditto-charlie")
        ]
        for a in agents:
            await a.start()
        group = KmeGroup(agents, pki)
        await group.start()
        return agents, group

    with BackgroundLoop() as bg:
        agents, group = bg.run(build())
        yield bg, agents, group, pki
        bg.run(group.stop())
        for a in agents:
            bg.run(a.stop())


def _deliver_pairs(agents: list[Agent], pairs: int, fidelity: float = 0.98) -> None:
    """What the QNDT feed does with pair-delivered results for both end nodes."""
    for i in range(pairs):
        msg = {
            "type": "pair-delivered",
            "allocation": "qkd-1",
            "pair": i,
            "fidelity": fidelity,
            "endpoints": ["madqci-alice", "quditto-charlie"],
        }
        for a in agents:
            a.live.apply(msg)


def test_token_bucket_rejections_are_counted_and_notified_and_no_key_bit_reaches_netconf(
    kmes: tuple[BackgroundLoop, list[Agent], KmeGroup, Path],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    bg, agents, group, pki = kmes
    alice = agents[0]
    replies: list[str] = []
    with connect(alice) as m:
        m.create_subscription()
        replies.append(m.edit_config(target="running", config=SESSION).xml)

        async def deliver() -> None:
            _deliver_pairs(agents, 12000)  # ~580 secret bytes: 2 chunks
            status = group.peers["kme-alice"] + "/api/v1/keys/ipsec-controller/status"
            async with sae_client(pki, "ccips") as s:
                for _ in range(200):  # until relayed into the end-to-end store
                    _, body = await call(s, "GET", status)
                    if body["stored_key_count"] >= 2:
                        return
                    await asyncio.sleep(0.05)
            raise AssertionError(f"no keys stored: {body}")

        bg.run(deliver())
        url = group.peers["kme-alice"] + "/api/v1/keys/ipsec-controller/enc_keys?size=256"

        async def requests() -> list[tuple[int, dict]]:
            async with sae_client(pki, "ccips") as s:
                return [await call(s, "GET", url) for _ in range(3)]

        results = bg.run(requests())
        assert [r[0] for r in results] == [200, 200, 503], results
        keys = [k for _, body in results[:2] for k in body["keys"]]

        async def fetch() -> tuple[int, dict]:
            dec = group.peers["kme-charlie"] + "/api/v1/keys/ccips/dec_keys"
            async with sae_client(pki, "ipsec-controller") as s:
                return await call(
                    s, "POST", dec, json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]}
                )

        st, dec = bg.run(fetch())
        assert st == 200 and dec["keys"] == keys

        notes = []
        while (note := m.take_notification(timeout=2)) is not None:
            notes.append(note.notification_xml)
        exhausted = [n for n in notes if "token-bucket-exhausted" in n]
        assert len(exhausted) == 1 and "ccips-s1" in exhausted[0]
        replies += notes
        state = m.get(filter=("subtree", f'<service-stratum xmlns="{SS}"/>')).xml
        replies += [state, m.get_config(source="running").xml]
        full = m.get().data_ele
    flat = state.replace(" ", "")
    assert "<rejected-requests>1</rejected-requests>" in flat
    assert "<peer>kme-charlie</peer><qber>0.013333</qber><producing>true</producing>" in flat
    assert "<destination>kme-charlie</destination>" in flat

    if shutil.which("yanglint"):  # the KME state is valid operational data of the model
        (top,) = [el for el in full if etree.QName(el).namespace == SS]
        data = tmp_path / "data.xml"
        data.write_bytes(etree.tostring(top))
        files = [str(YANG_DIR / "qnms-types.yang"), str(YANG_DIR / "qnms-service-stratum.yang")]
        cmd = ["yanglint", "-p", str(YANG_DIR), "-p", str(IETF_DIR), "-t", "data", *files]
        lint = subprocess.run([*cmd, str(data)], capture_output=True, text=True, timeout=60)
        assert lint.returncode == 0, lint.stderr

    logs = [rec.getMessage() for rec in caplog.records]
    assert any("token bucket exhausted" in line for line in logs)
    for k in keys:
        raw = base64.b64decode(k["key"])
        for text in replies + logs:
            assert k["key"] not in text and raw.hex() not in text


def test_a_link_above_the_qber_threshold_says_so_in_netconf_state(
    kmes: tuple[BackgroundLoop, list[Agent], KmeGroup, Path],
) -> None:
    bg, agents, _group, _pki = kmes

    async def deliver() -> None:
        _deliver_pairs(agents, 2000, fidelity=0.8)  # QBER 13.3 %
        await asyncio.sleep(0.2)

    bg.run(deliver())
    with connect(agents[0]) as m:
        state = m.get(filter=("subtree", f'<service-stratum xmlns="{SS}"><kme/></service-stratum>'))
    flat = state.xml.replace(" ", "")
    assert "<qber>0.133333</qber><producing>false</producing><secret-bits>0</secret-bits>" in flat
