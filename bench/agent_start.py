"""One `qnms agent` process: seconds from spawn to a NETCONF hello, and its RSS.

Issue 13's goal for one agent that does not follow a twin: listening < 0.7 s after
start, RSS < 80 MB. Each run spawns the real command a user types (``python -m
qnms.app.cli agent --stratum qfs ...``, no ``--qndt``) with a fresh state directory,
and measures

- listen: spawn until the agent prints its address (it listens by then);
- hello: spawn until a NETCONF client (raw asyncssh, ``netconf_fast.FastSession``) has
  the server's hello: the port accepts, SSH is up and the NETCONF layer answers;
- RSS of the agent process (``/proc/PID/status`` VmRSS) once the hello is answered,
  and the CPU seconds it used to get there (``/proc/PID/stat``: the figure the other
  processes on a busy machine distort least; on an idle machine wall time ~ CPU time).

Runs alternate between the code variants given (``--base DIR`` adds a second checkout,
e.g. main, made with ``git worktree add --detach DIR main``), so both see the same load
and the figure to quote is the ratio. The schema cache (``XDG_CACHE_HOME``) is a fresh
temporary directory per variant: the first run of a variant is cold (reported apart),
the rest are warm. Bytecode is written and used (``PYTHONDONTWRITEBYTECODE`` dropped
unless ``--keep-env``) as for an installed agent. ``--profile FILE`` writes a cProfile
of one warm start of this checkout instead (to be read with ``python -m pstats``).

    nice -n 10 .venv/bin/python bench/agent_start.py [--runs 7] [--base /tmp/x-base]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test support package: support.processes

from netconf_fast import FastSession  # noqa: E402
from support.processes import stop_process  # noqa: E402

from qnms.network.inventory import DEFAULT_NETWORK  # noqa: E402

ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")
AUTH = {"username": "admin", "password": "admin"}  # `qnms agent`'s loopback default
KEEP_ENV = "--keep-env" in sys.argv


@dataclass
class Variant:
    """One checkout to start agents from: its own import path and schema cache."""

    name: str
    pythonpath: str | None  # None: this checkout, as installed in the venv
    cache: Path
    listen: list[float] = field(default_factory=list)
    hello: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    cold: tuple[float, float, float, float] | None = None


def import_root(checkout: Path, into: Path) -> str:
    """A directory of links naming ``checkout``'s packages as installed (setup.py's
    package_dir), to put first on PYTHONPATH so they win over the editable install."""
    links = {"qnms": "src/qnms", "qnms_agents": "agents", "qnms_bindings": "bindings",
             "qnms_models": "yang"}  # fmt: skip
    into.mkdir(parents=True, exist_ok=True)
    for name, rel in links.items():
        (into / name).symlink_to(checkout / rel)
    return str(into)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far: what a start costs the machine,
    much less distorted by the other processes than wall time is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, then cutime, cstime: the children it waited for (asyncssh's library
    # lookup runs ldconfig and gcc), as the floor's RUSAGE_CHILDREN counts them
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def command(state: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, *extra, "-m", "qnms.app.cli", "agent", "--stratum", "qfs"]
    cmd += ["--node", "madqci-r1", "--port", "0", "--state-dir", str(state)]
    return [*cmd, "--network", str(DEFAULT_NETWORK)]


def environment(variant: Variant) -> dict[str, str]:
    env = dict(os.environ, XDG_CACHE_HOME=str(variant.cache))
    if not KEEP_ENV:
        # An installed agent has its bytecode compiled (pip does it); with this set, as
        # in some shells here, every start compiles ~90 qnms modules again (~0.4 s).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    if variant.pythonpath:
        env["PYTHONPATH"] = variant.pythonpath
    return env


def start_once(variant: Variant, state: Path) -> tuple[float, float, float, float]:
    """(listen s, hello s, RSS MB, CPU s) of one start of ``variant`` in ``state``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        command(state), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=environment(variant), cwd=tempfile.gettempdir(),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        port = None
        for line in proc.stdout:
            if m := ADDRESS.search(line):
                port = int(m.group(1))
                break
        listen = time.perf_counter() - t0
        if port is None:
            raise RuntimeError(f"{variant.name}: the agent exited ({proc.wait()})")
        asyncio.run(_hello(port))
        hello = time.perf_counter() - t0
        return listen, hello, rss_mb(proc.pid), cpu_seconds(proc.pid)
    finally:
        stop_process(proc)


