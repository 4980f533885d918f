"""Many agents in one `qnms agents` process: start time, memory, get round trip under push.

For each size (default 120 and 500 agents), a ``topologies.mesh`` network of that many
elements (one QFS agent per node plus the domain's CS agent) is served by one
``qnms agents`` child process, and measured:

1. start: seconds from spawning the process to its "N agent(s) up" line;
2. memory: the process's RSS once all agents listen and serve a subscription, per
   agent (RSS / N) and, between the two sizes, the marginal cost of one more agent;
3. load: a subscriber process (``--subscriber``, raw asyncssh, base:1.0) establishes
   one RFC 8641 periodic subscription (1 s) on every agent and counts push-updates;
   meanwhile this process sends ``--samples`` get-configs of running, one at a time,
   each to a random agent (the pipelined client of ``netconf_fast.py`` with one
   request in flight), and prints their p50 and p99 round trip.

Goals (issue 13): p99 < 50 ms and < 2 MB per agent at 500 agents.

``--compare DIR`` measures another checkout too (e.g. ``git worktree add --detach
/tmp/base main``), size by size in the same run, with this venv: a before/after table
on one machine under one load. ``--probe-seconds`` caps the get-configs of one size (a
saturated process answers in seconds; the table says how many samples were taken).

    .venv/bin/python bench/agents_scale.py [--sizes 120 500] [--samples 300] [--compare DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from netconf_fast import FastSession  # noqa: E402

from qnms.qndt.topologies import mesh  # noqa: E402

USER, PASSWORD = "admin", "admin-pw"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
SELECT = {  # a small state subtree of each stratum's device model
    "qfs": '<quantum-fabric xmlns="urn:qnms:yang:qnms-quantum-fabric"><node/></quantum-fabric>',
    "cs": '<connectivity xmlns="urn:qnms:yang:qnms-connectivity"><channels/></connectivity>',
    "ss": '<service-stratum xmlns="urn:qnms:yang:qnms-service-stratum"/>',
}
HELLO = (
    f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.0'
    "</capability></capabilities></hello>]]>]]>"
).encode()
GOAL_P99_MS, GOAL_MB = 50.0, 2.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# ------------------------------------------------------------------ the subscriber


async def subscribe(port: int, stratum: str, counts: list[int]) -> None:
    """One session, one periodic subscription; counts push-updates until cancelled."""
    conn = await asyncssh.connect(
        "127.0.0.1", port, username=USER, password=PASSWORD,
        known_hosts=None, client_keys=None, agent_path=None,
    )  # fmt: skip
    try:
        w, r, _ = await conn.open_session(subsystem="netconf", encoding=None)
        w.write(HELLO)
        body = (
            f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
            "<yp:datastore>ds:operational</yp:datastore>"
            f"<yp:datastore-subtree-filter>{SELECT[stratum]}</yp:datastore-subtree-filter>"
            "<yp:periodic><yp:period>100</yp:period></yp:periodic></establish-subscription>"
        )
        w.write(f'<rpc message-id="1" xmlns="{NC}">{body}</rpc>]]>]]>'.encode())
        buf = b""
        while b"<rpc-reply" not in buf:
            data = await r.read(1 << 16)
            if not data:
                raise RuntimeError(f"port {port} closed the session")
            buf += data
        if b"rpc-error" in buf:
            raise RuntimeError(f"port {port}: {buf[:1000]!r}")
        counts[1] += 1  # established
        tail = b""
        while data := await r.read(1 << 16):
            chunk = tail + data
            counts[0] += chunk.count(b"<push-update") - tail.count(b"<push-update")
            tail = chunk[-16:]
    finally:
        conn.close()


async def subscriber_main(targets: list[tuple[int, str]]) -> None:
    """Subscribe to every target, say "ready <established>" once each subscription is
    established or failed, then print {"updates": n, "seconds": s} every second until
    SIGTERM."""
    counts = [0, 0]  # push-updates seen, subscriptions established
    tasks = []
    for port, stratum in targets:
        tasks.append(asyncio.create_task(subscribe(port, stratum, counts)))
        await asyncio.sleep(0)
    failed: list[asyncio.Task[None]] = []
    while counts[1] + len(failed) < len(targets):
        await asyncio.sleep(0.1)
        failed = [t for t in tasks if t.done() and t.exception() is not None]
    if failed:
        print(f"{len(failed)} subscription(s) failed, e.g. {failed[0].exception()!r}",
              file=sys.stderr, flush=True)  # fmt: skip
    print(f"ready {counts[1]}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    start, base = time.monotonic(), counts[0]
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1)
        elapsed = time.monotonic() - start
        print(json.dumps({"updates": counts[0] - base, "seconds": elapsed}), flush=True)
    for task in tasks:
        task.cancel()


# -------------------------------------------------------------------- one size


async def probe(
    ports: list[int], samples: int, load: Callable[[], None], limit_s: float
) -> list[float]:
    """Round trips (ms) of get-configs, one at a time, each to a random agent, once
    ``load`` started the subscriptions (sessions are opened before: an SSH handshake is
    not what is measured)."""
    rng = random.Random(1)
    chosen = rng.sample(ports, min(20, len(ports)))
    auth = {"username": USER, "password": PASSWORD, "client_keys": None}
    sessions = [await FastSession(p, auth).open() for p in chosen]
    get = "<get-config><source><running/></source></get-config>"
    out = []
    try:
        await asyncio.to_thread(load)
        await asyncio.sleep(3)  # a few periods: every agent is pushing
        end = time.monotonic() + limit_s
        for i in range(samples):
            if time.monotonic() > end and len(out) >= 20:
                break
            s = rng.choice(sessions)
            t0 = time.perf_counter()
            s.send(i, get)
            reply = await s.recv()
            out.append((time.perf_counter() - t0) * 1000)
            if b"<data" not in reply or b"rpc-error" in reply:
                raise RuntimeError(f"bad reply {reply[:300]!r}")
    finally:
        for s in sessions:
            await s.close()
    return out


def code_path(tree: Path, tmp: Path) -> str:
    """A PYTHONPATH entry importing the packages of checkout ``tree`` (as setup.py maps
    them) ahead of this venv's editable install."""
    out = tmp / f"code-{abs(hash(str(tree)))}"
    out.mkdir(exist_ok=True)
    for name, sub in (("qnms", "src/qnms"), ("qnms_agents", "agents"),
                      ("qnms_bindings", "bindings"), ("qnms_models", "yang")):  # fmt: skip
        if not (out / name).exists():
            (out / name).symlink_to(tree / sub)
    return str(out)


