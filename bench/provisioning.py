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

Then scale (``bench/scale.py``): throughput of 100 concurrent requests on a 20-node
mesh (units admitted and allocated per second, p99 latency; goal >= 50 units/s), and
discovery of a 200-node mesh (seconds from start to topology ready). ``--skip-scale``
leaves them out, ``--only-scale`` runs only them.

    .venv/bin/python bench/provisioning.py [--n 20] [--base-port 18400]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
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
    ap.add_argument("--skip-scale", action="store_true", help="no throughput / discovery")
    ap.add_argument("--only-scale", action="store_true", help="only throughput / discovery")
    ap.add_argument("--requests", type=int, default=100, help="concurrent requests (100)")
    ap.add_argument("--mesh", type=int, default=20, help="nodes of the throughput mesh (20)")
    ap.add_argument("--discovery-nodes", type=int, default=200, help="(200; 0: skip)")
    args = ap.parse_args()
    if not args.only_scale:
        overhead(args)
    if not args.skip_scale:
        throughput(args.mesh, args.requests, args.base_port + 100)
        if args.discovery_nodes:
            discovery(args.discovery_nodes, args.base_port + 200)
    return 0


def overhead(args: argparse.Namespace) -> None:
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


async def _build(config: OrchestratorConfig) -> Orchestrator:
    return Orchestrator(config)


# -- scale: throughput on a 20-node mesh, discovery of a 200-node one -------------------


def mesh_network(n: int, endpoints: int, path: Path) -> Path:
    """A ``topologies.mesh`` of ``n`` nodes, written as a network file, with an SS
    element and an application (generous token bucket) on the first ``endpoints``
    nodes: what ``qnms agents --network`` serves and the orchestrator discovers."""
    from qnms.qndt.topologies import mesh

    data = mesh(n, size=400, raw=0.97)
    net = data["qnms-network:network"]
    apps = []
    for node in net["node"][:endpoints]:
        name = node["name"]
        urn = f"urn:bench:{name}"
        node["service-stratum"] = {
            "kme-id": f"kme-{name}",
            "endpoints": {"endpoint": [{"urn": urn, "application": f"app-{name}"}]},
        }
        apps.append({"name": f"app-{name}", "endpoint": urn, "attached-to": name,
                     "allowed-service-type": ["qnms-types:bipartite-entanglement"],
                     "token-bucket": {"rate": "1000", "burst": 1000}})  # fmt: skip
    net["application"] = apps
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@contextlib.contextmanager
def agents_on(network_file: Path, base_port: int, tmp: str):
    """``qnms agents`` for ``network_file`` in a child process, until they are all up."""
    agents = subprocess.Popen(
        [str(ROOT / ".venv/bin/qnms"), "agents", "--network", str(network_file),
         "--base-port", str(base_port), "--state-dir", f"{tmp}/agents",
         "--user", USER, "--password", PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in agents.stderr or ():
            if " up in " in line:
                break
        yield
    finally:
        agents.terminate()
        agents.wait(30)


def started(network_file: Path, base_port: int, tmp: str, bg: BackgroundLoop):
    """An in-process orchestrator on the agents; (orchestrator, seconds to start)."""
    network = load_network(network_file)
    config = OrchestratorConfig(
        agents=from_network(network, base_port, username=USER, password=PASSWORD),
        state_dir=Path(tmp) / "orch",
        users={USER: PASSWORD},
        admins=[USER],
        applications=network.applications,
        discovery_wait=120,
    )
    orch = bg.run(_build(config))
    t0 = time.perf_counter()
    bg.run(orch.start(), timeout=300)
    return orch, time.perf_counter() - t0


def throughput(nodes: int, requests: int, base_port: int, clients: int = 20) -> None:
    """``requests`` units between random endpoint pairs, sent at once by ``clients``
    sessions. Admitted: the edit-config answered ``<ok/>`` (admission runs inside
    it); allocated: the unit reached ``establishing`` (all its agents committed)."""
    with tempfile.TemporaryDirectory(prefix="qnms-bench-") as tmp:
        net = mesh_network(nodes, 10, Path(tmp) / "mesh.json")
        urns = [a["endpoint"] for a in load_network(net).applications]
        rng = random.Random(7)
        pairs = [rng.sample(urns, 2) for _ in range(requests)]
        with agents_on(net, base_port, tmp), BackgroundLoop() as bg:
            orch, _ = started(net, base_port, tmp, bg)
            try:
                sessions = [connect(orch.port) for _ in range(clients)]
                sent: dict[str, float] = {}
                answered: dict[str, float] = {}

                def send(i: int) -> None:
                    name, (a, b) = f"tp-{i}", pairs[i]
                    sent[name] = time.perf_counter()
                    sessions[i % clients].edit_config(
                        target="running", config=unit(name).replace(ALICE, a).replace(DAVE, b)
                    )
                    answered[name] = time.perf_counter()

                t0 = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    futures = [pool.submit(send, i) for i in range(requests)]
                    done: dict[str, float] = {}
                    deadline = time.perf_counter() + 120
                    while len(done) < requests and time.perf_counter() < deadline:
                        now = time.perf_counter()
                        for name, rec in list(orch.controller.records.items()):
                            if name not in done and rec.state.value in ("establishing", "failed"):
                                done[name] = now
                        time.sleep(0.001)
                    for f in futures:
                        f.result()
                states = Counter(orch.controller.records[n].state.value for n in done)
                for m in sessions:
                    m.close_session()
            finally:
                bg.run(orch.stop())
    admit_s = max(answered.values()) - t0
    alloc_s = max(done.values()) - t0
    lat = sorted(done[n] - sent[n] for n in done)
    ok = states.get("establishing", 0)
    print(f"throughput: {requests} concurrent requests from {clients} sessions, "
          f"{nodes}-node mesh: {dict(states)}")  # fmt: skip
    print(f"  admitted  {requests / admit_s:6.1f} units/s ({admit_s:.2f} s for all)")
    print(f"  allocated {ok / alloc_s:6.1f} units/s ({alloc_s:.2f} s; goal >= 50 units/s)")
    print(f"  latency edit-config to establishing: median {statistics.median(lat) * 1000:.0f} "
          f"ms, p99 {lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000:.0f} ms")  # fmt: skip


def discovery(nodes: int, base_port: int) -> None:
    """Seconds from the orchestrator's start to its topology ready, ``nodes`` nodes."""
    with tempfile.TemporaryDirectory(prefix="qnms-bench-") as tmp:
        net = mesh_network(nodes, 2, Path(tmp) / "mesh.json")
        t_agents = time.perf_counter()
        with agents_on(net, base_port, tmp), BackgroundLoop() as bg:
            up = time.perf_counter() - t_agents
            orch, took = started(net, base_port, tmp, bg)
            topo = orch.controller.topology
            missing = len(orch.controller.discovery.unreachable)
            bg.run(orch.stop())
    print(f"discovery: {nodes}-node mesh ({len(topo.nodes)} nodes, {len(topo.edges)} links, "
          f"{missing} agent(s) unreachable): topology ready in "
          f"{orch.controller.discovery_seconds:.2f} s, serving after {took:.2f} s "
          f"(with the start-up reconciliation); agents took {up:.1f} s to start")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