FLOOR = "import asyncio, asyncssh, lxml.etree"  # what any agent on this stack imports


def floor_once() -> tuple[float, float]:
    """(wall s, CPU s) of a bare interpreter importing only the stack's floor: the part
    of a start no change to qnms can remove."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if KEEP_ENV or k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", FLOOR], check=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


async def _hello(port: int) -> None:
    session = await FastSession(port, AUTH).open()  # returns once the hello is read
    await session.close()


def profile(out: Path, runs_dir: Path) -> None:
    """cProfile one warm start of this checkout (the cache warmed by a first start)."""
    variant = Variant("this", None, runs_dir / "cache")
    start_once(variant, runs_dir / "warm-up")
    cmd = command(runs_dir / "profiled", "-m", "cProfile", "-o", str(out))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=environment(variant))
    assert proc.stdout is not None
    for line in proc.stdout:
        if ADDRESS.search(line):
            break
    proc.send_signal(2)  # SIGINT: the agent stops cleanly and cProfile writes its file
    proc.wait(30)
    print(f"profile of one warm start written to {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="warm starts per variant")
    ap.add_argument("--base", type=Path, help="a second checkout to compare (e.g. main)")
    ap.add_argument("--profile", type=Path, help="write a cProfile of one warm start")
    ap.add_argument(
        "--keep-env",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE (every start compiles the sources)",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="agent-start-") as tmp:
        work = Path(tmp)
        if args.profile:
            profile(args.profile, work)
            return
        variants = [Variant("this", None, work / "cache-this")]
        if args.base:
            path = import_root(args.base.resolve(), work / "base-path")
            variants.insert(0, Variant("base", path, work / "cache-base"))
        floor: list[tuple[float, float]] = []
        for i in range(args.runs + 1):
            if i:
                floor.append(floor_once())
            for v in variants:
                figures = start_once(v, work / f"{v.name}-{i}")
                if i == 0:
                    v.cold = figures
                    continue
                v.listen.append(figures[0])
                v.hello.append(figures[1])
                v.rss.append(figures[2])
                v.cpu.append(figures[3])
    print(f"load: {os.getloadavg()[0]:.1f} (1-min average at the end); {args.runs} warm runs")
    print(f"{'variant':8} {'cold hello':>10} {'listen med':>10} {'hello med':>9} "
          f"{'hello min':>9} {'CPU s med':>9} {'RSS MB':>7}")  # fmt: skip
    for v in variants:
        assert v.cold is not None
        print(f"{v.name:8} {v.cold[1]:10.3f} {statistics.median(v.listen):10.3f} "
              f"{statistics.median(v.hello):9.3f} {min(v.hello):9.3f} "
              f"{statistics.median(v.cpu):9.3f} {statistics.median(v.rss):7.1f}")  # fmt: skip
    print(f"{'floor':8} {'':10} {'':10} {statistics.median(f[0] for f in floor):9.3f} "
          f"{min(f[0] for f in floor):9.3f} {statistics.median(f[1] for f in floor):9.3f}"
          f"   (python -c '{FLOOR}')")  # fmt: skip
    if len(variants) == 2:
        base, this = variants
        ratio = statistics.median(base.hello) / statistics.median(this.hello)
        print(f"hello: this checkout starts {ratio:.2f}x as fast as base (median, same run)")
        cpu = statistics.median(base.cpu) / statistics.median(this.cpu)
        print(f"CPU to the hello: base uses {cpu:.2f}x what this checkout does")
    print("goal (issue 13): hello < 0.7 s, RSS < 80 MB")


if __name__ == "__main__":
    main()
