"""Fair service under abuse (issue 9): a well-behaved session's get-config latency while
another session abuses the same agent.

A QFS agent (``madqci-r1`` of the default network) runs in a child process and gets
3,000 memory banks. A well-behaved ncclient session (TCP_NODELAY, ``TICK`` 5 ms, as in
``netconf_agent.py``) sends ``--n`` get-configs of one memory bank (keyed subtree
filter) and its p50/p99 latencies are measured

* with no abuser (the baseline),
* while a second session repeats get-config with the XPath ``//*[count(//*)>0]``,
* while a second session holds a periodic subscription (period 1 cs) with the XPath
  ``//*[count(//*[count(//*)>0])>0]`` on the operational datastore,
* while a second session repeats a 20,000-entry edit-config (adds 20,000 memory banks,
  then removes them).

For each it prints goal/p99 with the goal p99 < 50 ms (>= 1 when met), the abuser's own
outcome (how many requests it got answered, and how), and the baseline in the same
run. A request that is not answered within ``--timeout`` counts as that long.

    .venv/bin/python bench/fairness.py [--n 200] [--memories 3000] [--entries 20000]
    # the server before issue 9, for comparison (its phases would hang without --cap):
    PYTHONPATH=/path/to/old/src .venv/bin/python bench/fairness.py --cap 40 \
        --phases baseline,xpath,edit
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from netconf_agent import NC, QFS, connect  # noqa: E402  (also sets ncclient's TICK)

sys.path.insert(0, str(ROOT / "tests"))  # the test support package
from support.processes import PASSWORD, USER, AgentProcess  # noqa: E402

GOAL_MS = 50.0
HEAVY = "//*[count(//*)>0]"
HEAVIER = "//*[count(//*[count(//*)>0])>0]"
SN = "urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
YP = "urn:ietf:params:xml:ns:yang:ietf-yang-push"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"


CONTENT = "<size>4</size><coherence-time>1.0</coherence-time><raw-fidelity>0.9</raw-fidelity>"


def memories(prefix: str, count: int, remove: bool = False) -> str:
    """An edit-config ``<config>`` adding (or removing) ``count`` memory banks."""
    op = ' xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="remove"'
    body = "".join(
        f"<memory{op if remove else ''}><name>{prefix}{i:05d}</name>"
        + ("" if remove else CONTENT)
        + "</memory>"
        for i in range(count)
    )
    return (
        f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><memories>{body}'
        "</memories></quantum-fabric></config>"
    )


ONE_MEMORY = (
    f'<quantum-fabric xmlns="{QFS}"><memories><memory><name>bench-m01500</name></memory>'
    "</memories></quantum-fabric>"
)


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    abuser: dict[str, int] = field(default_factory=dict)

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def measure(m: Any, n: int, timeout: float, pool: ThreadPoolExecutor, cap: float) -> list[float]:
    """``n`` well-behaved get-configs (fewer if ``cap`` seconds pass first); a reply
    later than ``timeout`` counts as that."""
    out: list[float] = []
    end = time.perf_counter() + cap
    for _ in range(n):
        if out and time.perf_counter() > end:
            break
        start = time.perf_counter()
        fut = pool.submit(m.get_config, "running", filter=("subtree", ONE_MEMORY))
        try:
            fut.result(timeout)
            out.append((time.perf_counter() - start) * 1000)
        except FutureTimeout:
            out.append(timeout * 1000)
            fut.result()  # the session must be free again before the next request
    return out


class Abuser:
    """A second session repeating one abusive action in a thread until stopped."""

    def __init__(self, port: int, action: Callable[[Any, dict[str, int]], None]) -> None:
        self.m = connect(port, username=USER, password=PASSWORD)
        self.action = action
        self.counts: dict[str, int] = {}
        self.stop = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.started.set()
            try:
                self.action(self.m, self.counts)
            except RPCError as exc:
                key = f"rpc-error {exc.tag} {getattr(exc, 'app_tag', '') or ''}".strip()
                self.counts[key] = self.counts.get(key, 0) + 1
            except Exception as exc:  # a broken session ends this abuser
                self.counts[type(exc).__name__] = self.counts.get(type(exc).__name__, 0) + 1
                return

    def __enter__(self) -> Abuser:
        self.thread.start()
        self.started.wait(30)
        time.sleep(0.2)  # the abusive request is on the server
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(300)
        with contextlib.suppress(Exception):
            self.m.close_session()


def heavy_get(m: Any, counts: dict[str, int]) -> None:
    m.get_config("running", filter=("xpath", HEAVY))
    counts["answered"] = counts.get("answered", 0) + 1


def periodic_sub(m: Any, counts: dict[str, int]) -> None:
    if not counts.get("established"):
        body = (
            f'<establish-subscription xmlns="{SN}" xmlns:yp="{YP}" xmlns:ds="{DS}">'
            f"<yp:datastore>ds:operational</yp:datastore>"
            f"<yp:datastore-xpath-filter>{HEAVIER}</yp:datastore-xpath-filter>"
            "<yp:periodic><yp:period>1</yp:period></yp:periodic></establish-subscription>"
        )
        counts["established"] = 1
        m.dispatch(to_ele(body))
    note = m.take_notification(timeout=0.5)
    if note is not None:
        kind = "suspended" if "subscription-suspended" in note.notification_xml else "updates"
        counts[kind] = counts.get(kind, 0) + 1


def bulk_edit(entries: int) -> Callable[[Any, dict[str, int]], None]:
    add, remove = memories("bench-e", entries), memories("bench-e", entries, remove=True)

    def action(m: Any, counts: dict[str, int]) -> None:
        m.edit_config(target="running", config=add)
        m.edit_config(target="running", config=remove)
        counts["edits"] = counts.get("edits", 0) + 2

    return action


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="well-behaved get-configs per phase")
    p.add_argument("--memories", type=int, default=3000)
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--timeout", type=float, default=30.0, help="per well-behaved request, s")
    p.add_argument("--cap", type=float, default=60.0, help="most seconds measured per phase")
    p.add_argument("--phases", default="baseline,xpath,periodic,edit",
                   help="which phases, comma-separated")  # fmt: skip
    args = p.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        agent = AgentProcess(Path(tmp) / "state", offload=True)
        pool = ThreadPoolExecutor(1)
        try:
            good = connect(agent.port, username=USER, password=PASSWORD)
            good.edit_config(target="running", config=memories("bench-m", args.memories))
            for _ in range(10):  # warm-up
                good.get_config("running", filter=("subtree", ONE_MEMORY))
            print(f"agent ready with {args.memories} memories in {time.monotonic() - t0:.0f} s")
            phases: list[tuple[str, str, Callable[[Any, dict[str, int]], None] | None]] = [
                ("baseline", "baseline (no abuser)", None),
                ("xpath", f"get-config XPath {HEAVY}", heavy_get),
                ("periodic", "periodic 1 cs subscription, XPath n^3", periodic_sub),
                ("edit", f"edit-config {args.entries} entries", bulk_edit(args.entries)),
            ]
            wanted = set(args.phases.split(","))
            results = []
            for key, name, action in phases:
                if key not in wanted:
                    continue
                r = Result(name)
                if action is None:
                    r.latencies_ms = measure(good, args.n, args.timeout, pool, args.cap)
                else:
                    with Abuser(agent.port, action) as ab:
                        r.latencies_ms = measure(good, args.n, args.timeout, pool, args.cap)
                    r.abuser = ab.counts
                results.append(r)
                print(f"  {name}: p99 {r.pct(0.99):.1f} ms ({time.monotonic() - t0:.0f} s)",
                      flush=True)  # fmt: skip
        finally:
            pool.shutdown(wait=False)
            agent.stop()
    base = results[0]
    print(
        f"\nwell-behaved get-config, up to {args.n} requests per phase, goal p99 < {GOAL_MS:.0f} ms"
    )
    print(f"{'abuser':44} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'goal/p99':>9}  "
          f"{'base p99':>8}  abuser's outcome")  # fmt: skip
    for r in results:
        p50, p99 = statistics.median(r.latencies_ms), r.pct(0.99)
        print(f"{r.name:44} {len(r.latencies_ms):4} {p50:8.1f} {p99:8.1f} "
              f"{GOAL_MS / p99:9.2f}  {base.pct(0.99):8.1f}  {r.abuser or ''}")  # fmt: skip
    print(f"total {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
