"""QNDT in real time (issue 14): real-time factor and events per pair, ``full`` vs ``link``.

Real-time factor = simulated seconds / wall seconds of an unpaced run (1.0 = keeps up with
the wall clock); also per CPU second of the run's process, which is what a core of its
own would give when the machine is shared (the wall figure is then distorted). Each
workload runs under both generation models, one after the other in fresh processes
(SeQUeNCe keeps process-global state), with the same network, requests and seed:

* ``demo``: default network, the demo's workload (madqci-alice -> madqci-bob, target 0.8),
  continuous for the whole window;
* ``default x4``: default network, 4 concurrent allocations (one of them inter-domain);
* ``mesh100 x20``: a generated 100-node mesh (topologies.mesh, as the other benches build
  it) with 20 concurrent allocations between random node pairs on their shortest paths.

Every run has telemetry on (0.1 s, as the service) and two memories per hop (the CLI's
default, ``--memories``). The figures are the steady state: each run first simulates a
warm-up window (0.1 s; 0.02 s on the mesh) in which the allocations start (rule loads,
first pairs), not counted, then the measured window (``sim s``, its events and pairs);
``--warmup 1.0`` measures past the default network's coherence time instead, where the
heap's stale memory-expiry events have settled (docs/qndt-realtime.md, third pass: one
run gave 0.74 simulated s per CPU s in the first second, 0.55-0.70 per window after it).
Beside them: the setup, CPU seconds to build the network and accept the allocations
(after the imports), and the warm-up's CPU seconds and events. Then a paced run at speed
1.0 of ``default x4`` under ``link`` (run before the mesh, the longest): the service
itself (``bus.Service.serve``: ticks of at most 20 ms, each running the engine up to the
wall clock's target, then sleeping until the next pending item is due), publishing every
result on its PUB socket. It reports the lag of every event (the wall instant it ran
minus the wall instant of its simulated time): its maximum and 99th percentile over the
run (goal < 50 ms), the service's own lag after a tick, and the run's simulated seconds
per CPU second, publishing included, and the longest garbage-collector pause per
generation, in wall and in process time (``--paced-only``: just that; ``--paced-workload
demo``: the demo's workload instead; ``--paced-subscribe PREFIX``: a subscriber process
on that topic prefix, ``''`` for every result, receiving and decoding what it gets; with
``--before``, the code before runs it too).

``--before DIR`` also runs every workload under ``link`` with the qnms source tree
``DIR/src`` (a checkout of the code before a change, e.g. ``git worktree add --detach
/tmp/base main``), in the same script run, and prints the ratio of CPU per simulated
second (the same engine, network, requests and seed; the event and pair counts show
whether the results changed); ``--repeat N`` makes that N alternating pairs per workload
and prints their median. ``--profile NAME`` prints the cProfile top of one workload
under ``link`` instead (by internal and by cumulative time).

    nice -n 10 .venv/bin/python bench/qndt_realtime.py [--quick] [--paced 60] [--before DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import multiprocessing as mp
import pstats
import statistics
import sys
import tempfile
import time
from typing import Any

from qndt_workloads import engine_for, in_process, workloads


def run(work: dict[str, Any], tier: str, seed: int, src: str | None, out: Any) -> None:
    """One unpaced run: setup (build + allocate), warm-up window, measured window."""
    if src:  # the code before a change (--before): imported from there in this process
        sys.path.insert(0, src)
    import qnms.qndt.batch  # imports are not setup: loaded before the clock
    import qnms.qndt.engine  # noqa: F401

    c0 = time.process_time()
    engine, accepted = engine_for(work, tier, seed)
    setup = time.process_time() - c0
    code = sys.modules["qnms"].__file__
    assert not src or str(code).startswith(src), f"{code} is not under {src}"
    c0, e0 = time.process_time(), engine.tl.run_counter
    engine.run_until(work["warmup"])  # the allocations start: rule loads, first pairs
    warm_cpu, warm_events = time.process_time() - c0, engine.tl.run_counter - e0
    sim0, e0 = engine.now, engine.tl.run_counter
    d0 = sum(a.delivered for a in engine.allocations.values())
    t0, c0 = time.perf_counter(), time.process_time()
    engine.run_until(work["warmup"] + work["duration"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    delivered = sum(a.delivered for a in engine.allocations.values()) - d0
    out.send(
        {
            "sim": engine.now - sim0,
            "wall": wall,
            "cpu": cpu,
            "events": engine.tl.run_counter - e0,
            "delivered": delivered,
            "accepted": accepted,
            "setup": setup,
            "warm_cpu": warm_cpu,
            "warm_events": warm_events,
        }
    )


def drain(addr: str, prefix: str, ready: Any, stop: Any, out: Any) -> None:
    """A subscriber in its own process: receives and decodes results until ``stop``
    (``ready`` once the first probe came through: its subscription is in)."""
    import json

    import zmq

    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1_000_000)
    sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    sub.connect(addr)
    count = 0
    while not stop.is_set() or sub.poll(200):
        if sub.poll(100):
            if json.loads(sub.recv_multipart()[1])["type"] == "probe":
                ready.set()
            else:
                count += 1
    sub.close(0)
    out.send(count)


def run_paced(
    work: dict[str, Any],
    seconds: float,
    speed: float,
    seed: int,
    src: str | None,
    subscribe: str | None,
    out: Any,
) -> None:
    """The service itself (bus.Service.serve) at ``speed`` (the goal: 1.0), publishing
    every result on its PUB socket (an ipc endpoint in a temporary directory, no
    subscriber).

    The lag reported is measured per event: the wall instant at which the engine runs
    it minus the wall instant its simulated time maps to (how late the twin is at that
    moment); also the service's own largest lag after a tick (target minus reached
    simulated time, what it publishes).
    """
    if src:  # the code before a change (--before), as in run()
        sys.path.insert(0, src)
    from sequence.kernel.process import Process

    from qnms.qndt.bus import Service

    engine, _ = engine_for(work, "link", seed)
    assert not src or str(sys.modules["qnms"].__file__).startswith(src)
    late: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(engine, bind=f"ipc://{tmp}/qndt", speed=speed)
        listener = None
        if subscribe is not None:  # a subscriber process, connected before the run starts
            ctx = mp.get_context("spawn")
            ready, stop, (recv, send) = ctx.Event(), ctx.Event(), ctx.Pipe(duplex=False)
            listener = ctx.Process(
                target=drain, args=(service.pub_addr, "qndt.v1." + subscribe, ready, stop, send)
            )
            listener.start()
            while listener.is_alive() and not ready.wait(0.05):  # its subscription is in
                service.publish(subscribe or "engine", {"v": 1, "type": "probe"})
            service.published = service.unwanted = 0
        clock, tl, wall_of = time.monotonic, engine.tl, service.pacer.wall_of
        run = Process.run

        def timed(proc: Any) -> Any:  # ~0.5 us per event, against ~100 us of work
            late.append(clock() - wall_of(tl.time * 1e-12))
            return run(proc)

        pauses: dict[int, float] = {0: 0.0, 1: 0.0, 2: 0.0}  # longest collection per generation
        pauses_cpu: dict[int, float] = {0: 0.0, 1: 0.0, 2: 0.0}  # the same in process time
        began = [0.0, 0.0]
        cpu_clock = time.process_time

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                began[:] = clock(), cpu_clock()
            else:
                gen = info["generation"]
                pauses[gen] = max(pauses[gen], clock() - began[0])
                pauses_cpu[gen] = max(pauses_cpu[gen], cpu_clock() - began[1])

        Process.run = timed  # type: ignore[method-assign]
        gc.callbacks.append(on_gc)
        c0 = time.process_time()
        try:
            service.serve(wall_duration=seconds)
        finally:
            gc.callbacks.remove(on_gc)
            Process.run = run  # type: ignore[method-assign]
            cpu = time.process_time() - c0
            received = -1
            if listener is not None:
                stop.set()
                received = recv.recv()
                listener.join()
            service.close()
    late.sort()
    out.send(
        {
            "max": late[-1] if late else 0.0,
            "p99": late[int(0.99 * (len(late) - 1))] if late else 0.0,
            "events": len(late),
            "tick_max": service.max_lag_wall,
            "sim": engine.now,
            "cpu": cpu,
            "delivered": sum(a.delivered for a in engine.allocations.values()),
            "published": service.published,
            "unwanted": getattr(service, "unwanted", 0),
            "received": received,
            "gc": pauses,
            "gc_cpu": pauses_cpu,
        }
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="half the simulated windows")
    p.add_argument("--paced", type=float, default=60.0, help="wall s of the paced run (0: skip)")
    p.add_argument("--paced-only", action="store_true", help="only the paced run")
    p.add_argument("--paced-workload", default="default", help="demo, default (the goal's)")
    p.add_argument("--speed", type=float, default=1.0, help="of the paced run (the goal: 1.0)")
    p.add_argument(
        "--paced-subscribe",
        metavar="PREFIX",
        help="a subscriber process on this topic prefix during the paced run ('' = all)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        help="simulated s of warm-up for every workload (default 0.1, mesh 0.02; >= 1.0 "
        "measures past the first coherence time, once the heap's stale expiries settled)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--before", metavar="DIR", help="also run link with DIR/src (same run)")
    p.add_argument("--repeat", type=int, default=1, help="before / after pairs (--before)")
    p.add_argument("--profile", metavar="NAME", help="profile a workload: demo, default, mesh100")
    args = p.parse_args()
    if args.profile:
        work = next(w for w in workloads(args.quick) if w["name"].startswith(args.profile))
        in_process(profile, work, args.seed)
        return 0
    print(f"{'workload':<13} {'model':<6} {'sim s':>6} {'wall s':>7} {'RTF':>7} {'cpu s':>7} "
          f"{'RTF cpu':>7} {'events':>8} {'pairs':>6} {'ev/pair':>8}")  # fmt: skip
    if args.paced_only:
        paced(args, args.paced_workload)
        return 0
    works = workloads(args.quick)
    for work in works if args.warmup is not None else []:
        work["warmup"] = args.warmup
    for n, work in enumerate(works):
        if n == len(works) - 1 and args.paced > 0:  # the paced run before the longest one
            paced(args, args.paced_workload)
        res = {}
        runs = [("before", "link", f"{args.before}/src")] if args.before else []
        runs += [("link", "link", None), ("full", "full", None)]
        for label, tier, src in runs:
            r = res[label] = in_process(run, work, tier, args.seed, src)
            per_pair = r["events"] / r["delivered"] if r["delivered"] else float("inf")
            print(
                f"{work['name']:<13} {label:<6} {r['sim']:>6.2f} {r['wall']:>7.2f} "
                f"{r['sim'] / r['wall']:>7.3f} {r['cpu']:>7.2f} {r['sim'] / r['cpu']:>7.3f} "
                f"{r['events']:>8} {r['delivered']:>6} "
                f"{per_pair:>8.1f}   setup {r['setup']:.2f} cpu s, warm-up "
                f"{work['warmup']:.2f} sim s {r['warm_cpu']:.2f} cpu s {r['warm_events']} events",
                flush=True,
            )
        f, k = res["full"], res["link"]
        speedup = (k["sim"] / k["wall"]) / (f["sim"] / f["wall"])
        speedup_cpu = (k["sim"] / k["cpu"]) / (f["sim"] / f["cpu"])
        fewer = (f["events"] / max(1, f["delivered"])) / (k["events"] / max(1, k["delivered"]))
        print(
            f"  {work['name']}: {k['accepted']}/{len(work['requests'])} allocations; link "
            f"real-time factor {k['sim'] / k['wall']:.2f} wall, {k['sim'] / k['cpu']:.2f} CPU "
            f"(goal >= 1.0), {speedup:.1f}x full's ({speedup_cpu:.1f}x by CPU); "
            f"events per pair {fewer:.1f}x fewer (goal >= 10x)",
            flush=True,
        )
        if args.before:
            b = res["before"]
            print(
                f"  {work['name']}: link CPU per simulated second {b['cpu'] / k['cpu']:.2f}x "
                f"lower than before ({b['events']} / {k['events']} events, "
                f"{b['delivered']} / {k['delivered']} pairs); setup (build + allocate) "
                f"{b['setup'] / k['setup']:.2f}x cheaper "
                f"({b['setup']:.2f} / {k['setup']:.2f} cpu s)",
                flush=True,
            )
            if args.repeat > 1:
                repeated(work, args.seed, args.before, args.repeat - 1, b["cpu"] / k["cpu"])
    return 0


def repeated(work: dict[str, Any], seed: int, before: str, pairs: int, first: float) -> None:
    """More before / after pairs of ``link`` runs, alternating which goes first: on a
    shared machine one pair's CPU ratio is noise-prone, the median of several less so.
    Their events and pairs differ where the two codes model the workload differently."""
    ratios = [first]
    for i in range(pairs):
        order = [("before", f"{before}/src"), ("after", None)]
        res = {
            label: in_process(run, work, "link", seed, src)
            for label, src in order[:: -1 if i % 2 == 0 else 1]
        }
        b, a = res["before"], res["after"]  # the same simulated window: CPU s per sim s
        ratios.append(b["cpu"] / a["cpu"])
    ratios.sort()
    print(
        f"  {work['name']}: before / after CPU per simulated second over {len(ratios)} "
        f"alternating pairs: median {statistics.median(ratios):.2f}x "
        f"({', '.join(f'{r:.2f}' for r in ratios)})",
        flush=True,
    )


def profile(work: dict[str, Any], seed: int, out: Any) -> None:
    """cProfile of one link-tier run, top functions by internal and cumulative time."""
    engine, _ = engine_for(work, "link", seed)
    engine.run_until(work["warmup"])  # as the measured runs: the window after the warm-up
    prof = cProfile.Profile()
    prof.runcall(engine.run_until, work["warmup"] + work["duration"])
    pairs = sum(a.delivered for a in engine.allocations.values())
    print(f"{work['name']}: {engine.tl.run_counter} events, {pairs} pairs", flush=True)
    for key in ("tottime", "cumulative"):
        pstats.Stats(prof, stream=sys.stdout).sort_stats(key).print_stats(25)
    out.send({})


def paced(args: argparse.Namespace, name: str) -> None:
    """Print the lag of the paced run of workload ``name`` under ``link`` (and before)."""
    seconds, speed, sub = args.paced, args.speed, args.paced_subscribe
    work = next(w for w in workloads(False) if w["name"].startswith(name))
    runs = [("before", f"{args.before}/src")] if args.before else []
    for label, src in [*runs, ("link", None)]:
        r = in_process(run_paced, work, seconds, speed, args.seed, src, sub)
        print(
            f"paced at speed {speed}, {work['name']}, {label}, {seconds:.0f} s wall: event lag "
            f"max {r['max'] * 1000:.1f} ms, p99 {r['p99'] * 1000:.1f} ms over {r['events']} "
            f"events (goal < 50 ms); service's lag after a tick max "
            f"{r['tick_max'] * 1000:.1f} ms; {r['sim']:.2f} s simulated in {r['cpu']:.2f} cpu "
            f"s (RTF cpu {r['sim'] / r['cpu']:.3f}), {r['delivered']} pairs, "
            f"{r['published']} results published, {r['unwanted']} unsubscribed "
            f"(subscriber {sub!r}: {r['received']} received); longest GC pause by generation "
            f"{', '.join(f'{g}: {t * 1000:.1f} ms' for g, t in sorted(r['gc'].items()))} "
            f"wall, {', '.join(f'{g}: {t * 1000:.1f}' for g, t in sorted(r['gc_cpu'].items()))}"
            " ms CPU",
            flush=True,
        )


if __name__ == "__main__":
    raise SystemExit(main())