def run_size(
    n: int, samples: int, base_port: int, tmp: Path, *, tree: Path = ROOT, limit_s: float = 1e9
) -> dict[str, float]:
    data = mesh(n - 1, size=8)  # n - 1 QFS agents and the domain's CS agent
    network = tmp / f"mesh{n}.json"
    network.write_text(json.dumps(data), encoding="utf-8")
    state = tempfile.mkdtemp(prefix=f"state{n}-", dir=tmp)
    cmd = [sys.executable, "-c", "from qnms.app.cli import main; main()", "agents",
           "--network", str(network), "--base-port", str(base_port), "--state-dir", state,
           "--user", USER, "--password", PASSWORD]  # fmt: skip
    env = dict(os.environ)
    if tree != ROOT:
        env["PYTHONPATH"] = code_path(tree, tmp)
    t0 = time.perf_counter()
    agents = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)  # fmt: skip
    subs: list[subprocess.Popen[str]] = []  # the subscriber, once started
    established: list[int] = []
    try:
        assert agents.stderr is not None and agents.stdout is not None
        count = 0
        for line in agents.stderr:
            found = re.search(r"(\d+) agent\(s\) up in", line)
            if found:
                count = int(found.group(1))
                break
        start_s = time.perf_counter() - t0
        if count != n:
            raise RuntimeError(f"expected {n} agents, the process reports {count}")
        targets = []
        for line in agents.stdout:
            m = re.match(r"(\w+)\s+\S+\s+127\.0\.0\.1:(\d+)", line)
            if m:
                targets.append((int(m.group(2)), m.group(1)))
            if len(targets) == n:
                break
        for stream in (agents.stdout, agents.stderr):  # a full pipe would stall the agents
            threading.Thread(target=stream.read, daemon=True).start()
        rss_idle = rss_mb(agents.pid)

        def load() -> None:
            subs.append(subprocess.Popen(
                [sys.executable, __file__, "--subscriber", json.dumps(targets)],
                stdout=subprocess.PIPE, text=True,
            ))  # fmt: skip
            assert subs[0].stdout is not None
            ready = subs[0].stdout.readline().split()
            if not ready or ready[0] != "ready":
                raise RuntimeError("the subscriber failed")
            established.append(int(ready[1]))

        rtts = asyncio.run(probe([p for p, _ in targets], samples, load, limit_s))
        rss = rss_mb(agents.pid)
        sub = subs[0]
        sub.send_signal(signal.SIGTERM)
        assert sub.stdout is not None
        last = [json.loads(line) for line in sub.stdout if line.startswith("{")][-1]
    finally:
        for proc in (*subs, agents):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    rtts.sort()
    return {
        "code": 0.0 if tree == ROOT else 1.0,
        "agents": n,
        "start_s": start_s,
        "rss_idle_mb": rss_idle,
        "rss_mb": rss,
        "mb_per_agent": rss / n,
        "p50_ms": statistics.median(rtts),
        "p99_ms": rtts[min(len(rtts) - 1, int(0.99 * len(rtts)))],
        "updates_per_s": last["updates"] / last["seconds"],
        "subscriptions": established[0],
        "samples": len(rtts),
        "load": os.getloadavg()[0],
    }


