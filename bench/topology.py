"""Topology map latency: from a fault in the twin to the northbound's push-change-update.

On the demo's stack (SeQUeNCe in its own process, the default network's agents
following it, the orchestrator on them), a northbound client (ncclient) holds an
RFC 8641 on-change subscription to ``/nw-s:networks`` (what the web console is fed
with). ``--trials`` times, a fibre is cut in the twin (a ``channel-cut`` fault on the
QNDT bus, as demo_fault does) and, in the same run, two instants are taken:

* orchestrator: the CS agent's push-change-update applied to the orchestrator's
  telemetry replica (the closed loop's input; a listener on ``Telemetry``);
* northbound: the push-change-update that sets the channel's link oper-state down
  received by the subscriber.

Both are measured from the fault request; the script prints p50/p99 of each and of
the difference (what the map adds: coalescing, rebuild, the northbound's push), and
the ratio northbound / orchestrator. The fibre is restored (and its "up" awaited)
before the next trial.

``--load`` (a second part): what the map's extra telemetry costs the closed loop. The
closed loop's QFS subscription now also selects link-level telemetry (rate,
fidelities), and derives its facts from the one agent whose replica changed instead
of from every agent. Three stacks, one after the other, each with one unit
madqci-alice <-> madqci-bob generating pairs (establishing) for ``--window`` seconds:
as before (the old selection, every agent's facts per notification), link telemetry
alone, and this branch. Printed side by side:
notifications the orchestrator received per second, and the event-loop time spent
applying them (replica patch, facts, the closed loop's and the map's listeners).

Run under ``nice``; absolute times move with the load of the machine.

    .venv/bin/python bench/topology.py [--trials 30] [--speed 0.1] [--load] [--window 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ncclient.transport.session
from lxml import etree
from ncclient import manager
from ncclient.xml_ import to_ele

from qnms.app.background import BackgroundLoop
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network
from qnms.orchestrator.southbound import AgentAddress
from qnms.qndt.client import BusClient

ncclient.transport.session.TICK = 0.005
sys.path.insert(0, str(Path(__file__).resolve().parent))
from netconf_agent import connect  # noqa: E402  (a sibling script: Nagle off, STACK-NOTES)
from restoration import ALICE, BOB, unit_xml, wait  # noqa: E402  (a sibling script)

from qnms.orchestrator import telemetry  # noqa: E402

NW = "urn:ietf:params:xml:ns:yang:ietf-network-state"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
SUBSCRIBE = (
    f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
    "<yp:datastore>ds:operational</yp:datastore>"
    f'<yp:datastore-subtree-filter><networks xmlns="{NW}"/></yp:datastore-subtree-filter>'
    "<yp:on-change><yp:dampening-period>0</yp:dampening-period></yp:on-change>"
    "</establish-subscription>"
)


def wait_patch(m: manager.Manager, link_id: str, value: str, timeout: float) -> float:
    """Wall time a push-change-update set ``link_id``'s oper-state to ``value``."""
    key = "link=" + link_id.replace("/", "%2F") + "/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = m.take_notification(block=True, timeout=0.5)
        if n is None:
            continue
        arrived = time.time()
        root = etree.fromstring(n.notification_xml.encode())
        for edit in root.iterfind(f".//{{{YP}}}edit"):
            target = edit.findtext(f"{{{YP}}}target") or ""
            val = edit.find(f"{{{YP}}}value")
            text = "".join(val.itertext()) if val is not None else ""
            if key in target + "/" and target.endswith("oper-state") and text == value:
                return arrived
    raise TimeoutError(f"no push set {link_id} {value}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def busy_stack(window: float, speed: float, full: bool) -> tuple[float, float, float]:
    """One stack with one unit generating pairs: (notifications/s at the orchestrator, loop
    seconds per second applying them, map rebuilds/s) over ``window`` seconds."""
    with tempfile.TemporaryDirectory(prefix="qnms-bench-") as tmp, BackgroundLoop() as bg:
        options = StackOptions(network=load_network(), state_dir=Path(tmp), speed=speed)
        stack = Stack(options)
        bg.run(stack.start(), timeout=300)
        try:
            orch = stack.orchestrator
            assert orch is not None
            ctl, tel = orch.controller, orch.restoration.telemetry
            assert tel is not None
            m = connect(stack.port, username=options.user, password=options.password)
            m.edit_config(target="running", config=unit_xml("busy", ALICE, BOB, 100000))
            # size 100000: it stays establishing, generating pairs, for the whole window
            wait(lambda: bg.call(lambda: ctl.records["busy"].state.value) == "establishing",
                 300, "busy establishing")  # fmt: skip
            merge = telemetry.merge_facts
            if full:  # as before this branch: every agent's facts on every notification
                telemetry.merge_facts = lambda _parts: merge(  # type: ignore[assignment]
                    telemetry.agent_facts(a, r) for a, r in tel.replicas.items()
                )
            spent: list[float] = []
            apply = tel._apply

            def timed(*a: object) -> None:
                t = time.perf_counter()
                try:
                    apply(*a)  # type: ignore[arg-type]
                finally:
                    spent.append(time.perf_counter() - t)

            def counts() -> tuple[int, int]:
                return tel.received, orch.topology.rebuilds

            n0, r0 = bg.call(counts)
            tel._apply = timed  # type: ignore[method-assign]
            time.sleep(window)
            n1, r1 = bg.call(counts)
            tel._apply = apply  # type: ignore[method-assign]
            telemetry.merge_facts = merge
            m.close_session()
        finally:
            bg.run(stack.stop(), timeout=120)
    return (n1 - n0) / window, sum(spent) / window, (r1 - r0) / window


def load(window: float, speed: float) -> None:
    today = telemetry.SELECTIONS["qfs"]
    start = today.index("<telemetry>")
    before = today[:start] + today[today.index("</telemetry>") + len("</telemetry>") :]
    rows = []
    for label, selection, full in (
        ("before (no link telemetry, all facts per notification)", before, True),
        ("link telemetry, all facts per notification", today, True),
        ("this branch (link telemetry, one agent's facts)", today, False),
    ):
        telemetry.SELECTIONS["qfs"] = selection
        rows.append((label, *busy_stack(window, speed, full)))
    telemetry.SELECTIONS["qfs"] = today
    print(f"load: one generating unit for {window:g} s per stack (twin speed {speed:g})")
    for label, rate, busy, rebuilds in rows:
        print(f"  {label}: {rate:.1f} notifications/s at the orchestrator, applying them "
              f"{1000 * busy:.1f} ms of loop time per s, {rebuilds:.1f} map rebuilds/s",
              flush=True)  # fmt: skip
    for label, rate, busy, _r in rows[1:]:
        print(f"  {label} / before: notifications {rate / max(rows[0][1], 1e-9):.2f}x, "
              f"loop time {busy / max(rows[0][2], 1e-9):.2f}x")  # fmt: skip


def cuts(trials: int, speed: float) -> None:
    net = load_network()
    channels = [(c["domain"], c["name"]) for c in net.channels()]
    rows: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="qnms-bench-") as tmp, BackgroundLoop() as bg:
        options = StackOptions(network=net, state_dir=Path(tmp), speed=speed)
        stack = Stack(options)
        bg.run(stack.start(), timeout=300)
        try:
            orch = stack.orchestrator
            assert orch is not None
            seen: dict[str, float] = {}  # channel -> wall time its "down" reached the loop

            def listener(_addr: AgentAddress, arrived: float) -> None:
                tel = orch.restoration.telemetry
                assert tel is not None
                wall = time.time() - (time.monotonic() - arrived)
                for chan, state in tel.facts.channels.items():
                    if state == "down":
                        seen.setdefault(chan, wall)

            def attach() -> None:
                tel = orch.restoration.telemetry
                assert tel is not None
                tel.listeners.append(listener)

            bg.call(attach)
            rebuild_ms: list[float] = []
            build = orch.topology.rebuild

            def timed() -> bool:  # what one rebuild of the map costs, on the loop
                t = time.perf_counter()
                try:
                    return build()
                finally:
                    rebuild_ms.append(1000 * (time.perf_counter() - t))

            orch.topology.rebuild = timed  # type: ignore[method-assign]
            m = connect(stack.port, username=options.user, password=options.password)
            m.dispatch(to_ele(SUBSCRIBE))
            assert m.take_notification(block=True, timeout=30) is not None  # push-update
            twin = BusClient(stack.twin_bind, topics=())
            for i in range(trials):
                domain, chan = channels[i % len(channels)]
                link_id = f"{domain}/{chan}"
                bg.call(lambda c=chan: seen.pop(c, None))
                t0 = time.time()
                twin.request({"type": "fault", "fault": "channel-cut", "channel": chan})
                t_nb = wait_patch(m, link_id, "down", 60)
                t_orch = bg.call(lambda c=chan: seen.get(c))
                assert t_orch is not None, "the orchestrator never saw the cut"
                rows.append((t_orch - t0, t_nb - t0))
                print(f"  trial {i}: cut {link_id}: orchestrator {1000 * (t_orch - t0):.1f} ms,"
                      f" northbound {1000 * (t_nb - t0):.1f} ms", flush=True)  # fmt: skip
                twin.request({"type": "fault", "fault": "channel-restored", "channel": chan})
                wait_patch(m, link_id, "up", 60)
                time.sleep(0.3)
            twin.close()
            counts = bg.call(lambda: (orch.topology.rebuilds, orch.topology.pushes))
            m.close_session()
        finally:
            bg.run(stack.stop(), timeout=120)
    orch_ms = [1000 * o for o, _ in rows]
    nb_ms = [1000 * n for _, n in rows]
    added = [n - o for o, n in zip(orch_ms, nb_ms, strict=True)]
    print(f"topology: {len(rows)} channel cuts in the twin (speed {speed:g}), "
          f"{counts[0]} map rebuilds, {counts[1]} pushed")  # fmt: skip
    for label, xs in (("one map rebuild (on the loop)", rebuild_ms),
                      ("orchestrator (CS push applied)", orch_ms),
                      ("northbound push at the client", nb_ms),
                      ("added by the map", added)):  # fmt: skip
        print(f"  {label}: p50 {pct(xs, 0.5):.1f} ms, p99 {pct(xs, 0.99):.1f} ms, "
              f"mean {statistics.mean(xs):.1f} ms")  # fmt: skip
    print(f"  ratio northbound / orchestrator: p50 {pct(nb_ms, 0.5) / pct(orch_ms, 0.5):.2f}x, "
          f"p99 {pct(nb_ms, 0.99) / pct(orch_ms, 0.99):.2f}x")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--speed", type=float, default=0.1, help="twin speed factor")
    ap.add_argument("--load", action="store_true", help="also the closed loop's extra load")
    ap.add_argument("--window", type=float, default=20.0, help="seconds per stack (--load)")
    args = ap.parse_args()
    if args.load:
        load(args.window, args.speed)
    if args.trials > 0:
        cuts(args.trials, args.speed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
