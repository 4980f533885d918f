"""Provisioning overhead: the orchestrator against a bare ncclient script, same edits.

The agents of the default network run in a child process (``qnms agents``), so neither
side shares their GIL. For each of ``--n`` service units between madqci-alice and
quditto-dave (a 4-link, two-domain path: five QFS agents and two SS agents):

1. orchestrator: time from sending the northbound edit-config to the unit reaching
   ``establishing`` (all agents committed), then the unit is deleted (not timed);
2. bare: the same per-agent edits (the orchestrator's dry-run of the same unit) sent by
   a plain ncclient script with already open sessions, lock/edit/commit/unlock on all
   seven agents in parallel threads, then removed (not timed).

It prints both medians and the ratio (goal <= 1.5x, issue 10), then a burst: ``--burst``
units between madqci-alice and madqci-bob created by one edit-config (they share every
agent of their path, so their transactions queue), and the units established per second.

    .venv/bin/python bench/provisioning.py [--n 20] [--base-port 18400]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ncclient.transport.session
from ncclient import manager

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import load_network
from qnms.orchestrator.intent import read_units
from qnms.orchestrator.inventory import from_network
from qnms.orchestrator.northbound import Orchestrator, OrchestratorConfig

ncclient.transport.session.TICK = 0.005
ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bench", "bench-pw"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
SVC = "urn:qnms:yang:qnms-service"
ALICE, DAVE = "urn:qkd:madqci:ccips", "urn:qkd:quditto:sensing"


def unit(name: str, op: str = "") -> str:
    if op == "delete":
        body = f'<service-unit xmlns:nc="{NC}" nc:operation="delete"><name>{name}</name>'
    else:
        body = (
            f"<service-unit><name>{name}</name><service-type>qt:bipartite-entanglement"
            f"</service-type><originator>{ALICE}</originator><endpoint><urn>{ALICE}</urn>"
            f"</endpoint><endpoint><urn>{DAVE}</urn></endpoint><lifecycle><size>10</size>"
            f"<valid-until>{int(time.time()) + 3600}</valid-until></lifecycle>"
            "<qos><target-fidelity>0.7</target-fidelity></qos>"
        )
    return (
        f'<config xmlns="{NC}"><service-units xmlns="{SVC}" '
        f'xmlns:qt="urn:qnms:yang:qnms-types">{body}</service-unit></service-units></config>'
    )


def connect(port: int) -> manager.Manager:
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username=USER,
        password=PASSWORD,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
    )


def orchestrated(orch: Orchestrator, n: int) -> list[float]:
    out = []
    with connect(orch.port) as m:
        for i in range(n):
            name = f"orch-{i}"
            t0 = time.perf_counter()
            m.edit_config(target="running", config=unit(name))
            while (rec := orch.controller.records.get(name)) is None or rec.state.value in (
                "requested",
                "admitted",
            ):
                time.sleep(0.001)
            out.append(time.perf_counter() - t0)
            assert rec.state.value == "establishing", rec.failure_reason
            m.edit_config(target="running", config=unit(name, "delete"))
            while name in orch.controller.records:
                time.sleep(0.005)
    return out


def burst(orch: Orchestrator, count: int) -> float:
    names = [f"burst-{i}" for i in range(count)]
    bob = "urn:qkd:madqci:teleport"
    bodies = "".join(unit(n).replace(DAVE, bob).split("<service-units", 1)[1].split(">", 1)[1]
                     .rsplit("</service-units>", 1)[0] for n in names)  # fmt: skip
    config = unit("x").split("<service-unit>", 1)[0] + bodies + "</service-units></config>"
    with connect(orch.port) as m:
        t0 = time.perf_counter()
        m.edit_config(target="running", config=config)
        while any(
            (r := orch.controller.records.get(n)) is None
            or r.state.value in ("requested", "admitted")
            for n in names
        ):
            time.sleep(0.001)
        took = time.perf_counter() - t0
        states = {orch.controller.records[n].state.value for n in names}
        assert states == {"establishing"}, states
    return took


def bare(orch: Orchestrator, bg: BackgroundLoop, n: int) -> list[float]:
    template = read_units(_data(unit("bare")))["bare"]
    ports = {a.key: a.port for a in orch.config.agents}
    edits = bg.call(lambda: orch.controller.dry_run(template))
    sessions = {k: connect(ports[k]) for k in edits}
    pool = ThreadPoolExecutor(len(sessions))

    def apply(key: str, xml: str) -> None:
        m = sessions[key]
        m.lock("candidate")
        m.edit_config(target="candidate", config=xml)
        m.validate(source="candidate")
        m.commit()
        m.unlock("candidate")

    def remove(key: str, xml: str) -> None:
        sessions[key].edit_config(target="running", config=xml)

    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        list(pool.map(lambda kv: apply(*kv), edits.items()))
        out.append(time.perf_counter() - t0)
        removals = {k: _removal(x) for k, x in edits.items()}
        list(pool.map(lambda kv: remove(*kv), removals.items()))
    for m in sessions.values():
        m.close_session()
    return out


def _data(config: str):
    from lxml import etree

    el = etree.fromstring(config.encode())
    el.tag = f"{{{NC}}}data"
    return el


def _removal(apply_xml: str) -> str:
    """The apply edit with every list entry it creates marked remove (its undo)."""
    from lxml import etree

    root = etree.fromstring(apply_xml.encode())
    for tag in ("qui", "entry", "service-unit"):
        for el in root.iter(f"{{*}}{tag}"):
            if len(el):
                el.set(f"{{{NC}}}operation", "remove")
    return etree.tostring(root).decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--base-port", type=int, default=18400)
    ap.add_argument("--burst", type=int, default=8, help="units in one edit (<= 10)")
    args = ap.parse_args()
    network = load_network()
    with tempfile.TemporaryDirectory(prefix="qnms-bench-") as tmp:
        agents = subprocess.Popen(
            [str(ROOT / ".venv/bin/qnms"), "agents", "--base-port", str(args.base_port),
             "--state-dir", f"{tmp}/agents", "--user", USER, "--password", PASSWORD],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            for line in agents.stderr or ():  # wait for "N agent(s) up in ..."
                if " up in " in line:
                    break
            inventory = from_network(network, args.base_port, username=USER, password=PASSWORD)
            config = OrchestratorConfig(
                agents=inventory,
                state_dir=Path(tmp) / "orch",
                users={USER: PASSWORD},
                applications=network.applications,
                discovery_wait=60,
            )
            with BackgroundLoop() as bg:
                orch = bg.run(_build(config))
                t0 = time.perf_counter()
                bg.run(orch.start(), timeout=90)
                found = orch.controller.topology
                print(f"discovery of {len(inventory)} agents ({len(found.nodes)} nodes, "
                      f"{len(found.edges)} links): {time.perf_counter() - t0:.2f} s")  # fmt: skip
                try:
                    o = orchestrated(orch, args.n)
                    b = bare(orch, bg, args.n)
                    burst_s = burst(orch, args.burst)
                finally:
                    bg.run(orch.stop())
        finally:
            agents.terminate()
            agents.wait(10)
    mo, mb = statistics.median(o), statistics.median(b)
    print(f"orchestrator: edit-config to all 7 agents committed, median {mo * 1000:.1f} ms "
          f"(p90 {sorted(o)[int(0.9 * len(o))] * 1000:.1f} ms)")  # fmt: skip
    print(f"bare ncclient, same edits in parallel:    median {mb * 1000:.1f} ms")
    print(f"ratio {mo / mb:.2f}x (goal <= 1.5x)")
    print(f"burst: {args.burst} units in one edit-config established in {burst_s * 1000:.0f} ms "
          f"({args.burst / burst_s:.1f} units/s, one path, transactions serialised)")  # fmt: skip
    return 0


async def _build(config: OrchestratorConfig) -> Orchestrator:
    return Orchestrator(config)


if __name__ == "__main__":
    sys.exit(main())