def report(rows: list[dict[str, float]], compare: Path | None = None) -> None:
    print(f"\n{'code':>8}{'agents':>7}{'start s':>9}{'RSS MB':>9}{'MB/agent':>10}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'pushes/s':>10}{'subs':>6}{'samples':>9}{'load':>6}")  # fmt: skip
    for r in rows:
        code = "compare" if r["code"] else "this"
        print(f"{code:>8}{r['agents']:>7.0f}{r['start_s']:>9.1f}{r['rss_mb']:>9.1f}"
              f"{r['mb_per_agent']:>10.2f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
              f"{r['updates_per_s']:>10.1f}{r['subscriptions']:>6.0f}{r['samples']:>9.0f}"
              f"{r['load']:>6.1f}")  # fmt: skip
    if compare is not None:
        print(f"compare: {compare}")
    mine = [r for r in rows if not r["code"]]
    if len(mine) >= 2:
        a, b = mine[0], mine[-1]
        marginal = (b["rss_mb"] - a["rss_mb"]) / (b["agents"] - a["agents"])
        print(f"marginal memory per agent ({a['agents']:.0f} -> {b['agents']:.0f}): "
              f"{marginal:.2f} MB")  # fmt: skip
    for r in mine:
        other = next((o for o in rows if o["code"] and o["agents"] == r["agents"]), None)
        if other is None:
            continue
        print(f"{r['agents']:.0f} agents, compare / this: start "
              f"{other['start_s'] / r['start_s']:.2f}x, p50 {other['p50_ms'] / r['p50_ms']:.1f}x, "
              f"p99 {other['p99_ms'] / r['p99_ms']:.1f}x; pushes/s this / compare "
              f"{r['updates_per_s'] / max(other['updates_per_s'], 1e-9):.2f}x")  # fmt: skip
    big = mine[-1]
    p99 = "MET" if big["p99_ms"] < GOAL_P99_MS else "NOT MET"
    mem = "MET" if big["mb_per_agent"] < GOAL_MB else "NOT MET"
    print(
        f"goal at {big['agents']:.0f} agents: p99 < {GOAL_P99_MS:.0f} ms {p99} "
        f"({big['p99_ms']:.1f}); < {GOAL_MB:.0f} MB/agent {mem} ({big['mb_per_agent']:.2f})"
    )
    print(
        "pushes/s: push-updates the subscriber received per second (one 1 s "
        "subscription per agent: the goal is one per agent per second)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[120, 500])
    p.add_argument("--samples", type=int, default=300, help="get-configs per size")
    p.add_argument(
        "--probe-seconds",
        type=float,
        default=120.0,
        help="stop sampling a size after this long (at least 20 samples)",
    )
    p.add_argument("--compare", type=Path, help="another checkout, measured size by size")
    p.add_argument("--base-port", type=int, default=21000)
    p.add_argument("--subscriber", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.subscriber:
        asyncio.run(subscriber_main([tuple(t) for t in json.loads(args.subscriber)]))
        return
    trees = [ROOT] if args.compare is None else [args.compare.resolve(), ROOT]
    rows = []
    with tempfile.TemporaryDirectory(prefix="qnms-bench-scale-") as tmp:
        for i, n in enumerate(args.sizes):
            for j, tree in enumerate(trees):
                print(f"{n} agents ({tree}) ...", flush=True)
                port = args.base_port + (i * len(trees) + j) * 1000
                rows.append(run_size(n, args.samples, port, Path(tmp), tree=tree,
                                     limit_s=args.probe_seconds))  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    report(rows, args.compare)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
