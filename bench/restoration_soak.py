"""Part 2 of the restoration bench: a bounded fault soak, without the twin.

The agents run in this process, the orchestrator as its own ``qnms orchestrator``
process, and the soak plays the twin's bus towards the agents: it delivers pairs to
the endpoints of units whose path is intact and injects faults (channel cut, node
down, low-fidelity pairs) that clear after a random time; the orchestrator is killed
once mid-soak and restarted on its state. See ``restoration`` for what is counted.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lxml import etree
from ncclient import manager
from provisioning import mesh_network  # a sibling script, not a package
from service_units import NS, PASSWORD, USER, connect, delete_xml, unit_xml, units, wait

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import load_network
from qnms_agents.runner import network_agents


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
