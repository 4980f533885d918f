"""Big edits and gets on one QFS agent (issue 13): time, and memory given back.

One agent (``madqci-r1`` of the default network, in a child process as in
``netconf_agent.py``) is driven by the pipelined raw client of ``netconf_fast.py``
(one request at a time here: ncclient's own parsing of a 20,000-entry reply would be
timed otherwise, and it is the client's cost, not the server's):

1. RSS of the agent after a warm-up (a small edit, a get);
2. one edit-config creating ``--entries`` quantum links (goal < 1 s for 20,000);
3. the full ``<get>`` (config and state, no filter; goal < 0.5 s), median of ``--repeat``,
   and apart from it the first ``<get>`` after the edit (nothing of it kept yet);
4. a get-config of the links (subtree filter), median of ``--repeat``;
5. one edit-config deleting every one of them (``nc:operation="delete"`` per entry);
6. RSS after the delete (goal: within 10% of step 1) and the peak (VmHWM).

Besides each wall time, the agent's CPU seconds for the step (/proc/PID/stat) are
printed: on a shared, loaded machine they vary much less than the wall times.

The client's share of a full ``<get>`` is printed apart: the round trip is split at the
first byte of the reply (before it: the server building its reply; after it: the
transfer through SSH and this client's framing), and the time lxml takes to parse the
reply (what any client that reads it pays at least) is measured at the client.
``--ncclient`` also times one full ``<get>`` through ncclient (its framing and parsing
of the whole reply: the usual Python client).

``--base DIR`` runs the same steps first on the agent of another checkout (e.g. a
worktree of main: ``git worktree add --detach /tmp/x-base main``), alternating with
this tree's agent ``--rounds`` times, so the before/after figures come from the same
run on the same (shared, loaded) machine; the report gives each figure's ratio. Both
agents find their schema in the schema cache, as a deployed agent does (``shim_of``).

    .venv/bin/python bench/netconf_bulk.py [--entries 20000] [--repeat 3]
    .venv/bin/python bench/netconf_bulk.py --base /tmp/bulk-base [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the test support package: support.processes

from netconf_agent import ELEMENT, LINKS_FILTER, QFS, bulk_config  # noqa: E402
from netconf_fast import FastSession  # noqa: E402
from support.processes import PASSWORD, USER, AgentProcess  # noqa: E402

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
GOALS = {"edit_s": 1.0, "get_s": 0.5}
PARSER = etree.XMLParser(huge_tree=True)  # an 8 MB reply has text nodes over libxml2's cap


def delete_config(entries: int) -> str:
    links = "".join(
        f'<quantum-link nc:operation="delete"><name>bench-{i:05d}</name></quantum-link>'
        for i in range(entries)
    )
    return (
        f'<config xmlns="{NC}" xmlns:nc="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links>'
        f"{links}</quantum-links></quantum-fabric></config>"
    )


def edit(config: str) -> str:
    return f"<edit-config><target><running/></target>{config}</edit-config>"


GET = "<get/>"
GET_LINKS = (
    "<get-config><source><running/></source>"
    f'<filter type="subtree">{LINKS_FILTER}</filter></get-config>'
)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for {pid}")


@dataclass
class Run:
    """One agent's figures (seconds, MB)."""

    label: str
    edit_s: float = 0.0
    get_s: float = 0.0
    get_config_s: float = 0.0
    delete_s: float = 0.0
    edit_cpu: float = 0.0
    get_cpu: float = 0.0
    delete_cpu: float = 0.0
    rss_before: float = 0.0
    rss_after: float = 0.0
    rss_peak: float = 0.0
    get_bytes: int = 0
    gets: list[float] = field(default_factory=list)
    get_first_s: float = 0.0
    get_first_cpu: float = 0.0
    get_server_s: float = 0.0
    get_transfer_s: float = 0.0
    parse_s: float = 0.0
    ncclient_get_s: float = 0.0


@dataclass
class Trip:
    """One round trip: its seconds, to the reply's first byte, and the reply."""

    elapsed: float
    to_first_byte: float
    reply: bytes


async def round_trip(session: FastSession, body: str, expect: bytes) -> Trip:
    start = time.perf_counter()
    session.send(1, body)
    reply = await session.recv()
    end = time.perf_counter()
    if b"<rpc-error" in reply or expect not in reply:  # <get> holds out-rpc-errors
        raise RuntimeError(f"unexpected reply: {reply[:500]!r}")
    return Trip(end - start, (session.first_at or end) - start, reply)


async def timed(session: FastSession, body: str, expect: bytes) -> tuple[float, int]:
    """(seconds for one round trip, reply bytes)."""
    trip = await round_trip(session, body, expect)
    return trip.elapsed, len(trip.reply)


