"""Restoration: how fast the closed loop brings a unit back, and a bounded fault soak.

Part 1, on the twin (the demo's stack: SeQUeNCe in its own process, the default
network's agents following it, the orchestrator on them), ``--trials`` times:

1. a unit madqci-alice <-> madqci-bob (size ``--size``, target fidelity 0.8) is made
   active; the fibre between the first two nodes of its path is cut in the twin
   (``--fault node-down``: its first interior node goes down instead);
2. restoration time: from the cut requested to the unit active again (the closed
   loop's ``restored`` event, pairs delivered on the new path);
3. detection latency: from the cut to the CS agent's push-change-update applied at the
   orchestrator (its ``element-down`` event);
4. provisioning latency of the same unit on the new path, same run: with the fibre
   still cut, a fresh unit with the same endpoints and QoS is created (admission
   routes around the failed fibre, so it takes the restored unit's path) and timed
   from its edit-config to active (the orchestrator's ``activated`` timestamp);
5. ratio restoration / (detection + provisioning), goal <= 1.5; then both units are
   deleted and the fibre restored.

Part 2, a bounded soak without the twin (``--soak-faults``, default 50, on a
``--soak-nodes`` mesh with ``--soak-units`` units): the agents run in this process,
the orchestrator as its own ``qnms orchestrator`` process, and this script plays the
twin's bus towards the agents exactly as tests/orchestrator/test_restoration.py does:
it delivers pairs to the endpoints of units whose path is intact, and injects faults
(channel cut, node down, memory degradation = low-fidelity pairs on a unit) that clear
after a random time. The orchestrator is killed with SIGKILL once, mid-soak, and
started again on the same state. At the end every fault is cleared and the network
left to settle; then units lost (neither active nor degraded-with-resources-released),
and leaked reservations (QUIs or stores on agents that no unit's path accounts for;
after deleting every unit, anything left on any agent) are counted.

    .venv/bin/python bench/restoration.py [--trials 3] [--fault node-down]
                                          [--soak-faults 50] [--skip-soak] [--skip-ratio]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ncclient.transport.session
from lxml import etree
from ncclient import manager

from qnms.app.background import BackgroundLoop
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network
from qnms.orchestrator.damping import Elements
from qnms.qndt.client import BusClient
from qnms_agents.runner import network_agents

ncclient.transport.session.TICK = 0.005
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from provisioning import mesh_network  # noqa: E402  (a sibling script, not a package)

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
SVC = "urn:qnms:yang:qnms-service"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
SS = "urn:qnms:yang:qnms-service-stratum"
NS = {"s": SVC, "q": QFS, "ss": SS}
ALICE, BOB = "urn:qkd:madqci:ccips", "urn:qkd:madqci:teleport"
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


# -- part 1: restoration time against detection + provisioning, on the twin --------------


def calm(elements: Elements) -> bool:
    """One more down transition would leave every element below the suppress level."""
    now, p = time.monotonic(), elements.params
    return all(elements.penalty(e, now) + p.penalty <= p.suppress for e in elements.states)


FAULTS = {  # --fault: (fault, its repair, the element it takes down)
    "channel-cut": ("channel-cut", "channel-restored", "channel"),
    "node-down": ("node-down", "node-up", "node"),
}


def ratio(trials: int, size: int, speed: float, kind: str = "channel-cut") -> None:
    fault, repair, field = FAULTS[kind]
    net = load_network()
    rows = []
    with tempfile.TemporaryDirectory(prefix="qnms-bench-") as tmp, BackgroundLoop() as bg:
        options = StackOptions(network=net, state_dir=Path(tmp), speed=speed)
        stack = Stack(options)
        bg.run(stack.start(), timeout=300)
        try:
            orch = stack.orchestrator
            assert orch is not None
            ctl = orch.controller
            twin = BusClient(stack.twin_bind, topics=())
            m = connect(stack.port, options.user, options.password)
            elements = orch.restoration.elements
            for i in range(trials):
                name, fresh = f"r{i}", f"p{i}"
                # independent faults: wait until one more cut would not make flap damping
                # hold any element down (a channel cut every few seconds is a flapping one)
                wait(lambda: bg.call(lambda: calm(elements)), 120, "calm")
                m.edit_config(target="running", config=unit_xml(name, ALICE, BOB, size))
                wait(lambda n=name: bg.call(lambda: ctl.records[n].state.value) == "active",
                     300, f"{name} active")  # fmt: skip
                path = [h.node for h in bg.call(lambda n=name: list(ctl.records[n].hops))]
                edge = bg.call(lambda p=path: ctl.topology.edge(p[0], p[1]))
                # the fibre between the first two nodes, or the first interior node
                chan = (edge.channel or edge.link) if field == "channel" else path[1]
                seen = len(bg.call(lambda: list(orch.restoration.events)))
                t0 = time.time()
                twin.request({"type": "fault", "fault": fault, field: chan})

                def event(what: str, subject: str, seen: int = seen):
                    evs = bg.call(lambda: list(orch.restoration.events))[seen:]
                    return next((e for e in evs if e.what == what and e.subject == subject), None)

                restored = wait(lambda n=name: event("restored", n), 300, f"{name} restored")
                down = event("element-down", f"{field}:{chan}")
                new_path = [h.node for h in bg.call(lambda n=name: list(ctl.records[n].hops))]
                t1 = time.time()
                m.edit_config(target="running", config=unit_xml(fresh, ALICE, BOB, size))
                wait(lambda n=fresh: bg.call(lambda: ctl.records[n].state.value) == "active",
                     300, f"{fresh} active")  # fmt: skip
                activated = bg.call(lambda n=fresh: ctl.records[n].timestamps["activated"])
                fresh_path = [h.node for h in bg.call(lambda n=fresh: list(ctl.records[n].hops))]
                act = datetime.strptime(activated, "%Y-%m-%dT%H:%M:%S.%fZ")
                act_wall = act.replace(tzinfo=UTC).timestamp()
                row = {
                    "restoration": restored.wall - t0,
                    "detection": (down.wall - t0) if down else float("nan"),
                    "provisioning": act_wall - t1,
                    "same_path": fresh_path == new_path,
                    "path": "-".join(path),
                    "new_path": "-".join(new_path),
                }
                rows.append(row)
                print(f"  trial {i}: {fault} {chan}: {row['path']} -> {row['new_path']}; "
                      f"restoration {row['restoration']:.2f} s, detection "
                      f"{row['detection'] * 1000:.0f} ms, provisioning on the new path "
                      f"{row['provisioning']:.2f} s (fresh unit on {'-'.join(fresh_path)})",
                      flush=True)  # fmt: skip
                for n in (name, fresh):
                    m.edit_config(target="running", config=delete_xml(n))
                pair = (name, fresh)
                wait(lambda p=pair: not bg.call(lambda: [n for n in ctl.records if n in p]),
                     60, "deleted")  # fmt: skip
                twin.request({"type": "fault", "fault": repair, field: chan})
                time.sleep(1.0)
            m.close_session()
            twin.close()
        finally:
            bg.run(stack.stop(), timeout=120)
    rs = [r["restoration"] / (r["detection"] + r["provisioning"]) for r in rows]
    restoration = statistics.median(r["restoration"] for r in rows)
    print(f"restoration: {trials} {fault} fault(s) on the default network, twin speed "
          f"{speed:g}, size {size}: median restoration {restoration:.2f} s, "
          f"detection {statistics.median(r['detection'] for r in rows) * 1000:.0f} ms, "
          f"provisioning on the new path "
          f"{statistics.median(r['provisioning'] for r in rows):.2f} s")  # fmt: skip
    print(f"  ratio restoration / (detection + provisioning): median {statistics.median(rs):.2f}x"
          f" (per trial {', '.join(f'{x:.2f}' for x in rs)}; goal <= 1.5x)")  # fmt: skip


# -- part 2: the soak, without the twin ---------------------------------------------------


class Soak:
    """Agents in this process (their bus played by the soak), the orchestrator a child."""

    def __init__(self, tmp: Path, nodes: int, bg: BackgroundLoop) -> None:
        self.tmp, self.bg = tmp, bg
        self.net_file = mesh_network(nodes, 10, tmp / "mesh.json")
        self.network = load_network(self.net_file)
        self.agents = {}
        for agent in network_agents(self.network, base_port=0, host="127.0.0.1",
                                    users={USER: PASSWORD}, authorized_keys=None,
                                    state_root=tmp / "agents",
                                    nacm_groups={"admin": [USER]}):  # fmt: skip
            bg.run(agent.start())
            self.agents[f"{agent.config.stratum}:{agent.config.name}"] = agent
        rows = [{"stratum": a.config.stratum, "name": a.config.name, "host": "127.0.0.1",
                 "port": a.port, "username": USER, "password": PASSWORD}
                for a in self.agents.values()]  # fmt: skip
        self.inventory = tmp / "inventory.json"
        self.inventory.write_text(json.dumps(rows), encoding="utf-8")
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.cut: set[str] = set()  # channels
        self.down: set[str] = set()  # nodes
        self.channel_of: dict[frozenset[str], str] = {}
        for ch in self.network.domains[0]["connectivity"]["channels"]["channel"]:
            self.channel_of[frozenset((ch["node-a"], ch["node-b"]))] = ch["name"]
        self.node_of = {a["endpoint"]: a["attached-to"] for a in self.network.applications}

    def start_orchestrator(self) -> None:
        cmd = [sys.executable, "-m", "qnms.app.cli", "orchestrator", "--network",
               str(self.net_file), "--agents", str(self.inventory), "--state-dir",
               str(self.tmp / "orch"), "--user", USER, "--password", PASSWORD, "--wait", "10",
               "--port", "0"]  # fmt: skip
        log = (self.tmp / "orchestrator.log").open("a", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.match(r"orchestrator\s+127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                return
        raise RuntimeError("the orchestrator did not start")

    def kill_orchestrator(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        for agent in reversed(list(self.agents.values())):
            self.bg.run(agent.stop())

    def bus(self, key: str, msg: dict[str, Any]) -> None:
        agent = self.agents[key]

        def deliver() -> None:
            if agent.live.apply(msg):
                agent.state_changed()

        self.bg.call(deliver)

    def channel(self, name: str, cut: bool) -> None:
        (self.cut.add if cut else self.cut.discard)(name)
        fault = "channel-cut" if cut else "channel-restored"
        self.bus("cs:test", {"type": "fault", "fault": fault, "channel": name})

    def node(self, name: str, down: bool) -> None:
        (self.down.add if down else self.down.discard)(name)
        self.bus(f"qfs:{name}", {"type": "node-telemetry", "oper-state": "down" if down else "up"})

    def intact(self, path: list[str]) -> bool:
        hops = {self.channel_of.get(frozenset(p)) for p in itertools.pairwise(path)}
        return not (set(path) & self.down) and not (hops & self.cut)

    def deliver(self, name: str, ends: list[str], count: int, fidelity: float) -> None:
        for _ in range(count):
            for node in ends:
                self.bus(f"ss:{node}", {"type": "pair-delivered", "allocation": name,
                                        "endpoints": ends, "fidelity": fidelity})  # fmt: skip

    def play(self, m: manager.Manager, size: int) -> dict[str, etree._Element]:
        """One round of the twin's part: deliver to establishing units on intact paths."""
        found = units(m)
        for name, u in found.items():
            if u.findtext("s:state", namespaces=NS) != "establishing":
                continue
            path = u.xpath("s:path/s:hop/s:node/text()", namespaces=NS)
            ends = [self.node_of[e] for e in u.xpath("s:endpoint/s:urn/text()", namespaces=NS)]
            if path and self.intact(path):
                self.deliver(name, ends, size, 0.95)
        return found

    def held(self) -> dict[str, set[str]]:
        """{agent key: QUIs and stores it holds} (running config of every agent)."""
        out = {}
        for key, agent in self.agents.items():
            if key.startswith("cs:"):
                continue
            data = self.bg.call(lambda a=agent: a.datastores.get_config("running"))
            ids = data.xpath("//q:qui-table/q:qui/q:id/text()", namespaces=NS)
            ids += data.xpath("//ss:service-units/ss:service-unit/ss:name/text()", namespaces=NS)
            out[key] = {str(i).split(".")[0] for i in ids}
        return out


