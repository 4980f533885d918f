"""`qnms demo`: the whole system on the built-in default network, end to end.

1. the network file is validated against the YANG models and its inventory printed;
2. one NETCONF agent per managed element starts (SSH on loopback, free ports);
3. a NETCONF client (ncclient) reads an agent's capabilities, allocates a QUI with
   edit-config and reads the live state that follows (memory reservations, QUI age);
4. the QNDT engine (SeQUeNCe) emulates entanglement distribution over an explicit
   path of the network and reports what it delivered.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

from qnms.network.inventory import Network
from qnms.network.report import inventory_lines

QFS = "urn:qnms:yang:qnms-quantum-fabric"


def _say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(net: Network, *, emulate: bool = True) -> int:
    _say("Network validated against the qnms YANG models.")
    _say()
    for line in inventory_lines(net):
        _say(line)
    _say()
    with tempfile.TemporaryDirectory(prefix="qnms-demo-") as tmp:
        _agents_step(net, Path(tmp))
    if emulate:
        _emulation_step(net)
    return 0


def _agents_step(net: Network, state_root: Path) -> None:
    import ncclient.transport.session
    from ncclient import manager

    from qnms.app.background import BackgroundLoop
    from qnms_agents.runner import network_agents

    ncclient.transport.session.TICK = 0.005
    password = secrets.token_urlsafe(12)
    _say("NETCONF agents (one per element, SSH on 127.0.0.1)")
    with BackgroundLoop() as bg:
        agents = network_agents(
            net,
            base_port=0,
            host="127.0.0.1",
            users={"demo": password},
            authorized_keys=None,
            state_root=state_root,
            nacm_groups={"admin": ["demo"]},  # RFC 8341: the demo user administers
        )
        started = []
        try:
            for agent in agents:
                bg.run(agent.start())
                started.append(agent)
            for agent in started:
                c = agent.config
                _say(f"  {c.stratum:4} {c.name:16} 127.0.0.1:{agent.port}")
            (r1,) = [
                a for a in started if (a.config.stratum, a.config.name) == ("qfs", "madqci-r1")
            ]
            with manager.connect(
                host="127.0.0.1",
                port=r1.port,
                username="demo",
                password=password,
                hostkey_verify=False,
                allow_agent=False,
                look_for_keys=False,
            ) as m:
                _client_step(m)
        finally:
            for agent in reversed(started):
                bg.run(agent.stop())
    _say()


def _client_step(m) -> None:
    modules = [c for c in m.server_capabilities if "module=qnms" in c]
    _say(f"  madqci-r1 announces {len(list(m.server_capabilities))} capabilities, e.g.")
    _say(f"    {modules[0]}")
    qui = f"""<config><quantum-fabric xmlns="{QFS}"><qui-table><qui>
      <id>demo-su-1.madqci</id><scope>madqci</scope><service-unit>demo-su-1</service-unit>
      <nonce>{secrets.randbelow(10**6)}</nonce><lifecycle><time-to-live>60</time-to-live>
      </lifecycle><local-handle><memory>mem0</memory><index>0</index></local-handle>
      <local-handle><memory>mem0</memory><index>1</index></local-handle>
    </qui></qui-table></quantum-fabric></config>"""
    t0 = time.perf_counter()
    m.edit_config(target="running", config=qui)
    _say(
        f"  edit-config: QUI demo-su-1.madqci bound to 2 qubits of mem0 "
        f"({(time.perf_counter() - t0) * 1000:.1f} ms)"
    )
    time.sleep(0.2)
    flt = f'<quantum-fabric xmlns="{QFS}"><memories/><qui-table/></quantum-fabric>'
    data = m.get(filter=("subtree", flt)).data_ele
    ns = {"q": QFS}
    state = data.find(".//q:memory/q:state", ns)
    _say(
        "  get: mem0 free={} reserved={} occupancy={}%".format(
            *(state.findtext(f"q:{k}", namespaces=ns) for k in ("free", "reserved", "occupancy"))
        )
    )
    q = data.find(".//q:qui", ns)
    _say(
        f"  get: QUI state={q.findtext('q:state', namespaces=ns)} "
        f"age={q.findtext('q:lifecycle/q:age', namespaces=ns)} ms "
        f"expiry={q.findtext('q:lifecycle/q:expiry', namespaces=ns)}"
    )


def _emulation_step(net: Network) -> None:
    from qnms.qndt.batch import BatchRequest, format_report, run_batch

    _say("QNDT: SeQUeNCe emulation of 10 pairs madqci-alice -> madqci-bob (F >= 0.8)")
    report = run_batch(
        net.source,
        1.0,
        [BatchRequest.parse("madqci-alice,madqci-bob,10,0.8")],
        seed=1,
        progress=sys.stderr,
    )
    for line in format_report(report).splitlines():
        _say(f"  {line}")