def ncclient_get(port: int) -> float:
    """Seconds of one full ``<get>`` through ncclient, its parsing of the reply included."""
    from ncclient import manager  # only with --ncclient: the client under test

    with manager.connect(
        host="127.0.0.1", port=port, username=USER, password=PASSWORD, hostkey_verify=False,
        allow_agent=False, look_for_keys=False, timeout=120,
    ) as m:  # fmt: skip
        start = time.perf_counter()
        m.get()
        return time.perf_counter() - start


async def drive(
    port: int, pid: int, run: Run, entries: int, repeat: int, ncclient: bool = False
) -> None:
    auth = {"username": USER, "password": PASSWORD, "client_keys": None}
    s = await FastSession(port, auth).open()
    try:
        for on in ("false", "true"):  # warm-up: first-call costs are not what we measure
            link = f"<quantum-link><name>f-r1-r2</name><enabled>{on}</enabled></quantum-link>"
            cfg = f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links>{link}'
            await timed(s, edit(cfg + "</quantum-links></quantum-fabric></config>"), b"<ok")
            await timed(s, GET, b"<data")
        await asyncio.sleep(0.5)
        run.rss_before = status_kb(pid, "VmRSS") / 1024
        c0 = cpu_s(pid)
        run.edit_s, _ = await timed(s, edit(bulk_config(entries)), b"<ok")
        run.edit_cpu = cpu_s(pid) - c0
        c0 = cpu_s(pid)
        run.get_first_s = (await round_trip(s, GET, b"<data")).elapsed
        run.get_first_cpu = cpu_s(pid) - c0
        cpus, firsts, parses = [], [], []
        for _ in range(repeat):
            c0 = cpu_s(pid)
            trip = await round_trip(s, GET, b"<data")
            cpus.append(cpu_s(pid) - c0)
            run.gets.append(trip.elapsed)
            firsts.append(trip.to_first_byte)
            run.get_bytes = len(trip.reply)
            t0 = time.perf_counter()
            etree.fromstring(trip.reply, PARSER)
            parses.append(time.perf_counter() - t0)
        run.get_s = statistics.median(run.gets)
        run.get_cpu = statistics.median(cpus)
        run.get_server_s = statistics.median(firsts)
        run.get_transfer_s = run.get_s - run.get_server_s
        run.parse_s = statistics.median(parses)
        if ncclient:
            run.ncclient_get_s = await asyncio.to_thread(ncclient_get, port)
        run.get_config_s = statistics.median(
            [(await timed(s, GET_LINKS, b"<data"))[0] for _ in range(repeat)]
        )
        c0 = cpu_s(pid)
        run.delete_s, _ = await timed(s, edit(delete_config(entries)), b"<ok")
        run.delete_cpu = cpu_s(pid) - c0
        await timed(s, GET, b"<data")  # one more small get: whatever it caches
        await asyncio.sleep(1.5)  # past memory.TRIM_DELAY
        run.rss_after = status_kb(pid, "VmRSS") / 1024
        run.rss_peak = status_kb(pid, "VmHWM") / 1024
    finally:
        await s.close()


def shim_of(src: Path) -> Path:
    """A directory holding ``qnms`` and ``qnms_agents`` of checkout ``src`` (links), to
    put ahead of this tree's install. At one path per checkout: the schema cache's key
    holds the paths of the code that compiles the schema, so a new directory per agent
    (as before) made every one of them miss it, import pyang and compile the schema
    (+10 MB and 55,000 more objects at the start), unlike this tree's agent."""
    digest = hashlib.sha256(str(src).encode()).hexdigest()[:12]
    shim = Path(tempfile.gettempdir()) / f"qnms-bench-shim-{digest}"
    if not shim.exists():
        part = Path(tempfile.mkdtemp(prefix="qnms-bench-shim-"))
        (part / "qnms").symlink_to(src / "src" / "qnms")
        (part / "qnms_agents").symlink_to(src / "agents")
        try:
            part.rename(shim)  # whole or not at all
        except OSError:  # another run made it meanwhile
            for link in part.iterdir():
                link.unlink()
            part.rmdir()
    return shim


@contextmanager
def code_of(src: Path | None) -> Iterator[None]:
    """``PYTHONPATH`` for processes started meanwhile: ``src``'s code (None: ours)."""
    env_before = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = str(shim_of(src))
    try:
        yield
    finally:
        if env_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_before


def warm_schema_cache(src: Path | None) -> None:
    """Compile and cache the agent's schema before any agent is measured, as a deployed
    agent finds it (the first start after a change of the code compiles it)."""
    code = "from qnms_agents.base import stratum_schema; stratum_schema('qfs')"
    with code_of(src):
        subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def start_agent(tmp: str, src: Path | None) -> AgentProcess:
    """The agent, its state under ``tmp``; ``src`` another checkout's code (None: ours)."""
    with code_of(src):
        return AgentProcess(Path(tmp) / "agent", name=ELEMENT)