def soak(nodes: int, n_units: int, faults: int, size: int, seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="qnms-soak-") as tmp, BackgroundLoop() as bg:
        s = Soak(Path(tmp), nodes, bg)
        try:
            s.start_orchestrator()
            m = connect(s.port, USER, PASSWORD)
            urns = sorted(s.node_of)
            for i in range(n_units):
                a, b = rng.sample(urns, 2)
                m.edit_config(target="running", config=unit_xml(f"u{i:02d}", a, b, size, 0.7))
            t_active = time.monotonic()
            wait(lambda: all(u.findtext("s:state", namespaces=NS) in ("active", "failed")
                             for u in s.play(m, size).values()), 120, "units active")  # fmt: skip
            start = units(m)
            failed0 = [
                n for n, u in start.items() if u.findtext("s:state", namespaces=NS) != "active"
            ]
            print(f"soak: {nodes}-node mesh, {n_units} units ({n_units - len(failed0)} active in "
                  f"{time.monotonic() - t_active:.1f} s; not admitted: {failed0}), "
                  f"{faults} faults", flush=True)  # fmt: skip
            channels = sorted(set(s.channel_of.values()))
            repeaters = sorted(
                {n for n in (x["name"] for x in s.network.nodes)} - set(s.node_of.values())
            )
            clear_at: list[tuple[float, str, str]] = []
            kinds = {"cut": 0, "node": 0, "memory": 0}
            killed_at = faults // 2
            for f in range(faults):
                now = time.monotonic()
                for item in [c for c in clear_at if c[0] <= now]:
                    clear_at.remove(item)
                    (s.channel if item[1] == "channel" else s.node)(item[2], False)
                roll = rng.random()
                if roll < 0.6:
                    ch = rng.choice(channels)
                    if ch not in s.cut:
                        s.channel(ch, True)
                        clear_at.append((now + rng.uniform(0.5, 3.0), "channel", ch))
                    kinds["cut"] += 1
                elif roll < 0.85:
                    node = rng.choice(repeaters)
                    if node not in s.down:
                        s.node(node, True)
                        clear_at.append((now + rng.uniform(0.5, 3.0), "node", node))
                    kinds["node"] += 1
                else:
                    found = units(m)
                    live = [n for n, u in found.items()
                            if u.findtext("s:state", namespaces=NS) == "active"]  # fmt: skip
                    if live:
                        name = rng.choice(live)
                        ends = [s.node_of[e] for e in found[name].xpath("s:endpoint/s:urn/text()",
                                                                        namespaces=NS)]  # fmt: skip
                        s.deliver(name, ends, 1, 0.5)  # memory degraded: a poor pair
                    kinds["memory"] += 1
                if f == killed_at:
                    m.close_session()
                    s.kill_orchestrator()
                    s.start_orchestrator()
                    m = connect(s.port, USER, PASSWORD)
                    print(f"  fault {f}: orchestrator killed (SIGKILL) and restarted", flush=True)
                end = time.monotonic() + rng.uniform(0.5, 1.5)
                while time.monotonic() < end:
                    s.play(m, size)
                    time.sleep(0.2)
            for _, what, name in clear_at:
                (s.channel if what == "channel" else s.node)(name, False)

            def settled() -> dict[str, etree._Element] | None:
                found = s.play(m, size)
                ok = all(u.findtext("s:state", namespaces=NS) in ("active", "degraded", "failed")
                         for u in found.values())  # fmt: skip
                return found if ok else None

            try:
                final = wait(settled, 120, "settled")
            except TimeoutError:
                final = units(m)
            states: dict[str, list[str]] = {}
            for n, u in final.items():
                states.setdefault(u.findtext("s:state", namespaces=NS) or "?", []).append(n)
            held = s.held()
            lost, leaked = [], []
            for n, u in final.items():
                st = u.findtext("s:state", namespaces=NS)
                path = set(u.xpath("s:path/s:hop/s:node/text()", namespaces=NS))
                holders = {
                    k.partition(":")[2] for k, v in held.items() if n in v and k.startswith("qfs:")
                }
                if st == "active" and n not in failed0:
                    if holders != path:
                        leaked.append(f"{n}: QUIs on {sorted(holders - path)}")
                elif st == "degraded":
                    reason = u.findtext("s:failure-reason", namespaces=NS) or ""
                    if holders or "released" not in reason:
                        lost.append(f"{n}: degraded, {reason!r}, QUIs on {sorted(holders)}")
                elif n not in failed0:
                    lost.append(f"{n}: {st}")
            counts = {k: len(v) for k, v in states.items()}
            actions = {
                leaf: sum(int(u.findtext(f"s:{path}", namespaces=NS) or 0) for u in final.values())
                for leaf, path in (
                    ("re-routes", "restoration/s:counters/s:reroute-count"),
                    ("re-bindings", "rebinding-count"),
                    ("refreshes", "restoration/s:counters/s:refresh-count"),
                )
            }
            print(f"  faults injected: {kinds}; final states {counts}; closed-loop actions "
                  f"{actions}")  # fmt: skip
            print(f"  units lost: {len(lost)} {lost}")
            print(f"  leaked reservations while running: {len(leaked)} {leaked}")
            for n in final:
                m.edit_config(target="running", config=delete_xml(n))
            with contextlib.suppress(TimeoutError):
                wait(lambda: not any(s.held().values()), 60, "released")
            left = {k: sorted(v) for k, v in s.held().items() if v}
            print(f"  after deleting every unit, left on agents: {len(left)} agent(s) {left}")
            print(f"  orchestrator restarts survived: 1 (SIGKILL at fault {killed_at})")
            m.close_session()
        finally:
            s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--size", type=int, default=4, help="pairs per unit (part 1)")
    ap.add_argument("--speed", type=float, default=0.1, help="twin speed (part 1)")
    ap.add_argument("--fault", choices=sorted(FAULTS), default="channel-cut", help="(part 1)")
    ap.add_argument("--skip-ratio", action="store_true")
    ap.add_argument("--skip-soak", action="store_true")
    ap.add_argument("--soak-nodes", type=int, default=20)
    ap.add_argument("--soak-units", type=int, default=20)
    ap.add_argument("--soak-faults", type=int, default=50)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    if not args.skip_ratio:
        ratio(args.trials, args.size, args.speed, args.fault)
    if not args.skip_soak:
        soak(args.soak_nodes, args.soak_units, args.soak_faults, 2, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
