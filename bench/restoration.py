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
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import ncclient.transport.session

from qnms.app.background import BackgroundLoop
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network
from qnms.orchestrator.damping import Elements
from qnms.qndt.client import BusClient

ncclient.transport.session.TICK = 0.005
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from restoration_soak import soak  # noqa: E402  (sibling scripts, not a package)
from service_units import (  # noqa: E402
    connect,
    delete_xml,
    unit_xml,
    wait,
)

ALICE, BOB = "urn:qkd:madqci:ccips", "urn:qkd:madqci:teleport"


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