def measure(label: str, src: Path | None, entries: int, repeat: int, ncclient: bool) -> Run:
    """One agent, fresh state directory; ``src`` another checkout's code (None: ours)."""
    run = Run(label)
    with tempfile.TemporaryDirectory(prefix="qnms-bench-bulk-") as tmp:
        agent = start_agent(tmp, src)
        try:
            asyncio.run(drive(agent.port, agent.proc.pid, run, entries, repeat, ncclient))
        finally:
            agent.stop()
    return run


def report(runs: list[Run], entries: int) -> None:
    rows = [
        ("edit-config creating the entries, s", "edit_s", ".3f"),
        ("full <get>, s (median)", "get_s", ".3f"),
        ("  of it: server, to the reply's 1st byte", "get_server_s", ".3f"),
        ("  of it: transfer + client framing", "get_transfer_s", ".3f"),
        ("  client: lxml parse of the reply, s", "parse_s", ".3f"),
        ("  ncclient full <get> (--ncclient), s", "ncclient_get_s", ".3f"),
        ("first full <get> after the edit, s", "get_first_s", ".3f"),
        ("get-config of the links, s (median)", "get_config_s", ".3f"),
        ("edit-config deleting them, s", "delete_s", ".3f"),
        ("  agent CPU s: edit", "edit_cpu", ".3f"),
        ("  agent CPU s: full <get> (median)", "get_cpu", ".3f"),
        ("  agent CPU s: first full <get>", "get_first_cpu", ".3f"),
        ("  agent CPU s: delete", "delete_cpu", ".3f"),
        ("RSS before adding, MB", "rss_before", ".1f"),
        ("RSS after deleting, MB", "rss_after", ".1f"),
        ("RSS peak (VmHWM), MB", "rss_peak", ".1f"),
    ]
    labels = sorted({r.label for r in runs}, key=lambda x: x != "base")
    med = {
        lab: {
            k: statistics.median(getattr(r, k) for r in runs if r.label == lab) for _, k, _ in rows
        }
        for lab in labels
    }
    print(f"\n{entries:,} quantum links on {ELEMENT}; load: {os.getloadavg()[0]:.1f}")
    head = f"{'figure':<40}" + "".join(f"{lab:>12}" for lab in labels)
    print(head + (f"{'base/ours':>11}" if len(labels) == 2 else ""))
    print("-" * (len(head) + 11))
    for title, key, spec in rows:
        line = f"{title:<40}" + "".join(f"{med[lab][key]:>12{spec}}" for lab in labels)
        if len(labels) == 2 and med[labels[1]][key]:
            line += f"{med[labels[0]][key] / med[labels[1]][key]:>11.2f}"
        print(line)
    ours = med["ours"]
    growth = ours["rss_after"] / ours["rss_before"] - 1 if ours["rss_before"] else 0.0
    for lab in labels:  # the agent's CPU of each run: the spread under load
        for key in ("edit_cpu", "get_cpu", "delete_cpu"):
            each = [getattr(r, key) for r in runs if r.label == lab]
            print(f"{key} each run, {lab}: " + ", ".join(f"{v:.2f}" for v in each))
    for lab in labels:  # each run's own growth, then the median of them
        each = [r.rss_after / r.rss_before - 1 for r in runs if r.label == lab and r.rss_before]
        print(f"RSS growth after delete, {lab}: " + ", ".join(f"{g:+.1%}" for g in each)
              + f" (median {statistics.median(each):+.1%})")  # fmt: skip
    print(f"full <get> reply: {max(r.get_bytes for r in runs):,} bytes")
    for key, goal in GOALS.items():
        met = "MET" if ours[key] < goal else "NOT MET"
        print(f"goal {key} < {goal} s: {met} ({ours[key]:.3f} s)")
    print(f"goal RSS after delete within 10% of before: {'MET' if growth <= 0.10 else 'NOT MET'}"
          f" ({growth:+.1%})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=3, help="timed gets per run")
    p.add_argument("--base", type=Path, help="another checkout to compare side by side")
    p.add_argument("--rounds", type=int, default=1, help="alternations with --base")
    p.add_argument("--ncclient", action="store_true", help="also one full <get> by ncclient")
    args = p.parse_args()
    runs: list[Run] = []
    for src in [None] if args.base is None else [args.base.resolve(), None]:
        warm_schema_cache(src)
    for _ in range(args.rounds):
        variants: list[tuple[str, Path | None]] = [("ours", None)]
        if args.base is not None:
            variants.insert(0, ("base", args.base.resolve()))
        for label, src in variants:
            t0 = time.perf_counter()
            runs.append(measure(label, src, args.entries, args.repeat, args.ncclient))
            print(f"{label}: measured in {time.perf_counter() - t0:.1f} s", flush=True)
    report(runs, args.entries)


if __name__ == "__main__":
    main()
