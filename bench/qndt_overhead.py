"""QNDT overhead: raw SeQUeNCe versus the engine (pacing off, bus on), same workload.

Runs a 5-node chain and a 20-node mesh with several concurrent requests, once with raw
SeQUeNCe (RouterNetTopo built from the same configuration, RequestApp + RSVP on the
shortest paths) and once through the QNDT engine served on the ZeroMQ bus with a
subscriber draining every result in another process. Each run is a fresh process
(SeQUeNCe keeps process-global state) and the runs are sequential (shared cores).
Prints simulated seconds per wall second for both and their ratio (goal >= 0.9).

    .venv/bin/python bench/qndt_overhead.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from typing import Any

START = 0.01  # simulated s: lets RSVP finish before the window opens


def workloads(quick: bool) -> list[dict[str, Any]]:
    from qnms.qndt.topologies import chain, mesh

    scale = 0.5 if quick else 1.0
    return [
        {
            "name": "chain5",
            "network": chain(5, km=10.0, size=20),
            "requests": [("alice", "bob"), ("r1", "r3")],
            "duration": START + 0.25 * scale,
        },
        {
            "name": "mesh20",
            "network": mesh(20, degree=3, seed=1, size=24),
            "requests": [("n00", "n10"), ("n03", "n15"), ("n07", "n18"), ("n12", "n05")],
            "duration": START + 0.05 * scale,
        },
    ]


def run_raw(work: dict[str, Any], seed: int, out: Any) -> None:
    """Raw SeQUeNCe: same RouterNetTopo config, RequestApp on each initiator."""
    from sequence.app.request_app import RequestApp
    from sequence.topology.router_net_topo import RouterNetTopo

    from qnms.network.model import as_model
    from qnms.qndt.build import sequence_config

    model = as_model(work["network"])
    topo = RouterNetTopo(sequence_config(model, seed))
    tl = topo.get_timeline()
    tl.seed(seed)
    routers = {r.name: r for r in topo.get_nodes_by_type(RouterNetTopo.QUANTUM_ROUTER)}
    apps = {name: RequestApp(r) for name, r in routers.items()}
    tl.init()
    end = int(work["duration"] * 1e12)
    for src, dst in work["requests"]:
        apps[src].start(dst, int(START * 1e12), end, 2, 0.8)
    tl.stop_time = end
    t0, c0 = time.perf_counter(), time.process_time()
    tl.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    delivered = sum(a.memory_counter for a in apps.values())
    out.send(
        {
            "sim": tl.now() / 1e12,
            "wall": wall,
            "cpu": cpu,
            "events": tl.run_counter,
            "delivered": delivered,
        }
    )


def _drain(bind: str, ready: Any, out: Any) -> None:
    from qnms.qndt.client import BusClient

    client = BusClient(bind)
    ready.set()
    count = 0
    idle = 0.0
    while idle < 2.0:
        got = client.results(wait=0.2)
        count += len(got)
        idle = 0.0 if got else idle + 0.2
    client.close()
    out.send(count)


def run_engine(work: dict[str, Any], seed: int, out: Any) -> None:
    """The QNDT engine served on the bus, unpaced, with a draining subscriber."""
    from qnms.qndt.batch import shortest_path
    from qnms.qndt.bus import Service
    from qnms.qndt.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        bind = f"ipc://{tmp}/qndt"
        engine = Engine(work["network"], seed=seed, telemetry_period=0.01)
        service = Service(engine, bind=bind, speed=None, tick=0.05)
        ctx = mp.get_context("spawn")
        ready, (rx, tx) = ctx.Event(), ctx.Pipe(duplex=False)
        drain = ctx.Process(target=_drain, args=(bind, ready, tx))
        drain.start()
        ready.wait(30)
        time.sleep(0.5)  # slow-joiner: let the subscription reach the PUB socket
        accepted = 0
        for i, (src, dst) in enumerate(work["requests"]):
            reply = engine.handle(
                {
                    "type": "allocate",
                    "allocation": f"a{i}",
                    "path": shortest_path(engine.model, src, dst),
                    "memories": 2,
                    "target-fidelity": 0.8,
                    "start": START,
                    "end": work["duration"],
                }
            )
            accepted += bool(reply["ok"])  # a full node refuses (capacity runs)
        t0, c0 = time.perf_counter(), time.process_time()
        service.serve(until_sim=work["duration"])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        delivered = sum(a.delivered for a in engine.allocations.values())
        published = service.published
        service.close()
        received = rx.recv() if rx.poll(30) else -1
        drain.join(10)
    out.send(
        {
            "sim": engine.now,
            "wall": wall,
            "cpu": cpu,
            "accepted": accepted,
            "events": engine.tl.run_counter,
            "delivered": delivered,
            "published": published,
            "received": received,
        }
    )


def in_process(target: Any, work: dict[str, Any], seed: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    rx, tx = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(work, seed, tx))
    proc.start()
    while not rx.poll(1.0):
        if not proc.is_alive():
            raise RuntimeError(f"{target.__name__} died with exit code {proc.exitcode}")
    result = rx.recv()
    proc.join()
    return result


def capacity_workload(n: int) -> dict[str, Any]:
    """Mesh of ``n`` nodes with n/5 concurrent requests between ring-opposite nodes."""
    from qnms.qndt.topologies import mesh

    names = [f"n{i:02d}" for i in range(n)]
    reqs = [(names[i], names[(i + n // 2) % n]) for i in range(0, n, 5)]
    return {
        "name": f"mesh{n}",
        "network": mesh(n, degree=3, seed=1, size=24),
        "requests": reqs,
        "duration": START + 0.01,
    }


def run_paced(
    work: dict[str, Any], seed: int, out: Any, speed: float = 0.01, wall: float = 10.0
) -> None:
    """Serve ``work`` paced at ``speed`` for ``wall`` seconds; report the worst lag."""
    from qnms.qndt.batch import shortest_path
    from qnms.qndt.bus import Service
    from qnms.qndt.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(work["network"], seed=seed, telemetry_period=0.01)
        service = Service(engine, bind=f"ipc://{tmp}/qndt", speed=speed)
        for i, (src, dst) in enumerate(work["requests"]):
            engine.handle(
                {
                    "type": "allocate",
                    "allocation": f"a{i}",
                    "path": shortest_path(engine.model, src, dst),
                    "memories": 2,
                    "target-fidelity": 0.8,
                    "start": 0.0,
                    "end": 1000.0,
                }
            )
        service.serve(wall_duration=wall)
        _lag, lag_wall = service.pacer.lag(engine.now)
        service.close()
    out.send(
        {
            "max_lag_wall": service.max_lag_wall,
            "final_lag_wall": lag_wall,
            "sim": engine.now,
            "events": engine.tl.run_counter,
        }
    )


def capacity(seed: int, sizes: tuple[int, ...] = (20, 40, 80, 160)) -> None:
    """Largest mesh kept at speed 0.01: unpaced rate first, then a paced check."""
    best = None
    for n in sizes:
        work = capacity_workload(n)
        eng = in_process(run_engine, work, seed)
        rate = eng["sim"] / eng["wall"]
        print(
            f"mesh{n} ({eng['accepted']}/{len(work['requests'])} requests accepted): "
            f"{rate:.4f} sim-s/wall-s unpaced"
        )
        if rate < 0.01:
            break
        best = work
    if best is None:
        print("no mesh size keeps speed 0.01")
        return
    paced = in_process(run_paced, best, seed)
    print(
        f"{best['name']} paced at 0.01 for 10 s wall: {paced['sim']:.4f} s simulated, "
        f"worst lag {paced['max_lag_wall']:.3f} s wall, final lag "
        f"{paced['final_lag_wall']:.3f} s wall"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="half the simulated duration")
    ap.add_argument("--repeat", type=int, default=1, help="alternate raw/engine runs N times")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--capacity",
        action="store_true",
        help="also find the largest mesh the engine keeps at speed 0.01",
    )
    ns = ap.parse_args()
    ratios, event_ratios, cpu_ratios = [], [], []
    for work in workloads(ns.quick):
        raw_runs, eng_runs = [], []
        for _ in range(ns.repeat):  # alternate, so background load hits both alike
            raw_runs.append(in_process(run_raw, work, ns.seed))
            eng_runs.append(in_process(run_engine, work, ns.seed))
        # best of N: the run least disturbed by other processes on the shared cores
        r = max(x["sim"] / x["wall"] for x in raw_runs)
        e = max(x["sim"] / x["wall"] for x in eng_runs)
        r_ev = max(x["events"] / x["wall"] for x in raw_runs)
        e_ev = max(x["events"] / x["wall"] for x in eng_runs)
        r_cpu = max(x["sim"] / x["cpu"] for x in raw_runs)
        e_cpu = max(x["sim"] / x["cpu"] for x in eng_runs)
        cpu_ratios.append(e_cpu / r_cpu)
        raw, eng = raw_runs[-1], eng_runs[-1]
        ratios.append(e / r)
        event_ratios.append(e_ev / r_ev)
        print(
            f"{work['name']}: raw SeQUeNCe {r:.5f} sim-s/wall-s ({raw['events']} events, "
            f"{raw['delivered']} pairs) | engine+bus {e:.5f} sim-s/wall-s "
            f"({eng['events']} events, {eng['delivered']} pairs, {eng['published']} results "
            f"published, {eng['received']} received) | ratio {e / r:.3f} "
            f"(events/s ratio {e_ev / r_ev:.3f}, sim-s per CPU-s ratio {e_cpu / r_cpu:.3f}, "
            f"best of {ns.repeat})"
        )
    print(
        f"overall ratio (geometric mean) {statistics.geometric_mean(ratios):.3f} "
        f"(events/s {statistics.geometric_mean(event_ratios):.3f}, per CPU-s "
        f"{statistics.geometric_mean(cpu_ratios):.3f}; goal >= 0.9)"
    )
    if ns.capacity:
        capacity(ns.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
